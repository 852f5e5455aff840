"""The one definition of preprocessing: raw landmarks with NaN -> fixed-length model input.

Training (step 3) and the exported TFLite model, hence the server, all go through
:func:`preprocess_packed`: training calls it on whole packed splits, and the exported model
calls it on a single sequence inside the graph, so served inputs are the Kaggle raw
``(frames, 543, 3)`` arrays and there is no second implementation to drift.

Per sequence:

* keep the model landmarks (lips, both hands, pose subset) and their x, y;
* drop the frames where nothing is detected (a signer out of view before or after the sign
  changes nothing), keeping one all-missing frame if the sequence has no other;
* centre on a fixed face point, the nose (its mean position over the sequence, or the mean of
  all visible points when it is never seen), and scale each axis by the spread of all visible
  points about it: moving hands do not move the reference;
* resample (nearest frame) sequences longer than ``max_len`` and zero-pad shorter ones;
* with ``motion``, append the 1- and 2-frame differences of every point (backward in time,
  so a causal model sees only the past), computed before missing points are set to 0 and
  zero wherever either frame misses the point: a hand that appears is not a jump;
* missing points are 0. A frame of all zeros is padding: models mask it (see ``models/``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import tensorflow as tf

from pose2gloss.preprocessing.landmarks import MODEL_LANDMARKS, TYPE_OFFSETS

N_MODEL_LANDMARKS = len(MODEL_LANDMARKS)
# The normalisation's reference: the pose model's nose (pose landmark 0), a point that signing does not move.
REFERENCE_POINT = int(np.flatnonzero(np.equal(MODEL_LANDMARKS, TYPE_OFFSETS["pose"]))[0])
MOTION_STEPS = (1, 2)  # frame differences appended with ``motion``
MAX_LEN_LIMIT = 384
_EPS = 1e-6


@dataclass(frozen=True)
class FeatureConfig:
    """Preprocessing parameters; stored with every model so serving uses the same ones."""

    max_len: int = 64
    motion: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.max_len <= MAX_LEN_LIMIT:
            raise ValueError(f"max_len must be between 1 and {MAX_LEN_LIMIT}, got {self.max_len}")

    @property
    def n_features(self) -> int:
        return N_MODEL_LANDMARKS * 2 * (1 + len(MOTION_STEPS) if self.motion else 1)

    def to_dict(self) -> dict[str, int | bool]:
        return asdict(self)


def preprocess_packed(frames: tf.Tensor, lengths: tf.Tensor, config: FeatureConfig) -> tf.Tensor:
    """Preprocess packed sequences: ``(total_frames, 543, 3)`` + ``(n,)`` -> ``(n, max_len, F)``.

    Every sequence must have at least one frame.
    """
    frames = tf.convert_to_tensor(frames, tf.float32)
    return preprocess_points(tf.gather(frames, MODEL_LANDMARKS, axis=1)[:, :, :2], lengths, config)


def preprocess_points(points: tf.Tensor, lengths: tf.Tensor, config: FeatureConfig) -> tf.Tensor:
    """The same on the model landmarks only, ``(total_frames, P, 2)``: what stored shards keep."""
    points = tf.convert_to_tensor(points, tf.float32)
    lengths = tf.cast(tf.convert_to_tensor(lengths), tf.int32)
    points, lengths = _drop_empty_frames(points, lengths)
    n = tf.shape(lengths)[0]
    visible = tf.reduce_all(tf.math.is_finite(points), axis=-1, keepdims=True)  # (T, P, 1)
    clean = tf.where(visible, points, tf.zeros_like(points))
    visible_f = tf.cast(visible, tf.float32)

    segment = tf.repeat(tf.range(n), lengths)
    count = tf.math.unsorted_segment_sum(tf.reduce_sum(visible_f, axis=[1, 2]), segment, n)  # (n,)
    total = tf.math.unsorted_segment_sum(tf.reduce_sum(clean, axis=1), segment, n)  # (n, 2)
    ref_count = tf.math.unsorted_segment_sum(visible_f[:, REFERENCE_POINT, 0], segment, n)
    ref_total = tf.math.unsorted_segment_sum(clean[:, REFERENCE_POINT], segment, n)
    centre = tf.where(
        (ref_count > 0)[:, None],
        ref_total / tf.maximum(ref_count, 1.0)[:, None],
        total / tf.maximum(count, 1.0)[:, None],
    )
    centred = (clean - tf.gather(centre, segment)[:, None, :]) * visible_f
    square = tf.math.unsorted_segment_sum(tf.reduce_sum(tf.square(centred), axis=1), segment, n)  # (n, 2)
    std = tf.sqrt(square / tf.maximum(count, 1.0)[:, None])
    std = tf.where(std > _EPS, std, tf.ones_like(std))
    normalised = centred / tf.gather(std, segment)[:, None, :]  # missing points stay exactly 0

    starts = tf.cumsum(lengths, exclusive=True)
    steps = tf.range(config.max_len)
    length_col = lengths[:, None]
    resampled = (steps[None, :] * length_col) // config.max_len
    frame_in_seq = tf.where(length_col > config.max_len, resampled, tf.broadcast_to(steps, [n, config.max_len]))
    valid = tf.cast(frame_in_seq < length_col, tf.float32)[:, :, None, None]  # (n, max_len, 1, 1)
    rows = starts[:, None] + tf.minimum(frame_in_seq, length_col - 1)
    gathered = tf.gather(normalised, rows) * valid  # (n, max_len, P, 2)
    seen = tf.gather(visible_f, rows) * valid  # (n, max_len, P, 1): the point is there in that frame
    flat = [N_MODEL_LANDMARKS * 2]
    features = tf.reshape(gathered, tf.concat([[n, config.max_len], flat], 0))
    if not config.motion:
        return features
    parts = [features]
    for step in MOTION_STEPS:
        difference = (gathered[:, step:] - gathered[:, :-step]) * seen[:, step:] * seen[:, :-step]
        difference = tf.pad(difference, [[0, 0], [step, 0], [0, 0], [0, 0]])[:, : config.max_len]
        parts.append(tf.reshape(difference, tf.concat([[n, config.max_len], flat], 0)))
    return tf.concat(parts, axis=-1)


def _drop_empty_frames(points: tf.Tensor, lengths: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Packed points without the frames where no landmark is detected, and the new lengths.

    A sequence with no detected frame at all keeps its first frame, so every sequence has one.
    """
    n = tf.shape(lengths)[0]
    segment = tf.repeat(tf.range(n), lengths)
    detected = tf.reduce_any(tf.math.is_finite(points), axis=[1, 2])  # (T,)
    detected_frames = tf.math.unsorted_segment_sum(tf.cast(detected, tf.int32), segment, n)
    position = tf.range(tf.shape(points)[0]) - tf.gather(tf.cumsum(lengths, exclusive=True), segment)
    keep = detected | ((position == 0) & (tf.gather(detected_frames, segment) == 0))
    return tf.boolean_mask(points, keep), tf.math.unsorted_segment_sum(tf.cast(keep, tf.int32), segment, n)


