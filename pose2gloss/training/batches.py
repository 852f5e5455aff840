"""Model inputs streamed block by block: feature shards on disk, arrays already in memory, or
landmark shards augmented afresh every epoch.

Training reads one shard at a time through ``tf.data``, so its memory is a shard and a few
batches whatever the dataset size. Each epoch visits the blocks in a seeded random order and
each block's samples in a seeded random order; arrays in memory are cut into blocks the same
way, so both give the same batches (and the same model) for the same blocks.

With online augmentation (:class:`AugmentedPoints`) the training blocks are step 2's
unaugmented landmark shards: every epoch each sequence gets a new variant of step 2's policy
and goes through :mod:`pose2gloss.preprocessing.features`, so a model sees as many variants as it has epochs
and nothing augmented is stored.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from pose2gloss.data.augment import AugmentConfig, augment_sequence
from pose2gloss.data.shards import ShardedSplit, pad_features
from pose2gloss.preprocessing.features import FeatureConfig, preprocess_numpy


class FeatureSource:
    """Blocks of ``(x, y)``: ``x`` float32 ``(n, max_len, F)``, ``y`` int64 labels."""

    shape: tuple[int, int]

    def __len__(self) -> int:
        raise NotImplementedError

    def block_count(self) -> int:
        raise NotImplementedError

    def block(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def epoch_block(self, number: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """The block as training sees it in ``epoch``; the same every epoch unless augmented online."""
        return self.block(number)

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for number in range(self.block_count()):
            yield self.block(number)


@dataclass
class ArrayFeatures(FeatureSource):
    """Features already in memory, cut into blocks of ``block_size`` (all of them by default)."""

    x: np.ndarray
    y: np.ndarray
    block_size: int = 0

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} samples but {len(self.y)} labels")
        self.shape = tuple(self.x.shape[1:])
        self.block_size = self.block_size or max(len(self.y), 1)

    def __len__(self) -> int:
        return len(self.y)

    def block_count(self) -> int:
        return -(-len(self.y) // self.block_size)

    def block(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        part = slice(number * self.block_size, (number + 1) * self.block_size)
        return np.asarray(self.x[part], np.float32), np.asarray(self.y[part], np.int64)


class ShardFeatures(FeatureSource):
    """Feature shards written by step 3; ``keep`` (sorted positions in the split) takes a subset."""

    def __init__(self, split: ShardedSplit, max_len: int, n_features: int, keep: np.ndarray | None = None) -> None:
        self.split = split
        self.max_len = max_len
        self.shape = (max_len, n_features)
        sizes = np.asarray(split.shard_sizes, np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        if keep is None:
            self._keep = [None] * len(sizes)
            self._count = int(sizes.sum())
        else:
            keep = np.asarray(keep, np.int64)
            self._keep = [keep[(keep >= a) & (keep < b)] - a for a, b in itertools.pairwise(starts)]
            self._count = len(keep)

    def __len__(self) -> int:
        return self._count

    def block_count(self) -> int:
        return len(self._keep)

    def block(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        shard = self.split.shard(number)
        x, y = pad_features(shard, self.max_len), shard.labels
        keep = self._keep[number]
        return (x, y) if keep is None else (x[keep], y[keep])


class AugmentedPoints(FeatureSource):
    """Landmark shards (step 2's ``points``) -> features, each training epoch with a fresh augmentation.

    Sequence ``p`` of the split draws its variant of ``epoch`` from its own stream
    ``(seed, epoch, p)``: reproducible, independent of shard order and of the other sequences.
    :meth:`block` (validation, evaluation) gives the unaugmented features.
    """

    def __init__(
        self,
        split: ShardedSplit,
        features: FeatureConfig,
        augment: AugmentConfig,
        seed: int = 0,
        keep: np.ndarray | None = None,
    ) -> None:
        self.split, self.features, self.augment, self.seed = split, features, augment, seed
        self.shape = (features.max_len, features.n_features)
        sizes = np.asarray(split.shard_sizes, np.int64)
        self._starts = np.concatenate([[0], np.cumsum(sizes)])
        if keep is None:
            self._keep = [np.arange(n) for n in sizes]
        else:
            keep = np.asarray(keep, np.int64)
            self._keep = [keep[(keep >= a) & (keep < b)] - a for a, b in itertools.pairwise(self._starts)]

    def __len__(self) -> int:
        return int(sum(len(k) for k in self._keep))

    def block_count(self) -> int:
        return len(self._keep)

    def block(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        return self._features(number, None)

    def epoch_block(self, number: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        return self._features(number, epoch)

    def _features(self, number: int, epoch: int | None) -> tuple[np.ndarray, np.ndarray]:
        shard = self.split.shard(number)
        keep = self._keep[number]
        sequences = [shard.item(int(i)).astype(np.float32) for i in keep]
        if epoch is not None:
            first = int(self._starts[number])
            sequences = [
                augment_sequence(sequence, np.random.default_rng([self.seed, epoch, first + int(i)]), self.augment)
                for sequence, i in zip(sequences, keep, strict=True)
            ]
        if not sequences:
            return np.zeros((0, *self.shape), np.float32), np.zeros(0, np.int64)
        lengths = np.array([len(s) for s in sequences])
        return preprocess_numpy(np.concatenate(sequences), lengths, self.features), shard.labels[keep]


def subset(n: int, limit: int, seed: int) -> np.ndarray | None:
    """Sorted positions of a seeded random subset of ``limit`` out of ``n`` (None: keep all)."""
    if not limit or limit >= n:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def batches(
    source: FeatureSource, batch_size: int, seed: int | None = None, epoch: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of one epoch; with ``seed`` blocks and samples are shuffled (differently each epoch).

    Samples are taken from the block in place (one batch copied at a time), and a batch may span
    two blocks, so every batch but the last is full.
    """
    rng = np.random.default_rng([seed, epoch]) if seed is not None else None
    order = rng.permutation(source.block_count()) if rng is not None else range(source.block_count())
    carry_x: list[np.ndarray] = []
    carry_y: list[np.ndarray] = []
    carried = 0
    for number in order:
        x, y = source.epoch_block(int(number), epoch) if rng is not None else source.block(int(number))
        index = rng.permutation(len(y)) if rng is not None else np.arange(len(y))
        start = 0
        if carried:  # complete the batch begun in the previous block
            take = index[: batch_size - carried]
            carry_x.append(x[take])
            carry_y.append(y[take])
            carried += len(take)
            start = len(take)
            if carried < batch_size:
                continue
            yield np.concatenate(carry_x), np.concatenate(carry_y)
            carry_x, carry_y, carried = [], [], 0
        while len(index) - start >= batch_size:
            take = index[start : start + batch_size]
            yield x[take], y[take]
            start += batch_size
        if start < len(index):
            take = index[start:]
            carry_x, carry_y, carried = [x[take]], [y[take]], len(take)
    if carried:
        yield np.concatenate(carry_x), np.concatenate(carry_y)


def dataset(source: FeatureSource, batch_size: int, seed: int | None = None) -> tf.data.Dataset:
    """``tf.data`` over :func:`batches`; every pass over it (each Keras epoch) is a new epoch."""
    epochs = itertools.count()

    def generate() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        yield from batches(source, batch_size, seed, next(epochs))

    signature = (
        tf.TensorSpec((None, *source.shape), tf.float32),
        tf.TensorSpec((None,), tf.int64),
    )
    data = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return data.apply(tf.data.experimental.assert_cardinality(-(-len(source) // batch_size))).prefetch(2)
