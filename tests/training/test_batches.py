"""Online augmentation: stored landmarks stay unaugmented; every training epoch draws new variants."""

import numpy as np

from pose2gloss.data.augment import AugmentConfig
from pose2gloss.data.shards import Block, ShardedSplit, write_split
from pose2gloss.preprocessing.features import N_MODEL_LANDMARKS, FeatureConfig, preprocess_numpy
from pose2gloss.training.batches import AugmentedPoints, batches

FEATURES = FeatureConfig(max_len=32)


def points_split(tmp_path, n=6, shard_size=4):
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 40, size=n)
    data = rng.random((int(lengths.sum()), N_MODEL_LANDMARKS, 2)).astype(np.float16)
    index = write_split([Block(data, lengths, lengths, np.arange(n) % 3)], tmp_path, "train", shard_size)
    return ShardedSplit.from_directory(tmp_path, index), data, lengths


def test_an_online_augmented_epoch_differs_from_the_previous_one(tmp_path):
    split, _, _ = points_split(tmp_path)
    source = AugmentedPoints(split, FEATURES, AugmentConfig(), seed=3)
    first, second = (np.concatenate([x for x, _ in batches(source, 4, seed=0, epoch=e)]) for e in (0, 1))
    again = np.concatenate([x for x, _ in batches(source, 4, seed=0, epoch=0)])
    assert first.shape == second.shape == (6, *FEATURES_SHAPE)
    np.testing.assert_array_equal(first, again)  # reproducible from the seed
    assert not np.allclose(np.sort(first.ravel()), np.sort(second.ravel()))  # new variants each epoch


def test_unaugmented_blocks_are_the_stored_points_through_the_preprocessing(tmp_path):
    split, data, lengths = points_split(tmp_path)
    source = AugmentedPoints(split, FEATURES, AugmentConfig(), seed=3, keep=np.array([1, 4, 5]))
    x = np.concatenate([source.block(i)[0] for i in range(source.block_count())])
    expected = preprocess_numpy(data.astype(np.float32), lengths, FEATURES)[[1, 4, 5]]
    np.testing.assert_allclose(x, expected, atol=1e-6)
    assert len(source) == 3 and np.concatenate([source.block(i)[1] for i in range(2)]).tolist() == [1, 1, 2]
    # a policy that changes nothing gives the stored features in every epoch
    still = AugmentedPoints(
        split, FEATURES, AugmentConfig(**{k: 0.0 for k in AugmentConfig().to_dict() if k.endswith("probability")})
    )
    np.testing.assert_allclose(still.epoch_block(0, 5)[0], still.block(0)[0], atol=1e-6)


FEATURES_SHAPE = (FEATURES.max_len, FEATURES.n_features)
