import json

import numpy as np
import pandas as pd
import pytest

from pose2gloss.data import DataError, PackedSequences, load_index, load_sequence, load_sequences, load_sign_map
from pose2gloss.data.gislr import load_points
from pose2gloss.preprocessing.landmarks import model_points
from tests.gislr_files import random_sequence, sequence_frame, write_dataset, write_sequence


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_load_sequence_shape_order_and_nan(tmp_path, rng):
    sequence = random_sequence(rng, 5)
    path = write_sequence(tmp_path / "a.parquet", sequence, first_frame=37, shuffle_rows=True)
    loaded = load_sequence(path)
    assert loaded.dtype == np.float32
    assert loaded.shape == (5, 543, 3)
    np.testing.assert_array_equal(np.isnan(loaded), np.isnan(sequence))
    np.testing.assert_allclose(loaded, sequence, equal_nan=True)


def test_load_sequence_orders_by_frame_number_not_row_position(tmp_path, rng):
    sequence = random_sequence(rng, 3)
    frame = sequence_frame(sequence, first_frame=100)
    reversed_frames = pd.concat([frame[frame.frame == f] for f in (102, 101, 100)])
    reversed_frames.to_parquet(tmp_path / "r.parquet", index=False)
    np.testing.assert_allclose(load_sequence(tmp_path / "r.parquet"), sequence, equal_nan=True)


def test_load_sequence_accepts_float32_columns_and_gaps_in_frame_numbers(tmp_path, rng):
    sequence = random_sequence(rng, 2)
    frame = sequence_frame(sequence)
    frame[["x", "y", "z"]] = frame[["x", "y", "z"]].astype(np.float32)
    frame.loc[frame.frame == 21, "frame"] = 90
    frame.to_parquet(tmp_path / "g.parquet", index=False)
    np.testing.assert_allclose(load_sequence(tmp_path / "g.parquet"), sequence, equal_nan=True)


def _corrupt(tmp_path, rng, mutate):
    frame = sequence_frame(random_sequence(rng, 2))
    frame = mutate(frame)
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["landmark_index"]), "missing columns"),
        (lambda f: f.drop(columns=["z"]), "missing columns"),  # also where depth is not read
        (lambda f: f.iloc[:-1], "has 542 landmarks"),
        (lambda f: f.assign(x=f["x"].astype(str)), "'x' must be numeric"),
        (lambda f: f.assign(type=f["type"].replace("pose", "body")), "unknown landmark types"),
        (lambda f: f.assign(landmark_index=f["landmark_index"].where(f["type"] != "left_hand", 30)), "out of range"),
        (
            lambda f: f.assign(landmark_index=f["landmark_index"].where(f["landmark_index"] != 1, 0)),
            "repeats a landmark",
        ),
        (lambda f: f.assign(frame=f["frame"].astype(str)), "'frame' must be numeric"),
    ],
)
@pytest.mark.parametrize("load", [load_sequence, load_points])
def test_load_sequence_rejects_corrupt_files_naming_file_and_fault(tmp_path, rng, mutate, message, load):
    path = _corrupt(tmp_path, rng, mutate)
    with pytest.raises(DataError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("shuffle_rows", [False, True])
def test_load_points_is_the_model_points_of_the_sequence(tmp_path, rng, shuffle_rows):
    sequence = random_sequence(rng, 7)
    path = write_sequence(tmp_path / "p.parquet", sequence, shuffle_rows=shuffle_rows)
    points = load_points(path)
    assert points.shape == (7, 89, 2) and points.dtype == np.float32
    np.testing.assert_array_equal(points, model_points(load_sequence(path)))
    np.testing.assert_array_equal(np.isnan(points), np.isnan(model_points(sequence)))


def test_load_sequence_missing_and_non_parquet_files(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_sequence(tmp_path / "nope.parquet")
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not a readable parquet"):
        load_sequence(tmp_path / "text.parquet")


def test_load_index_absolute_paths_and_labels(tmp_path, rng):
    signs = ["TV", "after", "airplane"]
    write_dataset(
        tmp_path,
        {(1, 10): (random_sequence(rng, 2), "airplane"), (2, 11): (random_sequence(rng, 3), "TV")},
        signs,
    )
    index = load_index(tmp_path)
    assert list(index["label"]) == [2, 0]
    assert all(load_sequence(p).shape[1:] == (543, 3) for p in index["path"])
    assert index["path"].map(lambda p: p.startswith(str(tmp_path.resolve()))).all()


def test_load_index_errors(tmp_path, rng):
    with pytest.raises(DataError, match="index file not found"):
        load_index(tmp_path)
    write_dataset(tmp_path, {(1, 10): (random_sequence(rng, 2), "TV")}, ["TV"])
    pd.DataFrame({"path": ["x"], "participant_id": [1], "sequence_id": [2], "sign": ["zebra"]}).to_csv(
        tmp_path / "train.csv", index=False
    )
    with pytest.raises(DataError, match="signs not in"):
        load_index(tmp_path)
    pd.DataFrame({"path": ["x"], "sign": ["TV"]}).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataError, match="missing columns"):
        load_index(tmp_path)


def test_sign_map_must_be_contiguous(tmp_path):
    (tmp_path / "sign_to_prediction_index_map.json").write_text(json.dumps({"a": 0, "b": 2}))
    with pytest.raises(DataError, match="without gaps"):
        load_sign_map(tmp_path)


def test_packed_roundtrip_and_parallel_loading(tmp_path, rng):
    sequences = [random_sequence(rng, n) for n in (1, 4, 2)]
    paths = [write_sequence(tmp_path / f"{i}.parquet", s) for i, s in enumerate(sequences)]
    loaded = load_sequences(paths, workers=2)
    packed = PackedSequences.from_sequences(loaded, [3, 1, 2], meta={"sequence_id": np.array([7, 8, 9])})
    restored = PackedSequences.load(packed.save(tmp_path / "p.npz"))
    assert list(restored.lengths) == [1, 4, 2]
    assert list(restored.meta["sequence_id"]) == [7, 8, 9]
    for original, back in zip(sequences, restored.sequences(), strict=True):
        np.testing.assert_allclose(back, original, equal_nan=True)
    np.testing.assert_allclose(restored.sequence(1), sequences[1], equal_nan=True)


def test_packed_rejects_inconsistent_lengths(rng):
    with pytest.raises(ValueError, match="lengths sum"):
        PackedSequences(random_sequence(rng, 3), np.array([2]), np.array([0]))


def test_load_sequence_from_bytes_names_the_source(tmp_path, rng):
    sequence = random_sequence(rng, 3)
    content = write_sequence(tmp_path / "s.parquet", sequence).read_bytes()
    np.testing.assert_allclose(load_sequence("upload", content=content), sequence, equal_nan=True)
    with pytest.raises(DataError, match="^upload: not a readable parquet"):
        load_sequence("upload", content=b"PAR1garbagePAR1")
