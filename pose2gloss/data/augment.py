"""Training-time augmentations of landmark sequences, before preprocessing.

They act on landmarks in image coordinates, so augmented sequences go through the very same
preprocessing as served ones. A sequence is either raw ``(frames, 543, 3)`` or the model
landmarks ``(frames, 89, 2)`` that step 2 keeps (:mod:`pose2gloss.data.stream`); each
function finds the landmarks it needs through the sequence's :class:`Layout`, and every
statistic it takes (centre, body size) is computed on the model landmarks, so both layouts give
the same model landmarks. Step 2 augments the small one: a tenth of the arithmetic.

Every function takes an explicit ``numpy.random.Generator``, so an augmented set is
reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pose2gloss.preprocessing.landmarks import (
    LEFT_HAND,
    MODEL_LANDMARKS,
    N_LANDMARKS,
    POSE,
    RIGHT_HAND,
    mirror_permutation,
)

# Pose landmarks that belong to each hand (wrist, pinky, index, thumb) and move with it.
_POSE_HAND_POINTS = {"left": (15, 17, 19, 21), "right": (16, 18, 20, 22)}
_SHOULDERS = (POSE.start + 11, POSE.start + 12)
_MIDDLE_KNUCKLE = 9
_HAND_POINTS = LEFT_HAND.stop - LEFT_HAND.start


@dataclass(frozen=True, eq=False)
class Layout:
    """Positions, along a sequence's landmark axis, of the landmarks the augmentations use.

    Built from the raw landmark index held at each position, so a layout that keeps only some
    landmarks finds them where they are; a landmark it lacks is simply not moved.
    """

    size: int
    mirror: np.ndarray  # position -> position of its mirror image
    hands: tuple[np.ndarray, np.ndarray]  # left, right: the 21 hand points, wrist first
    hand_rows: tuple[np.ndarray, np.ndarray]  # each hand's points and the pose points that move with it
    shoulders: tuple[int, int] | None
    model_rows: np.ndarray  # where centre and body size are measured, the same in every layout

    @classmethod
    def of(cls, landmarks: np.ndarray) -> Layout:
        """The layout of sequences whose position ``i`` holds raw landmark ``landmarks[i]``."""
        landmarks = np.asarray(landmarks)
        position = {int(raw): i for i, raw in enumerate(landmarks)}
        mirrored = mirror_permutation()[landmarks]
        if not set(mirrored.tolist()) <= position.keys():
            raise ValueError("a layout must hold each landmark's mirror image")

        def rows(raw: np.ndarray) -> np.ndarray:
            return np.asarray([position[int(r)] for r in raw if int(r) in position], np.int64)

        left, right = (rows(np.arange(h.start, h.stop)) for h in (LEFT_HAND, RIGHT_HAND))
        if any(len(h) not in (0, _HAND_POINTS) for h in (left, right)):
            raise ValueError(f"a layout holds a whole hand ({_HAND_POINTS} points) or none of it")
        hand_rows = tuple(
            np.concatenate([hand, rows(POSE.start + np.asarray(_POSE_HAND_POINTS[side]))])
            for side, hand in (("left", left), ("right", right))
        )
        shoulders = tuple(position[s] for s in _SHOULDERS) if set(_SHOULDERS) <= position.keys() else None
        return cls(
            len(landmarks),
            np.asarray([position[int(m)] for m in mirrored], np.int64),
            (left, right),
            hand_rows,
            shoulders,
            rows(MODEL_LANDMARKS),
        )


RAW = Layout.of(np.arange(N_LANDMARKS))
MODEL_POINTS = Layout.of(MODEL_LANDMARKS)


def layout_of(sequence: np.ndarray) -> Layout:
    """:data:`RAW` or :data:`MODEL_POINTS`, from the number of landmarks in ``sequence``."""
    for layout in (RAW, MODEL_POINTS):
        if sequence.ndim == 3 and sequence.shape[1] == layout.size:
            return layout
    raise ValueError(
        f"expected a sequence of shape (frames, {RAW.size}, 3) or (frames, {MODEL_POINTS.size}, 2), "
        f"got {sequence.shape}"
    )


def hflip(sequence: np.ndarray) -> np.ndarray:
    """Mirror horizontally: x -> 1 - x; hands, pose sides and lip sides swap."""
    flipped = sequence[:, layout_of(sequence).mirror]  # a new array: fancy indexing copies
    flipped[..., 0] = 1.0 - flipped[..., 0]
    return flipped


def rotate(sequence: np.ndarray, rng: np.random.Generator, max_deg: float = 10.0) -> np.ndarray:
    """Rotate every point in x-y about the model landmarks' centre (a tilted camera); NaN stays NaN.

    Unlike a global scale or shift, which the per-sequence normalisation of ``features.py``
    removes, a rotation reaches the model.
    """
    centre = _centre(sequence)
    angle = np.deg2rad(rng.uniform(-max_deg, max_deg))
    out = sequence.copy()
    out[..., :2] = _turned(sequence[..., :2] - centre, angle) + centre
    return out


def hand_pose(
    sequence: np.ndarray,
    rng: np.random.Generator,
    *,
    scale: float = 0.15,
    rotation_deg: float = 15.0,
    offset: float = 0.1,
) -> np.ndarray:
    """Each hand independently: scaled by ``1 ± scale`` and rotated about its wrist, then moved.

    The offset is a fraction of the shoulder width, so it is relative to the body and survives
    the per-sequence normalisation. Signers differ in hand size, wrist angle and where they
    place their hands; the hand's pose-model points (wrist, pinky, index, thumb) move with it.
    """
    out = sequence.copy()
    layout = layout_of(sequence)
    body = _shoulder_width(sequence)
    for hand, rows in zip(layout.hands, layout.hand_rows, strict=True):
        wrist = _hand_anchor(sequence[:, hand[0], :2]) if len(hand) else None
        if wrist is None:
            continue
        factor = rng.uniform(1.0 - scale, 1.0 + scale)
        turn = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg))
        move = (rng.uniform(-offset, offset, size=2) * body).astype(sequence.dtype)  # no float64 upcast
        xy = sequence[:, rows, :2] - wrist[:, None]
        out[:, rows, :2] = factor * _turned(xy, turn) + wrist[:, None] + move
        if sequence.shape[-1] > 2:  # depth, where the layout keeps it
            out[:, rows, 2] = sequence[:, rows, 2] * factor
    return out


def finger_jitter(sequence: np.ndarray, rng: np.random.Generator, sigma: float = 0.04) -> np.ndarray:
    """Independent noise on every finger point of every frame, ``sigma`` times the hand size.

    Stands in for the tracker's frame-to-frame wobble of finger joints; the wrists stay put.
    """
    out = sequence.copy()
    for hand in layout_of(sequence).hands:
        if not len(hand):
            continue
        knuckle_to_wrist = sequence[:, hand[_MIDDLE_KNUCKLE], :2] - sequence[:, hand[0], :2]
        size = _finite_median(np.linalg.norm(knuckle_to_wrist, axis=-1))
        if size is None:
            continue
        noise = rng.standard_normal((len(sequence), len(hand) - 1, 2), dtype=np.float32) * np.float32(sigma * size)
        out[:, hand[1:], :2] += noise.astype(sequence.dtype, copy=False)
    return out


def time_warp(sequence: np.ndarray, rng: np.random.Generator, strength: float = 0.2) -> np.ndarray:
    """Same number of frames, unevenly paced: parts of the sign play faster, others slower.

    The monotone map ``t + a sin(pi t) / pi`` with ``|a| <= strength < 1`` picks the nearest
    source frame for each output frame: the start plays at speed ``1 + a``, the end at ``1 - a``,
    and the sign keeps its first frame, last frame and length.
    """
    if not 0 <= strength < 1:
        raise ValueError(f"time warp strength must be in [0, 1), got {strength}")
    length = len(sequence)
    t = np.linspace(0.0, 1.0, length)
    warped = t + rng.uniform(-strength, strength) * np.sin(np.pi * t) / np.pi
    source = np.clip(np.round(warped * (length - 1)), 0, length - 1).astype(int)
    return sequence[source]


def temporal_resample(
    sequence: np.ndarray, rng: np.random.Generator, factor: tuple[float, float] = (0.7, 1.4)
) -> np.ndarray:
    """Play the sign faster or slower (nearest-frame resampling); at least one frame remains."""
    length = max(1, int(round(len(sequence) * rng.uniform(*factor))))
    positions = np.minimum((np.arange(length) * len(sequence)) // length, len(sequence) - 1)
    return sequence[positions]


def temporal_crop(sequence: np.ndarray, rng: np.random.Generator, min_fraction: float = 0.8) -> np.ndarray:
    """Keep a random contiguous window of at least ``min_fraction`` of the frames."""
    length = len(sequence)
    keep = max(1, int(np.ceil(length * rng.uniform(min_fraction, 1.0))))
    start = int(rng.integers(0, length - keep + 1))
    return sequence[start : start + keep]


def frame_drop(sequence: np.ndarray, rng: np.random.Generator, probability: float = 0.1) -> np.ndarray:
    """Drop frames independently with ``probability``; never drops them all."""
    keep = rng.random(len(sequence)) >= probability
    if not keep.any():
        keep[rng.integers(len(sequence))] = True
    return sequence[keep]


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the augmentation policy (step 2's parameters)."""

    flip_probability: float = 0.5
    rotation_probability: float = 0.5
    rotation_deg: float = 10.0
    hand_probability: float = 0.8
    hand_scale: float = 0.15
    hand_rotation_deg: float = 15.0
    hand_offset: float = 0.1
    finger_jitter_probability: float = 0.5
    finger_jitter: float = 0.04
    time_warp_probability: float = 0.5
    time_warp: float = 0.3
    resample_probability: float = 0.5
    crop_probability: float = 0.3
    drop_probability: float = 0.05

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def augment_sequence(
    sequence: np.ndarray, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()
) -> np.ndarray:
    """Apply the random policy in ``config`` to one sequence."""
    if len(sequence) == 0:
        raise ValueError("cannot augment an empty sequence")
    out = sequence
    if rng.random() < config.flip_probability:
        out = hflip(out)
    if rng.random() < config.rotation_probability:
        out = rotate(out, rng, config.rotation_deg)
    if rng.random() < config.hand_probability:
        out = hand_pose(
            out, rng, scale=config.hand_scale, rotation_deg=config.hand_rotation_deg, offset=config.hand_offset
        )
    if rng.random() < config.finger_jitter_probability:
        out = finger_jitter(out, rng, config.finger_jitter)
    if rng.random() < config.time_warp_probability:
        out = time_warp(out, rng, config.time_warp)
    if rng.random() < config.resample_probability:
        out = temporal_resample(out, rng)
    if rng.random() < config.crop_probability:
        out = temporal_crop(out, rng)
    if config.drop_probability > 0:
        out = frame_drop(out, rng, config.drop_probability)
    return out


