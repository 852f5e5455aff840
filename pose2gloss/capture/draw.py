"""Landmarks drawn over a video frame, from the ``(543, 3)`` array itself (what the model sees)."""

from __future__ import annotations

import cv2
import numpy as np

from pose2gloss.preprocessing.landmarks import FACE, LEFT_HAND, POSE, RIGHT_HAND

# RGB colour and dot radius of each part.
_STYLE = (
    (FACE, (200, 200, 200), 1),
    (POSE, (80, 160, 255), 3),
    (LEFT_HAND, (255, 120, 60), 3),
    (RIGHT_HAND, (60, 220, 120), 3),
)


def draw_landmarks(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A copy of ``rgb`` with every detected landmark (image-normalised x, y) drawn as a dot."""
    out = rgb.copy()
    height, width = out.shape[:2]
    for part, colour, radius in _STYLE:
        points = landmarks[part, :2]
        points = points[np.isfinite(points).all(axis=1)]
        for x, y in (points * (width, height)).astype(np.int32):
            cv2.circle(out, (int(x), int(y)), radius, colour, -1, lineType=cv2.LINE_AA)
    return out
