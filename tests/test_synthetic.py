"""The synthetic sample must look exactly like the real GISLR data, be reproducible and be learnable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pose2gloss.data import load_index, load_sequence
from pose2gloss.data.signs import GISLR_SIGNS
from pose2gloss.data.synthetic import (
    MAX_FRAMES,
    MIN_FRAMES,
    generate_sample,
    main,
    sample_signs,
)
from pose2gloss.landmarks import (
    LANDMARK_TYPES,
    N_LANDMARKS,
    PARQUET_COLUMNS,
    TYPE_SIZES,
    model_landmark_indices,
)

SMALL = {"n_signs": 5, "n_participants": 3, "sequences_per_sign": 2}
N_SMALL = 5 * 3 * 2


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_sample(tmp_path_factory.mktemp("sample"), seed=0, **SMALL)


@pytest.fixture(scope="module")
def index(sample: Path) -> pd.DataFrame:
    return pd.read_csv(sample / "train.csv")


def _tables(sample: Path, index: pd.DataFrame) -> list[pa.Table]:
    return [pq.read_table(sample / path) for path in index["path"]]


def _file_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def _frame_layout() -> tuple[list[str], np.ndarray]:
    types = [t for t in LANDMARK_TYPES for _ in range(TYPE_SIZES[t])]
    indices = np.concatenate([np.arange(TYPE_SIZES[t]) for t in LANDMARK_TYPES])
    return types, indices


def test_writes_the_gislr_files(sample: Path) -> None:
    assert (sample / "train.csv").is_file()
    assert (sample / "sign_to_prediction_index_map.json").is_file()
    assert (sample / "train_landmark_files").is_dir()
    assert len(list((sample / "train_landmark_files").rglob("*.parquet"))) == N_SMALL


def test_train_csv_matches_the_files(sample: Path, index: pd.DataFrame) -> None:
    assert list(index.columns) == ["path", "participant_id", "sequence_id", "sign"]
    assert len(index) == N_SMALL
    assert index["sequence_id"].is_unique
    assert (index["sequence_id"] >= 10**9).all()
    assert index["participant_id"].between(10_000, 99_999).all()
    assert index["participant_id"].nunique() == SMALL["n_participants"]
    for row in index.itertuples():
        assert row.path == f"train_landmark_files/{row.participant_id}/{row.sequence_id}.parquet"
        assert (sample / row.path).is_file()
    assert set(index["sign"]) == set(sample_signs(SMALL["n_signs"]))
    per_sign = SMALL["n_participants"] * SMALL["sequences_per_sign"]
    assert (index["sign"].value_counts() == per_sign).all()


def test_sign_map_is_the_full_vocabulary(sample: Path) -> None:
    mapping = json.loads((sample / "sign_to_prediction_index_map.json").read_text())
    assert mapping == {sign: i for i, sign in enumerate(GISLR_SIGNS)}


def test_sample_signs_are_real_and_spread() -> None:
    assert sample_signs(250) == GISLR_SIGNS
    signs = sample_signs(25)
    assert len(set(signs)) == 25 and set(signs) <= set(GISLR_SIGNS)
    assert signs[0] == GISLR_SIGNS[0] and signs[-1] == GISLR_SIGNS[-1]


def test_parquet_schema_and_row_order(sample: Path, index: pd.DataFrame) -> None:
    types, indices = _frame_layout()
    lengths = set()
    for table in _tables(sample, index):
        assert tuple(table.column_names) == PARQUET_COLUMNS
        assert table.schema.field("frame").type == pa.int16()
        assert table.schema.field("landmark_index").type == pa.int16()
        assert table.schema.field("row_id").type == pa.string()
        assert table.schema.field("type").type == pa.string()
        assert all(pa.types.is_floating(table.schema.field(c).type) for c in ("x", "y", "z"))
        assert table.num_rows % N_LANDMARKS == 0
        n_frames = table.num_rows // N_LANDMARKS
        lengths.add(n_frames)
        assert MIN_FRAMES <= n_frames <= MAX_FRAMES
        frames = table.column("frame").to_numpy().reshape(n_frames, N_LANDMARKS)
        assert (frames == frames[:, :1]).all()
        assert frames[0, 0] > 0
        assert (np.diff(frames[:, 0]) == 1).all()
        assert table.column("type").to_pylist() == types * n_frames
        assert (table.column("landmark_index").to_numpy() == np.tile(indices, n_frames)).all()
    assert len(lengths) > 1


def test_row_id_is_frame_type_index(sample: Path, index: pd.DataFrame) -> None:
    frame = pq.read_table(sample / index["path"][0]).to_pandas()
    expected = frame["frame"].astype(str) + "-" + frame["type"] + "-" + frame["landmark_index"].astype(str)
    assert (frame["row_id"] == expected).all()
    assert frame["row_id"][0] == f"{frame['frame'][0]}-face-0"


def test_hands_go_missing_as_nan_rows(sample: Path, index: pd.DataFrame) -> None:
    right_missing, left_absent, left_present = 0, 0, 0
    for path in index["path"]:
        seq = load_sequence(sample / path)
        assert not np.isnan(seq[:, :468]).any() and not np.isnan(seq[:, 489:522]).any()
        for start in (468, 522):
            nan = np.isnan(seq[:, start : start + 21])
            assert (nan.all(axis=(1, 2)) | ~nan.any(axis=(1, 2))).all()
        right = np.isnan(seq[:, 522:, 0]).all(axis=1)
        assert right.mean() < 0.5
        right_missing += int(right.sum())
        left = np.isnan(seq[:, 468:489, 0]).all(axis=1)
        left_absent += int(left.all())
        left_present += int(not left.all())
    assert right_missing > 0
    assert left_absent > 0 and left_present > 0


def test_loads_with_the_reader(sample: Path, index: pd.DataFrame) -> None:
    loaded = load_index(sample)
    assert len(loaded) == N_SMALL
    assert (loaded["label"] == [GISLR_SIGNS.index(s) for s in loaded["sign"]]).all()
    table = pq.read_table(sample / index["path"][0])
    seq = load_sequence(sample / index["path"][0])
    assert seq.dtype == np.float32
    assert seq.shape == (table.num_rows // N_LANDMARKS, N_LANDMARKS, 3)
    xyz = np.stack([table.column(c).to_numpy(zero_copy_only=False) for c in "xyz"], axis=1)
    np.testing.assert_array_equal(seq.reshape(-1, 3), xyz.astype(np.float32))


def test_coordinates_are_in_image_space(sample: Path, index: pd.DataFrame) -> None:
    seq = load_sequence(sample / index["path"][0])
    face = seq[:, :468]
    assert 0.0 < face[..., 0].min() <= face[..., 0].max() < 1.0
    assert 0.0 < face[..., 1].min() <= face[..., 1].max() < 1.0
    assert np.abs(face[..., 2]).max() < 0.1
    hand = seq[:, 522:]
    assert 0.0 < np.nanmedian(hand[..., 0]) < 1.0 and 0.0 < np.nanmedian(hand[..., 1]) < 1.0


def test_same_seed_gives_identical_files(sample: Path, tmp_path: Path) -> None:
    again = generate_sample(tmp_path / "again", seed=0, **SMALL)
    assert _file_hashes(again) == _file_hashes(sample)


def test_different_seed_gives_different_data(sample: Path, tmp_path: Path) -> None:
    other = generate_sample(tmp_path / "other", seed=1, **SMALL)
    assert (other / "train.csv").read_bytes() != (sample / "train.csv").read_bytes()
    first = pd.read_csv(other / "train.csv")["path"][0]
    assert (other / first).read_bytes() not in {p.read_bytes() for p in sample.rglob("*.parquet")}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_signs": 0}, "n_signs"),
        ({"n_signs": 251}, "n_signs"),
        ({"n_participants": 0}, "n_participants"),
        ({"sequences_per_sign": 0}, "sequences_per_sign"),
        ({"seed": -1}, "seed"),
        ({"n_signs": 2.5}, "n_signs"),
        ({"seed": True}, "seed"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        generate_sample(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "train.csv").exists()


def test_cli_writes_a_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--out", str(tmp_path), "--signs", "2", "--participants", "1", "--sequences-per-sign", "1"]
    assert main([*args, "--seed", "5"]) == 0
    assert len(pd.read_csv(tmp_path / "train.csv")) == 2
    assert "wrote 2 sequences" in capsys.readouterr().out


def test_cli_reports_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--signs", "300"]) == 2
    assert "n_signs" in capsys.readouterr().err


def test_signs_are_separable_across_participants(sample: Path, index: pd.DataFrame) -> None:
    """Nearest centroid on per-sequence normalised model landmarks must beat chance on unseen signers."""
    keep = model_landmark_indices()

    def features(path: str) -> np.ndarray:
        xy = load_sequence(sample / path)[:, keep, :2]
        xy = (xy - np.nanmean(xy, axis=(0, 1))) / np.nanstd(xy)
        return np.nan_to_num(xy[np.linspace(0, len(xy) - 1, 16).round().astype(int)]).ravel()

    x = np.stack([features(p) for p in index["path"]])
    signs, people = index["sign"].to_numpy(), index["participant_id"].to_numpy()
    correct = 0
    for person in np.unique(people):
        train, test = people != person, people == person
        labels = np.unique(signs[train])
        centroids = np.stack([x[train][signs[train] == s].mean(axis=0) for s in labels])
        nearest = ((x[test][:, None] - centroids[None]) ** 2).sum(axis=-1).argmin(axis=1)
        correct += int((labels[nearest] == signs[test]).sum())
    assert correct / len(index) >= 0.8
