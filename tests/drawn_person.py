"""A drawn person that MediaPipe Holistic detects (face, pose and both hands), for tests without a camera.

No photo of a person ships with the environment, and a test must not download one. This flat
cartoon, drawn at half size on a 640x480 frame, is found by Holistic 0.10.21 (model_complexity=1)
with all four parts; with ``hands=False`` the arms hang down and the hands are outside the frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480
_BACKGROUND = (90, 110, 90)  # BGR
_SKIN = (140, 170, 225)
_SHIRT = (160, 60, 40)


def person_frame(hands: bool = True, dx: int = 0) -> np.ndarray:
    """One RGB ``uint8`` (480, 640, 3) frame; ``dx`` shifts the raised hands sideways (pixels at full size)."""
    big = np.full((HEIGHT, WIDTH, 3), _BACKGROUND, np.uint8)
    cv2.rectangle(big, (220, 260), (420, 480), _SHIRT, -1)
    cv2.ellipse(big, (320, 160), (62, 80), 0, 0, 360, _SKIN, -1)
    cv2.ellipse(big, (320, 95), (66, 35), 0, 180, 360, (30, 30, 60), -1)
    for eye_x in (295, 345):
        cv2.ellipse(big, (eye_x, 150), (12, 7), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(big, (eye_x, 150), 5, (40, 30, 20), -1)
        cv2.line(big, (eye_x - 14, 134), (eye_x + 14, 134), (30, 30, 60), 4)
    cv2.line(big, (320, 155), (315, 185), (100, 130, 190), 4)
    cv2.ellipse(big, (320, 205), (22, 9), 0, 0, 180, (60, 60, 170), -1)
    cv2.rectangle(big, (300, 235), (340, 265), _SKIN, -1)
    if hands:
        cv2.line(big, (230, 280), (170 + dx, 380), _SHIRT, 40)
        cv2.line(big, (170 + dx, 380), (250 + dx, 300), _SKIN, 30)
        cv2.line(big, (410, 280), (470, 380), _SHIRT, 40)
        cv2.line(big, (470, 380), (400, 310), _SKIN, 30)
        _hand(big, 250 + dx, 270)
        _hand(big, 400, 280)
    else:
        cv2.line(big, (230, 280), (200, 480), _SHIRT, 40)
        cv2.line(big, (410, 280), (440, 480), _SHIRT, 40)
    small = cv2.resize(big, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    frame = np.full((HEIGHT, WIDTH, 3), _BACKGROUND, np.uint8)
    x0 = (WIDTH - small.shape[1]) // 2
    frame[HEIGHT - small.shape[0] :, x0 : x0 + small.shape[1]] = small
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def empty_frame(value: int = 0) -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), value, np.uint8)


def signing_clip(sign_frames: int = 20, rest_frames: int = 12) -> list[np.ndarray]:
    """Hands down, hands raised for ``sign_frames`` frames, hands down again: one sign."""
    down, up = person_frame(hands=False), person_frame(hands=True)
    return [down] * rest_frames + [up] * sign_frames + [down] * rest_frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = 15.0) -> Path:
    """RGB frames -> an MP4 (mp4v) file that OpenCV reads back."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 15) -> Path:
    """RGB frames -> a YUV4MPEG2 file, the format of Chromium's fake camera."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            handle.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def _hand(image: np.ndarray, cx: int, cy: int) -> None:
    """An open palm with five fingers, fingers up."""
    s = 0.9
    cv2.ellipse(image, (cx, cy), (int(35 * s), int(42 * s)), 0, 0, 360, _SKIN, -1)
    for angle, length in ((-70, 45), (-25, 75), (-5, 82), (15, 75), (35, 60)):
        direction = np.deg2rad(angle - 90)
        if angle == -70:
            base = (int(cx - 30 * s), cy)
        else:
            base = (int(cx + 28 * s * np.sin(np.deg2rad(angle))), int(cy - 30 * s))
        tip = (int(base[0] + length * s * np.cos(direction)), int(base[1] + length * s * np.sin(direction)))
        cv2.line(image, base, tip, _SKIN, int(14 * s))
        cv2.circle(image, tip, int(7 * s), _SKIN, -1)
