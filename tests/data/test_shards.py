import numpy as np
import pytest

from pose2gloss.data.augment import AugmentConfig
from pose2gloss.data.shards import (
    Block,
    ShardedSplit,
    ShardError,
    pad_features,
    read_shard,
    unpad_features,
    write_split,
)
from pose2gloss.data.stream import point_blocks, to_points, to_raw, worker_pool
from pose2gloss.data.transform import feature_blocks
from pose2gloss.preprocessing.features import N_MODEL_LANDMARKS, FeatureConfig, FeatureStatistics, preprocess_numpy
from tests.gislr_files import random_sequence, write_sequence


def make_block(rng, lengths, first_id=0):
    points = [rng.random((n, 89, 2)).astype(np.float16) for n in lengths]
    points[0][0, 3] = np.nan
    n = len(lengths)
    return Block(
        np.concatenate(points),
        lengths,
        lengths,
        rng.integers(0, 250, n),
        {"sequence_id": np.arange(first_id, first_id + n), "copy": np.arange(n) % 2},
    )


def write_and_read(blocks, tmp_path, shard_size, split="train"):
    index = write_split(blocks, tmp_path, split, shard_size)
    return index, ShardedSplit.from_directory(tmp_path, index)


def test_round_trip_is_exact_with_one_frame_sequences_and_a_last_partial_shard(tmp_path):
    rng = np.random.default_rng(0)
    blocks = [make_block(rng, [1, 5, 1, 3]), make_block(rng, [2, 1, 7], first_id=4)]
    index, split = write_and_read(blocks, tmp_path, shard_size=3)
    assert split.shard_sizes == [3, 3, 1] and len(split) == 7
    expected = Block.concat(blocks)
    got = Block.concat(list(split))
    np.testing.assert_array_equal(got.data, expected.data)  # NaN compares equal in assert_array_equal
    for name in ("rows", "lengths", "labels"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
    assert got.data.dtype == np.float16 and set(got.meta) == {"sequence_id", "copy"}
    np.testing.assert_array_equal(got.meta["copy"], expected.meta["copy"])
    np.testing.assert_array_equal(split.column("sequence_id"), np.arange(7))
    assert got.item(4).shape == (2, 89, 2)


def test_an_empty_split_has_no_shards_and_reads_as_nothing(tmp_path):
    index, split = write_and_read([], tmp_path, shard_size=4, split="test")
    assert index["shards"] == [] and len(split) == 0
    assert list(split) == [] and len(split.column("labels")) == 0


def test_a_corrupt_shard_is_named_in_the_error(tmp_path):
    rng = np.random.default_rng(1)
    index, split = write_and_read([make_block(rng, [4, 4, 4])], tmp_path, shard_size=2)
    path = tmp_path / index["shards"][1]["file"]
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))
    split.shard(0)
    with pytest.raises(ShardError, match="train-00001.npz"):
        split.shard(1)
    path.write_bytes(bytes(content[:100]))
    with pytest.raises(ShardError, match="train-00001.npz"):
        list(split)


def test_a_shard_that_disagrees_with_its_index_is_refused(tmp_path):
    rng = np.random.default_rng(2)
    index = write_split([make_block(rng, [2, 3])], tmp_path, "val", 5)
    with pytest.raises(ShardError, match="the index says"):
        read_shard(tmp_path / "val-00000.npz", {"sequences": 3, "rows": 5})
    assert len(read_shard(tmp_path / "val-00000.npz", index["shards"][0])) == 2


def test_features_round_trip_without_their_padding_rows():
    rng = np.random.default_rng(3)
    features = rng.random((3, 8, 4)).astype(np.float32)
    lengths = np.array([1, 8, 20])
    features[0, 1:] = 0
    data, rows = unpad_features(features, lengths)
    assert list(rows) == [1, 8, 8] and len(data) == 17
    padded = pad_features(Block(data, rows, lengths, [0, 1, 2]), 8)
    np.testing.assert_array_equal(padded, features)


