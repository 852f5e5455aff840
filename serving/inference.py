"""One request's way through the model: decode the body, predict each sequence, record it, rank the glosses.

All of it runs on the app's inference threads (each with its own LiteRT interpreter), never on
the event loop: a 64-frame JSON body takes tens of milliseconds to decode.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from serving.decode import Decoded, InputError, Limits
from serving.model_source import ServedModel
from serving.monitoring import InputMonitor, Metrics
from serving.schemas import Prediction, SequenceResult

Decoder = Callable[[str, bytes, Limits], Decoded]  # (media type, body, limits) -> sequences


@dataclass(frozen=True)
class Predictor:
    """The served model with what a prediction is checked against and recorded in, for one request."""

    model: ServedModel
    limits: Limits
    default_top_k: int
    metrics: Metrics
    monitor: InputMonitor
    executor: Executor

    async def serve(
        self, media: str, body: bytes, decode: Decoder, query_k: int | None
    ) -> tuple[list[SequenceResult], float]:
        """Decode ``body`` and predict every sequence in it; the results, and the interpreter time in ms."""
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, self._decode_and_run, media, body, decode, query_k
        )

    def _decode_and_run(
        self, media: str, body: bytes, decode: Decoder, query_k: int | None
    ) -> tuple[list[SequenceResult], float]:
        start = time.perf_counter()
        decoded = decode(media, body, self.limits)
        self.metrics.decode.labels(media.split("/")[-1]).observe(time.perf_counter() - start)
        return self.run(decoded.sequences, self.pick_top_k(decoded.top_k, query_k))

    def run(self, sequences: list[np.ndarray], k: int) -> tuple[list[SequenceResult], float]:
        """Predict each sequence and add its profile to the drift window (tens of microseconds, on this thread)."""
        results, total = [], 0.0
        for sequence in sequences:
            start = time.perf_counter()
            scores = self.model.classifier.predict(sequence)
            elapsed = time.perf_counter() - start
            self.metrics.inference.observe(elapsed)
            total += elapsed
            predictions = self.top_predictions(scores, k)
            self.monitor.observe(sequence, predictions[0].score)
            results.append(SequenceResult(predictions=predictions, frames=len(sequence)))
        return results, total * 1000.0

    def top_predictions(self, scores: np.ndarray, k: int) -> list[Prediction]:
        """The ``k`` best glosses, best first, with the model's probabilities as they are (never re-normalised)."""
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if not np.isfinite(scores).all():
            raise RuntimeError(f"model {self.model.model_id} produced non-finite scores")
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        self.metrics.predictions.labels(self.model.signs[best[0]]).inc()
        return [Prediction(gloss=self.model.signs[i], score=float(scores[i])) for i in best]

    def pick_top_k(self, body_k: int | None, query_k: int | None) -> int:
        """The body's ``top_k``, else the query's, else the default; a bad query value is refused either way."""
        if query_k is not None:
            self._check_k(query_k)
        return self._check_k(body_k or query_k or self.default_top_k)

    def _check_k(self, k: int) -> int:
        if k > len(self.model.signs):
            raise InputError(f"top_k: {k} is more than the model's {len(self.model.signs)} glosses", reason="top_k")
        return k
