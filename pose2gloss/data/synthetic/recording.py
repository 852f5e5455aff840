"""One synthetic recording: a sign played by a signer, with the tracker's mistakes.

Besides the signer's style, what makes real recordings hard is built in here: per-frame jitter,
bursts of frames where the tracker loses a hand (and rarely the face), occasional glitches where
a hand jumps, and sequences clipped to a handful of frames or padded with idle frames.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from pose2gloss.data.synthetic.body import (
    _REST_WRIST_LEFT,
    _REST_WRIST_RIGHT,
    _curl,
    _face_points,
    _hand_points,
    _head_offset,
    _pose_points,
    _roll,
    _to_image,
    _wrist_path,
)
from pose2gloss.data.synthetic.signers import Participant
from pose2gloss.data.synthetic.vocabulary import ORDERS, SignSpec, ordered_time
from pose2gloss.preprocessing.landmarks import TYPE_OFFSETS, TYPE_SIZES, mirror_permutation

MIN_FRAMES: Final[int] = 4
MAX_FRAMES: Final[int] = 220

_BASE_FRAMES: Final[float] = 32.0
_NOISE_BODY_UNITS: Final[float] = 0.008
# Shares of recordings that are a clipped part of the sign, or padded with idle frames.
_CLIPPED_SHARE: Final[float] = 0.08
_IDLE_SHARE: Final[float] = 0.25
_FACE_DROPOUT: Final[float] = 0.01
_GLITCH_RATE: Final[float] = 0.02


def synthesize_landmarks(spec: SignSpec, participant: Participant, rng: np.random.Generator) -> np.ndarray:
    """One recording of ``spec`` by ``participant``: float32 (frames, 543, 3), NaN where untracked."""
    u, signing = _timeline(participant, rng, 2.0 if spec.order in ORDERS[2:] else 1.0)
    u = ordered_time(u, spec.order)
    n_frames = len(u)
    amp = participant.reach * rng.uniform(0.88, 1.12)
    shift = participant.space_shift + rng.normal(0.0, 0.03, size=2)
    right_wrist = _at_rest(_wrist_path(spec.right, u, amp, shift), signing, _REST_WRIST_RIGHT)
    right = _hand_points(right_wrist, _curl(spec.right, u, participant), _roll(spec.right, u), mirror=False)
    if spec.left is None:
        left_wrist = np.broadcast_to(np.asarray(_REST_WRIST_LEFT), (n_frames, 2))
        left = _hand_points(left_wrist, np.full((n_frames, 5), 0.3), np.zeros(n_frames), mirror=True)
    else:
        left_wrist = _wrist_path(spec.left, u, amp, shift * np.array([-1.0, 1.0]))
        left_wrist = _at_rest(left_wrist, signing, _REST_WRIST_LEFT)
        left = _hand_points(left_wrist, _curl(spec.left, u, participant), _roll(spec.left, u), mirror=True)
    for hand in (left, right):
        hand += rng.normal(0.0, participant.jitter, size=hand.shape)
        glitch = rng.random(n_frames) < _GLITCH_RATE
        hand[glitch] += rng.normal(0.0, 0.25, size=(int(glitch.sum()), 1, 3)) * np.array([1.0, 1.0, 0.0])
    head = _head_offset(n_frames, rng)
    mouth = spec.mouth_amp * 0.5 * (1.0 - np.cos(2 * np.pi * spec.mouth_freq * u))
    face = _face_points(mouth, participant) + head[:, None, :]
    pose = _pose_points(right, left, head, participant)
    body = np.concatenate([face, left, pose, right], axis=1)
    body += rng.normal(0.0, _NOISE_BODY_UNITS, size=body.shape)
    dominant, other = "right_hand", "left_hand"
    if participant.left_handed:
        body = body[:, mirror_permutation()]
        body[..., 0] *= -1.0
        dominant, other = other, dominant
    coords = _to_image(body, participant)
    coords[~signing, _type_slice("left_hand")] = np.nan
    coords[~signing, _type_slice("right_hand")] = np.nan
    _drop_hand_frames(coords, dominant, participant.dropout, rng, keep=signing)
    if spec.left is None:
        coords[:, _type_slice(other)] = np.nan
    else:
        _drop_hand_frames(coords, other, participant.dropout, rng)
    lost_face = rng.random(n_frames) < _FACE_DROPOUT
    coords[lost_face, _type_slice("face")] = np.nan
    return coords.astype(np.float32)


def _timeline(
    participant: Participant, rng: np.random.Generator, duration: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised sign time per frame, and which frames show the sign (the rest are idle).

    Slower participants and hesitation give longer signs (``duration`` multiplies the length); some
    recordings catch only part of the sign in a handful of frames, others hold idle frames before
    and after it.
    """
    n_sign = round(duration * _BASE_FRAMES / participant.speed * rng.uniform(0.75, 1.3))
    start, end = rng.uniform(0.0, 0.05), rng.uniform(0.95, 1.0)
    kind = rng.random()
    if kind < _CLIPPED_SHARE:
        n_sign = int(rng.integers(MIN_FRAMES, 13))
        start = rng.uniform(0.0, 0.4)
        end = start + rng.uniform(0.4, 0.6)
    u = np.linspace(start, end, max(n_sign, MIN_FRAMES))
    u = u + np.clip(participant.rhythm + rng.uniform(-0.2, 0.2), -0.9, 0.9) * (u - start) * (end - u)
    before = after = 0
    if _CLIPPED_SHARE <= kind < _CLIPPED_SHARE + _IDLE_SHARE:
        before, after = (int(v) for v in rng.integers(4, 40, size=2))
    signing = np.concatenate([np.zeros(before, bool), np.ones(len(u), bool), np.zeros(after, bool)])
    u = np.concatenate([np.full(before, u[0]), u, np.full(after, u[-1])])
    return u[:MAX_FRAMES], signing[:MAX_FRAMES]


def _at_rest(wrist: np.ndarray, signing: np.ndarray, rest: tuple[float, float]) -> np.ndarray:
    """Wrist positions with the idle frames at the rest position (hands down, out of view)."""
    return np.where(signing[:, None], wrist, np.asarray(rest))


def _type_slice(landmark_type: str) -> slice:
    """The landmark rows of one type within a frame."""
    start = TYPE_OFFSETS[landmark_type]
    return slice(start, start + TYPE_SIZES[landmark_type])


def _drop_hand_frames(
    coords: np.ndarray,
    landmark_type: str,
    rate: float,
    rng: np.random.Generator,
    keep: np.ndarray | None = None,
) -> None:
    """Blank bursts of 1-8 frames of a hand, as when the tracker loses it for a moment.

    With ``keep``, one of those frames stays visible whatever the bursts, so the sign is seen.
    """
    n_frames = coords.shape[0]
    missing = np.zeros(n_frames, dtype=bool)
    for start in np.flatnonzero(rng.random(n_frames) < rate):
        missing[start : start + int(rng.integers(1, 9))] = True
    if keep is not None and keep.any():
        missing[rng.choice(np.flatnonzero(keep))] = False
    coords[missing, _type_slice(landmark_type)] = np.nan
