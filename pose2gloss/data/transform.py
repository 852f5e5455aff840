"""Step 3's library: landmark shards -> feature shards through the one preprocessing definition."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

import numpy as np
import tensorflow as tf

from pose2gloss.data.shards import Block
from pose2gloss.preprocessing.features import N_MODEL_LANDMARKS, FeatureConfig, FeatureStatistics, preprocess_points

FEATURES_DTYPE = np.float16


def feature_blocks(
    points: Iterable[Block], config: FeatureConfig, stats: FeatureStatistics | None = None, chunk: int = 256
) -> Iterator[Block]:
    """Preprocess the points ``chunk`` sequences at a time; keep the non-padding feature rows as float16.

    Only one chunk's padded float32 features exist at a time, inside TensorFlow, whatever the shard size.
    """
    store = _storage_graph(config)
    for block in points:
        for start in range(0, len(block), chunk):
            part = block.take(start, min(start + chunk, len(block)))
            data, rows, sums = store(tf.constant(part.data, tf.float32), tf.constant(part.lengths, tf.int32))
            if stats is not None:
                stats.add(part.lengths, sums)
            yield Block(data.numpy(), rows.numpy(), part.lengths, part.labels, part.meta)


@lru_cache(maxsize=8)
def _storage_graph(config: FeatureConfig) -> tf.types.experimental.GenericFunction:
    """One graph call per chunk: features, their non-padding rows as float16, and the statistics' sums.

    Storage and statistics only; the features themselves are :func:`preprocess_points`.
    """

    @tf.function(
        input_signature=[tf.TensorSpec([None, N_MODEL_LANDMARKS, 2], tf.float32), tf.TensorSpec([None], tf.int32)]
    )
    def store(points: tf.Tensor, lengths: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tuple[tf.Tensor, ...]]:
        features = preprocess_points(points, lengths, config)  # float32 in: oneDNN has no half kernels here
        rows = tf.minimum(lengths, config.max_len)
        data = tf.cast(tf.boolean_mask(features, tf.sequence_mask(rows, config.max_len)), FEATURES_DTYPE)
        return data, rows, FeatureStatistics.sums(features)

    return store