def test_points_keep_what_preprocessing_reads():
    rng = np.random.default_rng(4)
    raw = random_sequence(rng, 6)
    config = FeatureConfig(max_len=8)
    from_raw = preprocess_numpy(to_raw(to_points(raw)), [6], config)
    from_points = preprocess_numpy(to_points(raw), [6], config)
    np.testing.assert_array_equal(from_raw, from_points)
    exact = preprocess_numpy(raw, [6], config)
    assert np.abs(from_points - exact).max() < 0.02  # float16 storage of the landmarks


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    rng = np.random.default_rng(5)
    root = tmp_path_factory.mktemp("files")
    lengths = [1, 9, 4, 30, 2, 12, 7]
    return [str(write_sequence(root / f"{i}.parquet", random_sequence(rng, n))) for i, n in enumerate(lengths)]


def feature_shards(files, chunk, shard_size, tmp_path, pool=None):
    """Step 2 then step 3 of the pipeline on ``files``: features by (sequence_id, copy), and their statistics."""
    blocks = point_blocks(
        files,
        np.arange(len(files)),
        {"sequence_id": np.arange(len(files)) + 100},
        multiplier=2,
        seed=7,
        augment=AugmentConfig(),
        chunk=chunk,
        pool=pool,
    )
    points = ShardedSplit.from_directory(tmp_path, write_split(blocks, tmp_path, "train", shard_size))
    config = FeatureConfig(max_len=8)
    stats = FeatureStatistics(config)
    index = write_split(feature_blocks(points, config, stats), tmp_path / "features", "train", shard_size)
    features = {}
    for block in ShardedSplit.from_directory(tmp_path / "features", index):
        padded = pad_features(block, config.max_len)
        for i, key in enumerate(zip(block.meta["sequence_id"], block.meta["copy"], strict=True)):
            features[tuple(map(int, key))] = padded[i]
    assert len(features) == len(points) == 3 * len(files)
    return features, stats.result()


def test_features_of_a_sequence_do_not_depend_on_chunk_shard_size_or_workers(files, tmp_path):
    small, stats_small = feature_shards(files, chunk=2, shard_size=3, tmp_path=tmp_path / "a")
    with worker_pool(2) as pool:
        large, stats_large = feature_shards(files, chunk=4, shard_size=100, tmp_path=tmp_path / "b", pool=pool)
    assert small.keys() == large.keys()
    for key in small:
        np.testing.assert_array_equal(small[key], large[key])
    assert not np.array_equal(small[100, 0], small[100, 1])  # the copies are augmented
    assert stats_small == pytest.approx(stats_large)


def test_feature_rows_and_statistics_are_those_of_the_preprocessing_definition():
    """Step 3 unpads, casts and sums inside one graph; the result is the definition's, stored as float16."""
    rng = np.random.default_rng(8)
    block = make_block(rng, [1, 5, 12, 40, 3, 9, 70])  # longer than max_len too
    config = FeatureConfig(max_len=16)
    stats = FeatureStatistics(config)
    out = Block.concat(list(feature_blocks([block], config, stats, chunk=3)))
    expected = preprocess_numpy(block.data, block.lengths, config)
    rows, lengths = unpad_features(expected, block.lengths)
    assert out.data.dtype == np.float16
    np.testing.assert_array_equal(out.rows, lengths)
    np.testing.assert_array_equal(out.data, rows.astype(np.float16))
    np.testing.assert_array_equal(out.labels, block.labels)
    positions = expected[..., : N_MODEL_LANDMARKS * 2].astype(np.float64)
    reference = {
        "sequences": 7.0,
        "mean_frames": float(np.mean(block.lengths)),
        "resampled_share": float(np.mean(block.lengths > config.max_len)),
        "zero_share": float(np.mean(positions == 0)),
        "feature_abs_mean": float(np.mean(np.abs(positions))),
        "feature_std": float(np.std(positions)),
    }
    assert stats.result() == pytest.approx(reference, rel=1e-6)
    assert stats.result()["resampled_share"] == pytest.approx(2 / 7)  # 40 and 70 frames
