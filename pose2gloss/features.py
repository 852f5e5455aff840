"""The one definition of preprocessing: raw landmarks with NaN -> fixed-length model input.

Training (step 3) and the exported TFLite model, hence the server, all go through
:func:`preprocess_packed`: training calls it on whole packed splits, and the exported model
calls it on a single sequence inside the graph, so served inputs are the Kaggle raw
``(frames, 543, 3)`` arrays and there is no second implementation to drift.

Per sequence: keep the model landmarks (lips, both hands, pose subset) and their x, y;
centre by the mean and scale by the standard deviation of all visible points (NaN ignored);
then NaN -> 0; resample (nearest frame) sequences longer than ``max_len`` and zero-pad shorter
ones; optionally append frame-to-frame motion (zero where either frame is padding).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import tensorflow as tf

from pose2gloss.landmarks import MODEL_LANDMARKS

N_MODEL_LANDMARKS = len(MODEL_LANDMARKS)
_EPS = 1e-6


@dataclass(frozen=True)
class FeatureConfig:
    """Preprocessing parameters; stored with every model so serving uses the same ones."""

    max_len: int = 64
    motion: bool = True

    @property
    def n_features(self) -> int:
        return N_MODEL_LANDMARKS * 2 * (2 if self.motion else 1)

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
    n = tf.shape(lengths)[0]
    visible = tf.reduce_all(tf.math.is_finite(points), axis=-1, keepdims=True)  # (T, P, 1)
    clean = tf.where(visible, points, tf.zeros_like(points))
    visible_f = tf.cast(visible, tf.float32)

    segment = tf.repeat(tf.range(n), lengths)
    count = tf.math.unsorted_segment_sum(tf.reduce_sum(visible_f, axis=[1, 2]), segment, n)  # (n,)
    total = tf.math.unsorted_segment_sum(tf.reduce_sum(clean, axis=1), segment, n)  # (n, 2)
    mean = total / tf.maximum(count, 1.0)[:, None]
    centred = (clean - tf.gather(mean, segment)[:, None, :]) * visible_f
    square = tf.math.unsorted_segment_sum(tf.reduce_sum(tf.square(centred), axis=[1, 2]), segment, n)
    std = tf.sqrt(square / tf.maximum(2.0 * count, 1.0))
    std = tf.where(std > _EPS, std, tf.ones_like(std))
    normalised = centred / tf.gather(std, segment)[:, None, None]  # missing points stay exactly 0

    starts = tf.cumsum(lengths, exclusive=True)
    steps = tf.range(config.max_len)
    length_col = lengths[:, None]
    resampled = (steps[None, :] * length_col) // config.max_len
    frame_in_seq = tf.where(length_col > config.max_len, resampled, tf.broadcast_to(steps, [n, config.max_len]))
    valid = frame_in_seq < length_col  # (n, max_len)
    rows = starts[:, None] + tf.minimum(frame_in_seq, length_col - 1)
    gathered = tf.gather(normalised, rows) * tf.cast(valid, tf.float32)[:, :, None, None]
    features = tf.reshape(gathered, [n, config.max_len, N_MODEL_LANDMARKS * 2])
    if not config.motion:
        return features
    pair_valid = tf.cast(valid[:, 1:] & valid[:, :-1], tf.float32)[:, :, None]
    motion = (features[:, 1:] - features[:, :-1]) * pair_valid
    motion = tf.pad(motion, [[0, 0], [0, 1], [0, 0]])
    return tf.concat([features, motion], axis=-1)


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
