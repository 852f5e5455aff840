"""The running gloss sentence behind the page: segments in, glosses with scores and English out.

Plain Python, shared by the three inputs (webcam, uploaded video, a sequence from the data folder),
so AppTest and unit tests exercise the same code the page runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pose2gloss.capture import SegmenterConfig, extract_landmarks, read_video, segment_sequence
from pose2gloss.translate import FallbackTranslator, Translation
from ui.client import GlossScore, Prediction, PredictionClient


@dataclass(frozen=True)
class GlossEntry:
    gloss: str
    score: float
    top: list[GlossScore]
    frames: int
    source: str  # "webcam", "video <name>" or "sequence <path>"


@dataclass
class SignSession:
    entries: list[GlossEntry] = field(default_factory=list)
    translation: Translation | None = None

    @property
    def glosses(self) -> list[str]:
        return [entry.gloss for entry in self.entries]

    def add(self, prediction: Prediction, source: str) -> GlossEntry:
        entry = GlossEntry(prediction.top.gloss, prediction.top.score, prediction.glosses, prediction.frames, source)
        self.entries.append(entry)
        return entry

    def undo(self) -> None:
        if self.entries:
            self.entries.pop()

    def clear(self) -> None:
        self.entries.clear()
        self.translation = None

    def retranslate(self, translator: FallbackTranslator) -> Translation:
        self.translation = translator.translate(self.glosses)
        return self.translation


@dataclass(frozen=True)
class VideoResult:
    frames: int
    segments: int
    predictions: list[Prediction]
    extract_s: float


def predict_sequences(
    client: PredictionClient, sequences: Iterable[np.ndarray], session: SignSession, source: str, top_k: int
) -> list[Prediction]:
    """Send each sequence to ``/predict`` and append its best gloss to the session."""
    predictions = []
    for sequence in sequences:
        prediction = client.predict(sequence, top_k=top_k)
        session.add(prediction, source)
        predictions.append(prediction)
    return predictions


def translate_video(
    path: Path,
    client: PredictionClient,
    session: SignSession,
    top_k: int = 5,
    config: SegmenterConfig | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> VideoResult:
    """Video file -> landmarks -> signs -> glosses: the same path as the webcam, on a whole recording."""
    start = time.perf_counter()

    def frames() -> Iterable[np.ndarray]:
        for i, frame in enumerate(read_video(path)):
            if on_frame:
                on_frame(i)
            yield frame

    landmarks = extract_landmarks(frames())
    extract_s = time.perf_counter() - start
    segments = segment_sequence(landmarks, config) if config else segment_sequence(landmarks)
    predictions = predict_sequences(client, (s.landmarks for s in segments), session, f"video {path.name}", top_k=top_k)
    return VideoResult(len(landmarks), len(segments), predictions, extract_s)
