"""MediaPipe Holistic landmarks in the GISLR layout: video frames in, ``(frames, 543, 3)`` float32 out.

The UI, the dataset builder and the benchmarks share this one function, so a webcam frame, an uploaded
video and a training sequence all reach the model in the layout it was trained on (face 468, left hand 21,
pose 33, right hand 21; NaN where nothing is detected).

MediaPipe 0.10.21 ships the Holistic models in its wheel only for ``model_complexity=1``: other
complexities download a model at run time, which an offline machine cannot do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pose2gloss.preprocessing.landmarks import N_COORDS, N_LANDMARKS, TYPE_OFFSETS, TYPE_SIZES

MODEL_COMPLEXITY = 1
# Holistic result attribute of each landmark type, in GISLR order.
_RESULT_FIELDS = {
    "face": "face_landmarks",
    "left_hand": "left_hand_landmarks",
    "pose": "pose_landmarks",
    "right_hand": "right_hand_landmarks",
}


class VideoError(ValueError):
    """A video that OpenCV cannot open or decode; the message names the file."""


class LandmarkExtractor:
    """One MediaPipe Holistic graph, fed frame by frame (not thread-safe: one per stream).

    ``static_images=False`` tracks landmarks from frame to frame (video, webcam); ``True`` treats each
    frame on its own (unrelated images).
    """

    def __init__(self, static_images: bool = False, min_detection_confidence: float = 0.5) -> None:
        from mediapipe.python.solutions import holistic  # heavy import, only when extracting

        self._holistic = holistic.Holistic(
            static_image_mode=static_images,
            model_complexity=MODEL_COMPLEXITY,
            min_detection_confidence=min_detection_confidence,
        )

    def __enter__(self) -> LandmarkExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._holistic.close()

    def frame(self, rgb: np.ndarray) -> np.ndarray:
        """Landmarks of one RGB ``uint8`` ``(height, width, 3)`` frame as ``(543, 3)`` float32."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 (height, width, 3) frame, got {rgb.dtype} {rgb.shape}")
        return results_to_array(self._holistic.process(np.ascontiguousarray(rgb)))


def results_to_array(results: Any) -> np.ndarray:
    """Holistic results -> ``(543, 3)`` float32 in GISLR order, NaN for each part not detected."""
    out = np.full((N_LANDMARKS, N_COORDS), np.nan, dtype=np.float32)
    for landmark_type, field in _RESULT_FIELDS.items():
        found = getattr(results, field)
        if found is None:
            continue
        points = [(p.x, p.y, p.z) for p in found.landmark[: TYPE_SIZES[landmark_type]]]
        start = TYPE_OFFSETS[landmark_type]
        out[start : start + len(points)] = points
    return out


def extract_landmarks(frames: Iterable[np.ndarray], static_images: bool = False) -> np.ndarray:
    """Landmarks of every RGB frame: ``(frames, 543, 3)`` float32, NaN where nothing was detected."""
    with LandmarkExtractor(static_images=static_images) as extractor:
        rows = [extractor.frame(frame) for frame in frames]
    if not rows:
        return np.zeros((0, N_LANDMARKS, N_COORDS), dtype=np.float32)
    return np.stack(rows)


def read_video(path: str | Path, max_side: int | None = 640) -> Iterator[np.ndarray]:
    """Yield the RGB frames of a video file, shrunk so that the longer side is at most ``max_side``.

    Raises:
        VideoError: the file cannot be opened or holds no decodable frame.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError(f"{path}: OpenCV cannot open this file as a video")
        count = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            count += 1
            yield cv2.cvtColor(_shrink(bgr, max_side), cv2.COLOR_BGR2RGB)
        if count == 0:
            raise VideoError(f"{path}: no decodable video frame")
    finally:
        capture.release()


def video_frame_count(path: str | Path) -> int:
    """Number of frames the container declares (0 when unknown); for progress bars, not for logic."""
    capture = cv2.VideoCapture(str(path))
    try:
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return int(count) if count and np.isfinite(count) and count > 0 else 0


def _shrink(bgr: np.ndarray, max_side: int | None) -> np.ndarray:
    longest = max(bgr.shape[:2])
    if max_side is None or longest <= max_side:
        return bgr
    scale = max_side / longest
    return cv2.resize(bgr, (round(bgr.shape[1] * scale), round(bgr.shape[0] * scale)), interpolation=cv2.INTER_AREA)
