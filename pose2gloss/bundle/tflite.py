"""Run an exported TFLite model with the LiteRT interpreter (no TensorFlow needed).

The server uses this; one interpreter per thread, since a LiteRT interpreter is
not safe to call from two threads at once.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from pose2gloss.preprocessing.landmarks import N_COORDS, N_LANDMARKS

SIGNATURE = "serving_default"
INPUT_NAME = "inputs"
OUTPUT_NAME = "outputs"


class TFLiteClassifier:
    """Scores raw ``(frames, 543, 3)`` landmark sequences with an exported model file."""

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: model file not found")
        self.model_bytes = self.path.read_bytes()
        self.num_threads = num_threads
        self._local = threading.local()
        runner = self._runner()  # fail fast on a broken file or missing signature
        self.num_classes = int(
            runner(**{INPUT_NAME: np.zeros((1, N_LANDMARKS, N_COORDS), np.float32)})[OUTPUT_NAME].shape[-1]
        )

    def _runner(self):
        runner = getattr(self._local, "runner", None)
        if runner is None:
            interpreter = Interpreter(model_content=self.model_bytes, num_threads=self.num_threads)
            signatures = interpreter.get_signature_list()
            if SIGNATURE not in signatures:
                raise ValueError(f"{self.path}: no '{SIGNATURE}' signature (found {list(signatures)})")
            runner = interpreter.get_signature_runner(SIGNATURE)
            self._local.runner = runner
        return runner

    def predict(self, sequence: np.ndarray) -> np.ndarray:
        """Class scores for one sequence ``(frames, 543, 3)``, NaN for missing landmarks."""
        sequence = np.ascontiguousarray(sequence, dtype=np.float32)
        if sequence.ndim != 3 or sequence.shape[1:] != (N_LANDMARKS, N_COORDS) or len(sequence) == 0:
            raise ValueError(f"expected (frames>=1, {N_LANDMARKS}, {N_COORDS}), got {sequence.shape}")
        return np.asarray(self._runner()(**{INPUT_NAME: sequence})[OUTPUT_NAME])
