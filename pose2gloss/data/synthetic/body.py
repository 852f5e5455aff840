"""The synthetic body: hands, face and pose landmarks in body units, and their image coordinates.

A sign's movement is described once, in body units (below), for every signer; only the last
step, :func:`_to_image`, places it on one signer's body in the image.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import numpy as np

from pose2gloss.data.synthetic.signers import Participant
from pose2gloss.data.synthetic.vocabulary import HandMotion
from pose2gloss.preprocessing.landmarks import LIPS_FACE_INDICES, TYPE_SIZES

# Keeps the face template's random stream independent of the sample seed's streams.
_FACE_SALT: Final[int] = 468

# Body geometry in "body units": origin between the shoulders, shoulder width 1, y pointing down,
# the person's right side at negative x (a camera facing the signer).
_HEAD_CENTRE: Final[tuple[float, float]] = (0.0, -0.68)
_FACE_SEMI_AXES: Final[tuple[float, float]] = (0.22, 0.3)
_MOUTH_BELOW_HEAD: Final[float] = 0.17
_RIGHT_SHOULDER: Final[tuple[float, float]] = (-0.5, 0.0)
_LEFT_SHOULDER: Final[tuple[float, float]] = (0.5, 0.0)
_REST_WRIST_LEFT: Final[tuple[float, float]] = (0.5, 1.25)
_REST_WRIST_RIGHT: Final[tuple[float, float]] = (-0.5, 1.25)
_ARM_SEGMENT: Final[float] = 0.72

# Hand model (right hand, angles in degrees from "fingers up", positive towards +x):
# thumb, index, middle, ring, pinky.
_HAND_SCALE: Final[float] = 1.2
_FINGER_BASE_ANGLE: Final[np.ndarray] = np.radians([40.0, 10.0, 0.0, -9.0, -18.0])
_FINGER_BASE_LEN: Final[np.ndarray] = np.array([0.07, 0.19, 0.19, 0.18, 0.17])
_FINGER_DIR_ANGLE: Final[np.ndarray] = np.radians([55.0, 12.0, 0.0, -10.0, -22.0])
_FINGER_SEG_LEN: Final[np.ndarray] = np.array(
    [[0.08, 0.06, 0.05], [0.09, 0.055, 0.045], [0.10, 0.065, 0.05], [0.09, 0.06, 0.045], [0.07, 0.045, 0.04]]
)
_MAX_JOINT_BEND: Final[float] = np.radians(75.0)
_THUMB_SWEEP: Final[float] = np.radians(40.0)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    """Ease-in/ease-out interpolation weight, so handshapes change gradually."""
    t = np.clip(u, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _wrist_path(motion: HandMotion, u: np.ndarray, amp: float, shift: np.ndarray) -> np.ndarray:
    """Wrist positions (frames, 2) in body units."""
    angles = 2 * np.pi * motion.freqs[None, :, None] * u[:, None, None] + motion.phases[None]
    return motion.centre + shift + amp * np.sum(motion.amps[None] * np.sin(angles), axis=1)


def _curl(motion: HandMotion, u: np.ndarray, participant: Participant) -> np.ndarray:
    """Finger curl (frames, 5) morphing from the start to the end handshape, as lax as the signer."""
    w = _smoothstep(u)[:, None]
    curl = (1.0 - w) * motion.curl_start + w * motion.curl_end
    return (1.0 - participant.laxness) * curl + participant.laxness * 0.5


def _roll(motion: HandMotion, u: np.ndarray) -> np.ndarray:
    """In-plane hand rotation (frames,) morphing from start to end."""
    w = _smoothstep(u)
    return (1.0 - w) * motion.roll_start + w * motion.roll_end


def _hand_points(wrist: np.ndarray, curl: np.ndarray, roll: np.ndarray, *, mirror: bool) -> np.ndarray:
    """The 21 MediaPipe hand landmarks (frames, 21, 3) in body units.

    Curling a finger bends its joints towards the camera, which shortens its 2D projection.
    """
    n_frames = wrist.shape[0]
    bend = curl[:, :, None] * _MAX_JOINT_BEND * np.arange(1, 4)  # (T, 5, 3) cumulative joint bend
    direction = np.broadcast_to(_FINGER_DIR_ANGLE, (n_frames, 5)).copy()
    direction[:, 0] -= curl[:, 0] * _THUMB_SWEEP
    dir_xy = np.stack([np.sin(direction), -np.cos(direction)], axis=-1)  # (T, 5, 2), "up" is -y
    seg_xy = _FINGER_SEG_LEN[None, :, :, None] * np.cos(bend)[..., None] * dir_xy[:, :, None, :]
    seg_z = -_FINGER_SEG_LEN[None] * np.sin(bend)
    base = _FINGER_BASE_LEN[:, None] * np.stack([np.sin(_FINGER_BASE_ANGLE), -np.cos(_FINGER_BASE_ANGLE)], -1)
    joints_xy = base[None, :, None, :] + np.cumsum(seg_xy, axis=2)  # (T, 5, 3, 2)
    knuckles = np.concatenate([np.broadcast_to(base, (n_frames, 5, 2)), np.zeros((n_frames, 5, 1))], -1)
    joints = np.concatenate([joints_xy, np.cumsum(seg_z, axis=2)[..., None]], axis=-1)
    fingers = np.concatenate([knuckles[:, :, None, :], joints], axis=2).reshape(n_frames, 20, 3)
    points = _HAND_SCALE * np.concatenate([np.zeros((n_frames, 1, 3)), fingers], axis=1)
    if mirror:
        points[..., 0] *= -1.0
    cos, sin = np.cos(roll)[:, None], np.sin(roll)[:, None]
    x, y = points[..., 0].copy(), points[..., 1].copy()
    points[..., 0] = cos * x - sin * y + wrist[:, None, 0]
    points[..., 1] = sin * x + cos * y + wrist[:, None, 1]
    return points


@lru_cache(maxsize=1)
def _face_template() -> np.ndarray:
    """A fixed 468-point face (jittered oval, nose bump in z) with a mouth at the lip indices."""
    rng = np.random.default_rng(_FACE_SALT)
    n_face = TYPE_SIZES["face"]
    radius = np.sqrt(rng.uniform(0.0, 1.0, n_face))
    angle = rng.uniform(0.0, 2 * np.pi, n_face)
    a, b = _FACE_SEMI_AXES
    face = np.zeros((n_face, 3))
    face[:, 0] = _HEAD_CENTRE[0] + a * radius * np.cos(angle)
    face[:, 1] = _HEAD_CENTRE[1] + b * radius * np.sin(angle)
    face[:, 2] = -0.08 * (1.0 - radius**2)
    face[list(LIPS_FACE_INDICES)] = _lips()
    return face


def _lips() -> np.ndarray:
    """The 40 lip points in LIPS_FACE_INDICES order: outer ring (corner, upper, corner, lower), then inner."""
    upper = np.linspace(np.pi, 0.0, 11)[1:-1]
    lower = np.linspace(np.pi, 2 * np.pi, 11)[1:-1]
    outer_angles = np.concatenate([[np.pi], upper, [0.0], lower])
    inner_angles = np.concatenate([[np.pi], upper, lower, [0.0]])
    outer = np.stack([0.08 * np.cos(outer_angles), -0.03 * np.sin(outer_angles)], -1)
    inner = np.stack([0.06 * np.cos(inner_angles), -0.012 * np.sin(inner_angles)], -1)
    xy = np.concatenate([outer, inner]) + np.array([_HEAD_CENTRE[0], _HEAD_CENTRE[1] + _MOUTH_BELOW_HEAD])
    return np.concatenate([xy, np.full((40, 1), -0.07)], axis=1)


def _lower_lip_mask() -> np.ndarray:
    """Which of the 40 lip points belong to the lower lip (they move when the mouth opens)."""
    mask = np.zeros(40, dtype=bool)
    mask[11:20] = True
    mask[30:39] = True
    return mask


def _face_points(mouth_open: np.ndarray, participant: Participant) -> np.ndarray:
    """Face landmarks (frames, 468, 3) in body units, with the lower lip dropping as the mouth opens."""
    template = _face_template()
    centre = np.array([_HEAD_CENTRE[0], _HEAD_CENTRE[1] * participant.neck, 0.0])
    scaled = centre + participant.face_size * (template - np.array([*_HEAD_CENTRE, 0.0]))
    face = np.repeat(scaled[None], mouth_open.shape[0], axis=0)
    lower = np.asarray(LIPS_FACE_INDICES)[_lower_lip_mask()]
    face[:, lower, 1] += 0.06 * participant.face_size * mouth_open[:, None]
    return face


def _head_offset(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """A small slow head sway (frames, 3) so the face is not perfectly still."""
    t = np.linspace(0.0, 1.0, n_frames)[:, None]
    sway = rng.uniform(-0.03, 0.03, size=2) * np.sin(2 * np.pi * t * rng.uniform(0.3, 1.0) + rng.uniform(0, 6.3))
    return np.concatenate([sway, np.zeros((n_frames, 1))], axis=1)


def _elbow(shoulder: np.ndarray, wrist: np.ndarray, outward: float) -> np.ndarray:
    """Elbow (frames, 2) of a two-segment arm: the more the arm is folded, the further it hangs out and down.

    In 3D the elbow lies on a circle around the shoulder-wrist line; its image projection can be
    anywhere inside that circle, and a relaxed arm lets it drop down and slightly outwards.
    """
    length = np.linalg.norm(wrist - shoulder, axis=1, keepdims=True)
    drop = np.sqrt(np.maximum(_ARM_SEGMENT**2 - (length / 2) ** 2, 0.0))
    direction = np.array([0.4 * outward, 1.0]) / np.hypot(0.4, 1.0)
    return (shoulder + wrist) / 2 + drop * direction


def _pose_points(right: np.ndarray, left: np.ndarray, head: np.ndarray, participant: Participant) -> np.ndarray:
    """The 33 pose landmarks (frames, 33, 3) in body units; arms follow the hands, legs stay put."""
    n_frames = right.shape[0]
    y = _HEAD_CENTRE[1] * participant.neck
    mouth = y + _MOUTH_BELOW_HEAD * participant.face_size
    head_xy = {
        0: (0.0, y + 0.05), 1: (0.06, y - 0.08), 2: (0.1, y - 0.08), 3: (0.14, y - 0.08), 4: (-0.06, y - 0.08),
        5: (-0.1, y - 0.08), 6: (-0.14, y - 0.08), 7: (0.27, y - 0.02), 8: (-0.27, y - 0.02),
        9: (0.07, mouth), 10: (-0.07, mouth),
    }  # fmt: skip
    still_xy = {
        11: _LEFT_SHOULDER, 12: _RIGHT_SHOULDER, 23: (0.35, 1.5), 24: (-0.35, 1.5), 25: (0.35, 2.4),
        26: (-0.35, 2.4), 27: (0.35, 3.2), 28: (-0.35, 3.2), 29: (0.38, 3.3), 30: (-0.38, 3.3),
        31: (0.3, 3.4), 32: (-0.3, 3.4),
    }  # fmt: skip
    pose = np.zeros((n_frames, TYPE_SIZES["pose"], 3))
    for index, xy in head_xy.items():
        pose[:, index, :2] = xy
        pose[:, index] += head
    for index, xy in still_xy.items():
        pose[:, index, :2] = xy
    pose[:, 13, :2] = _elbow(np.asarray(_LEFT_SHOULDER), left[:, 0, :2], outward=1.0)
    pose[:, 14, :2] = _elbow(np.asarray(_RIGHT_SHOULDER), right[:, 0, :2], outward=-1.0)
    # Wrist, pinky, index and thumb of the pose model follow the hand landmarks (left, right pairs).
    for pose_left, pose_right, hand_index in ((15, 16, 0), (17, 18, 17), (19, 20, 5), (21, 22, 2)):
        pose[:, pose_left] = left[:, hand_index]
        pose[:, pose_right] = right[:, hand_index]
    return pose


def _to_image(body: np.ndarray, participant: Participant) -> np.ndarray:
    """Map body units to MediaPipe image coordinates (x right, y down, roughly [0, 1])."""
    coords = body * participant.scale
    coords[..., :2] += participant.origin
    return coords
