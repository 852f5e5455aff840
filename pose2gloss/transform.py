"""Step 3's library: landmark shards -> feature shards through the one preprocessing definition."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from pose2gloss.data.shards import Block, unpad_features
from pose2gloss.features import FeatureConfig, FeatureStatistics, preprocess_numpy

FEATURES_DTYPE = np.float16


def feature_blocks(
    points: Iterable[Block], config: FeatureConfig, stats: FeatureStatistics | None = None, chunk: int = 256
) -> Iterator[Block]:
    """Preprocess each block of points; keep the non-padding feature rows as float16."""
    for block in points:
        features = preprocess_numpy(block.data, block.lengths, config, chunk=chunk)
        if stats is not None:
            stats.add(features, block.lengths)
        data, rows = unpad_features(features, block.lengths)
        yield Block(data.astype(FEATURES_DTYPE), rows, block.lengths, block.labels, block.meta)
