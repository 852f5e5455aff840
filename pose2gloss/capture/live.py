"""Webcam frames -> landmarks drawn over the frame -> finished signs, handed to another thread.

A video callback (streamlit-webrtc calls it on its own thread) runs :meth:`LiveCapture.process`
on each frame; the page's thread collects the finished signs with :meth:`LiveCapture.take_segments`.
Nothing here knows about the UI framework, so tests drive it with plain arrays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from pose2gloss.capture.draw import draw_landmarks
from pose2gloss.capture.extract import LandmarkExtractor
from pose2gloss.capture.segment import DEFAULT_CONFIG, Segment, Segmenter, SegmenterConfig


class LiveCapture:
    """Per-stream state: one Holistic graph (created on the first frame, on the callback's thread) and a segmenter."""

    def __init__(
        self,
        config: SegmenterConfig = DEFAULT_CONFIG,
        extractor_factory: Callable[[], LandmarkExtractor] = LandmarkExtractor,
    ) -> None:
        self._extractor_factory = extractor_factory
        self._extractor: LandmarkExtractor | None = None
        self._segmenter = Segmenter(config)
        self._lock = threading.Lock()
        self._finished: list[tuple[Segment, float]] = []
        self.frames = 0
        self.last_frame_at: float | None = None
        self.last_landmarks: np.ndarray | None = None

    def process(self, rgb: np.ndarray) -> np.ndarray:
        """Extract, segment and return the frame with its landmarks drawn."""
        if self._extractor is None:
            self._extractor = self._extractor_factory()
        landmarks = self._extractor.frame(rgb)
        ended = self._segmenter.push(landmarks)
        now = time.monotonic()
        with self._lock:
            self.frames += 1
            self.last_frame_at = now
            self.last_landmarks = landmarks
            self._finished += [(segment, now) for segment in ended]
        return draw_landmarks(rgb, landmarks)

    def take_segments(self) -> list[tuple[Segment, float]]:
        """The signs finished since the last call, each with the monotonic time it was cut."""
        with self._lock:
            finished, self._finished = self._finished, []
        return finished

    @property
    def frames_since_hands(self) -> int:
        return self._segmenter.frames_since_hands

    @property
    def in_sign(self) -> bool:
        return self._segmenter.in_sign

    def close(self) -> None:
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None
