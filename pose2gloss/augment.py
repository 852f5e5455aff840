"""Training-time augmentations of raw landmark sequences ``(frames, 543, 3)``.

They act on raw landmarks (before preprocessing) so that augmented sequences go through the
very same preprocessing as served ones. Every function takes an explicit
``numpy.random.Generator``, so an augmented set is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pose2gloss.data.packed import PackedSequences
from pose2gloss.landmarks import mirror_permutation

_MIRROR = mirror_permutation()


def hflip(sequence: np.ndarray) -> np.ndarray:
    """Mirror horizontally: x -> 1 - x, and left/right hands and pose sides swap."""
    flipped = sequence[:, _MIRROR].copy()
    flipped[..., 0] = 1.0 - flipped[..., 0]
    return flipped


def affine(
    sequence: np.ndarray,
    rng: np.random.Generator,
    *,
    scale: tuple[float, float] = (0.8, 1.2),
    shift: float = 0.1,
    rotation_deg: float = 15.0,
) -> np.ndarray:
    """Random scale, rotation (in x-y, about the sequence centre) and shift; NaN stays NaN."""
    xy = sequence[..., :2]
    centre = np.nanmean(xy.reshape(-1, 2), axis=0) if np.isfinite(xy).any() else np.full(2, 0.5)
    factor = rng.uniform(*scale)
    angle = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    out = sequence.copy()
    out[..., :2] = (xy - centre) @ rotation.T * factor + centre + rng.uniform(-shift, shift, size=2)
    out[..., 2] = sequence[..., 2] * factor
    return out.astype(sequence.dtype, copy=False)


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
    affine_probability: float = 0.8
    scale_min: float = 0.8
    scale_max: float = 1.2
    shift: float = 0.1
    rotation_deg: float = 15.0
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
    if rng.random() < config.affine_probability:
        out = affine(
            out, rng, scale=(config.scale_min, config.scale_max), shift=config.shift, rotation_deg=config.rotation_deg
        )
    if rng.random() < config.resample_probability:
        out = temporal_resample(out, rng)
    if rng.random() < config.crop_probability:
        out = temporal_crop(out, rng)
    if config.drop_probability > 0:
        out = frame_drop(out, rng, config.drop_probability)
    return out


def augment_packed(
    packed: PackedSequences, multiplier: int, seed: int, config: AugmentConfig = AugmentConfig()
) -> PackedSequences:
    """The originals plus ``multiplier`` augmented copies of each, labels and metadata carried over."""
    if multiplier < 0:
        raise ValueError(f"multiplier must be >= 0, got {multiplier}")
    rng = np.random.default_rng(seed)
    originals = packed.sequences()
    copies = [augment_sequence(s, rng, config) for _ in range(multiplier) for s in originals]
    repeat = multiplier + 1
    meta = {k: np.tile(v, repeat) for k, v in packed.meta.items()}
    meta["augmented"] = np.repeat(np.arange(repeat) > 0, len(originals))
    return PackedSequences.from_sequences(originals + copies, np.tile(packed.labels, repeat), meta)