def preprocess_sequence(sequence: tf.Tensor, config: FeatureConfig) -> tf.Tensor:
    """One raw sequence ``(frames, 543, 3)`` -> ``(max_len, F)``; the form the exported model uses."""
    sequence = tf.convert_to_tensor(sequence, tf.float32)
    return preprocess_packed(sequence, tf.shape(sequence)[:1], config)[0]


def preprocess_numpy(frames: np.ndarray, lengths: np.ndarray, config: FeatureConfig, chunk: int = 4096) -> np.ndarray:
    """Eager wrapper for packed numpy arrays, in chunks of sequences to bound memory.

    ``frames`` are raw ``(total, 543, 3)`` landmarks or already the model points ``(total, P, 2)``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) == 0:
        return np.zeros((0, config.max_len, config.n_features), np.float32)
    fn = _compiled(config, points=frames.shape[1:] == (N_MODEL_LANDMARKS, 2))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    parts = []
    for first in range(0, len(lengths), chunk):
        last = min(first + chunk, len(lengths))
        part_frames = np.asarray(frames[offsets[first] : offsets[last]], np.float32)
        parts.append(
            fn(
                tf.convert_to_tensor(part_frames, tf.float32), tf.convert_to_tensor(lengths[first:last], tf.int32)
            ).numpy()
        )
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def preprocess_sequences(sequences: Iterable[np.ndarray], config: FeatureConfig, chunk: int = 128) -> np.ndarray:
    """Preprocess raw sequences as they arrive, ``chunk`` at a time: bounded memory, no giant concatenation."""
    parts, batch = [], []
    for sequence in sequences:
        batch.append(sequence)
        if len(batch) == chunk:
            parts.append(preprocess_numpy(np.concatenate(batch), np.array([len(s) for s in batch]), config))
            batch = []
    if batch:
        parts.append(preprocess_numpy(np.concatenate(batch), np.array([len(s) for s in batch]), config))
    return np.concatenate(parts) if parts else np.zeros((0, config.max_len, config.n_features), np.float32)


_COMPILED: dict[tuple[FeatureConfig, bool], tf.types.experimental.GenericFunction] = {}


def _compiled(config: FeatureConfig, points: bool = False) -> tf.types.experimental.GenericFunction:
    if (config, points) not in _COMPILED:
        fn, shape = (preprocess_points, [None, N_MODEL_LANDMARKS, 2]) if points else (preprocess_packed, [None, 543, 3])
        _COMPILED[config, points] = tf.function(
            lambda frames, lengths: fn(frames, lengths, config),
            input_signature=[tf.TensorSpec(shape, tf.float32), tf.TensorSpec([None], tf.int32)],
        )
    return _COMPILED[config, points]


class FeatureStatistics:
    """Summary numbers of a preprocessed split, logged so that data drift is visible per run.

    Accumulated block by block (:meth:`sums` of each block's features, then :meth:`add`), so a
    split of any size needs no more memory than a block.
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.sequences = self.frames = self.resampled = 0
        self.values = self.zeros = 0
        self.abs_sum = self.sum = self.square_sum = 0.0

    @staticmethod
    def sums(features: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """What is accumulated of a block of features ``(n, max_len, F)``: TensorFlow ops, so they run in-graph.

        Count, zeros, absolute sum, sum and sum of squares of the position features, in float64.
        """
        positions = features[..., : N_MODEL_LANDMARKS * 2]
        values = tf.size(positions, tf.int64)
        return (
            values,
            values - tf.math.count_nonzero(positions),
            tf.reduce_sum(tf.cast(tf.abs(positions), tf.float64)),
            tf.reduce_sum(tf.cast(positions, tf.float64)),
            tf.reduce_sum(tf.cast(tf.square(positions), tf.float64)),
        )

    def add(self, lengths: np.ndarray, sums: tuple) -> None:
        """Add a block of sequences of these ``lengths`` whose features gave these :meth:`sums`."""
        values, zeros, abs_sum, total, square_sum = (np.asarray(s).item() for s in sums)
        lengths = np.asarray(lengths)
        self.sequences += len(lengths)
        self.frames += int(np.sum(lengths))
        self.resampled += int(np.sum(lengths > self.config.max_len))
        self.values += int(values)
        self.zeros += int(zeros)
        self.abs_sum += float(abs_sum)
        self.sum += float(total)
        self.square_sum += float(square_sum)

    def result(self) -> dict[str, float]:
        n, values = max(self.sequences, 1), max(self.values, 1)
        mean = self.sum / values
        return {
            "sequences": float(self.sequences),
            "mean_frames": self.frames / n,
            "resampled_share": self.resampled / n,
            "zero_share": self.zeros / values,
            "feature_abs_mean": self.abs_sum / values,
            "feature_std": float(np.sqrt(max(self.square_sum / values - mean * mean, 0.0))),
        }