def _turned(xy: np.ndarray, angle: float) -> np.ndarray:
    """Points ``(..., 2)`` rotated by ``angle`` about the origin, element-wise (no batched matmul)."""
    cos, sin = np.cos(angle), np.sin(angle)
    x, y = xy[..., 0], xy[..., 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y], axis=-1)


def _model_xy(sequence: np.ndarray) -> np.ndarray:
    """The x-y of the model landmarks (a view when the sequence holds nothing else)."""
    layout = layout_of(sequence)
    return sequence[..., :2] if layout is MODEL_POINTS else sequence[:, layout.model_rows, :2]


def _centre(sequence: np.ndarray) -> np.ndarray:
    """Mean visible x-y of the model landmarks (image centre when none is visible)."""
    xy = _model_xy(sequence)
    x, y = xy[..., 0], xy[..., 1]
    visible = np.isfinite(x) & np.isfinite(y)
    if not visible.any():
        return np.full(2, 0.5)
    return np.array([x[visible].mean(), y[visible].mean()])


def _shoulder_width(sequence: np.ndarray) -> float:
    """The body's size unit: median shoulder distance, or the spread of the model landmarks without shoulders."""
    shoulders = layout_of(sequence).shoulders
    if shoulders is not None:
        a, b = shoulders
        width = _finite_median(np.linalg.norm(sequence[:, a, :2] - sequence[:, b, :2], axis=-1))
        if width is not None and width > 0:
            return width
    xy = _model_xy(sequence)
    spread = float(np.std(xy[np.isfinite(xy)])) if np.isfinite(xy).any() else 0.0
    return spread if spread > 0 else 1.0


def _finite_median(values: np.ndarray) -> float | None:
    """``np.median`` of the finite values (None if there are none), without its overhead on short arrays."""
    finite = np.sort(values[np.isfinite(values)])
    if not len(finite):
        return None
    middle = len(finite) // 2
    return float(finite[middle] if len(finite) % 2 else (finite[middle - 1] + finite[middle]) / 2)


def _hand_anchor(wrist: np.ndarray) -> np.ndarray | None:
    """The wrist ``(frames, 2)`` in every frame, frames without the hand filled from the nearest tracked one.

    None when the hand is never tracked (nothing to move).
    """
    seen = np.flatnonzero(np.isfinite(wrist[:, 0]) & np.isfinite(wrist[:, 1]))
    if len(seen) == 0:
        return None
    if len(seen) == len(wrist):
        return wrist
    nearest = seen[np.argmin(np.abs(np.arange(len(wrist))[:, None] - seen[None]), axis=1)]
    return wrist[nearest]
