"""Cutting signs out of a landmark stream by hand presence and motion, with a fixed window as fallback.

A sign starts when a hand appears (or starts moving again after a pause) and ends when the hands
leave the picture for ``gap_frames`` frames or hold still for ``still_frames`` frames. A sign that
never ends that way is cut every ``max_frames`` frames (the fixed window), so a person who keeps
signing without pause still gets glosses. Works frame by frame for the webcam (:class:`Segmenter`)
and on whole arrays for uploaded videos (:func:`segment_sequence`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from pose2gloss.preprocessing.landmarks import LEFT_HAND, RIGHT_HAND


@dataclass(frozen=True)
class SegmenterConfig:
    """Thresholds in frames and in image-normalised units (1.0 = the frame's width/height)."""

    gap_frames: int = 8  # frames without hands that end a sign
    still_frames: int = 12  # frames of still hands that end a sign
    still_motion: float = 0.004  # mean hand-point movement per frame below which hands count as still
    min_frames: int = 8  # shorter hand-present stretches are noise, not signs
    max_frames: int = 90  # the fixed window: a longer sign is cut here
    pre_roll: int = 2  # frames before the first hand frame kept with the sign

    def __post_init__(self) -> None:
        for name in ("gap_frames", "still_frames", "min_frames", "max_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"SegmenterConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.min_frames > self.max_frames:
            raise ValueError(f"min_frames ({self.min_frames}) must not exceed max_frames ({self.max_frames})")
        if self.pre_roll < 0 or self.still_motion < 0:
            raise ValueError("pre_roll and still_motion must be >= 0")


DEFAULT_CONFIG = SegmenterConfig()


@dataclass(frozen=True)
class Segment:
    """One sign: its landmarks and where it lies in the stream (frame numbers, end exclusive)."""

    start: int
    end: int
    landmarks: np.ndarray
    reason: str  # why it ended: "hands left", "hands still", "window" or "stream end"


def hands_present(frame: np.ndarray) -> bool:
    """True when either hand has a detected landmark in this ``(543, 3)`` frame."""
    return bool(np.isfinite(frame[LEFT_HAND, 0]).any() or np.isfinite(frame[RIGHT_HAND, 0]).any())


def hand_motion(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean movement (x, y) of the hand points seen in both frames; 0.0 when no hand is in both."""
    moves = []
    for hand in (LEFT_HAND, RIGHT_HAND):
        a, b = previous[hand, :2], current[hand, :2]
        both = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
        if both.any():
            moves.append(float(np.linalg.norm(b[both] - a[both], axis=1).mean()))
    return max(moves, default=0.0)


class Segmenter:
    """Frame-by-frame sign cutter: :meth:`push` each frame, get back the signs that just ended."""

    def __init__(self, config: SegmenterConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self.frames_seen = 0
        self.frames_since_hands = 0
        self._recent: deque[np.ndarray] = deque(maxlen=config.pre_roll)
        self._current: list[np.ndarray] = []
        self._start = 0
        self._absent = 0
        self._still = 0
        self._hand_frames = 0
        self._waiting_for_motion = False  # after a sign ended by stillness, until the hands move again
        self._previous: np.ndarray | None = None

    @property
    def in_sign(self) -> bool:
        return bool(self._current)

    def push(self, frame: np.ndarray) -> list[Segment]:
        """Add one ``(543, 3)`` frame; return the signs that ended with it (usually none)."""
        config = self.config
        index = self.frames_seen
        self.frames_seen += 1
        present = hands_present(frame)
        moving = present and self._previous is not None and hand_motion(self._previous, frame) >= config.still_motion
        self._previous = frame
        self.frames_since_hands = 0 if present else self.frames_since_hands + 1
        if not present:
            self._waiting_for_motion = False
        ended: list[Segment] = []
        if not self._current:
            if present and (not self._waiting_for_motion or moving):
                self._waiting_for_motion = False
                self._start = index - len(self._recent)
                self._current = [*self._recent, frame]
                self._absent = self._still = 0
                self._hand_frames = 1
            else:
                self._recent.append(frame)
            return ended
        self._current.append(frame)
        self._hand_frames += present
        self._absent = 0 if present else self._absent + 1
        self._still = self._still + 1 if present and not moving else 0
        if self._absent >= config.gap_frames:
            ended += self._close("hands left", trim=self._absent)
        elif self._still >= config.still_frames and self._hand_frames - self._still >= config.min_frames:
            ended += self._close("hands still", trim=self._still)
            self._waiting_for_motion = True
        elif len(self._current) >= config.max_frames:
            ended += self._close("window", trim=0)
        return ended

    def flush(self) -> list[Segment]:
        """End the stream: the sign in progress, if long enough, is returned."""
        if not self._current:
            return []
        return self._close("stream end", trim=self._absent)

    def _close(self, reason: str, trim: int) -> list[Segment]:
        frames = self._current[: len(self._current) - trim] if trim else self._current
        hand_frames = self._hand_frames - (self._still if reason == "hands still" else 0)
        self._current = []
        self._recent.clear()
        self._hand_frames = self._absent = self._still = 0
        if hand_frames < self.config.min_frames:
            return []
        return [Segment(self._start, self._start + len(frames), np.stack(frames), reason)]


def segment_sequence(landmarks: np.ndarray, config: SegmenterConfig = DEFAULT_CONFIG) -> list[Segment]:
    """All signs of a whole ``(frames, 543, 3)`` recording, cut exactly as the live stream would be."""
    segmenter = Segmenter(config)
    segments = [segment for frame in landmarks for segment in segmenter.push(frame)]
    return segments + segmenter.flush()
