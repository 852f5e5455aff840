"""Where the data comes from: only the sample is ever generated, too few participants is an error with a way
out (split_by=sequence), and dataset versions are separate lineages reused by content."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pose2gloss.data.split import check_participants, make_manifest, split_by_sequence
from pose2gloss.data.synthetic import generate_sample
from pose2gloss.orchestration import datasets

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def one_signer(tmp_path_factory):
    return generate_sample(
        tmp_path_factory.mktemp("one_signer"), n_signs=4, n_participants=1, sequences_per_sign=7, seed=0
    )


def test_too_few_participants_says_how_many_and_what_to_do(one_signer):
    with pytest.raises(ValueError, match=r"1 participant\(s\).*needs at least 3.*split_by=sequence"):
        make_manifest(one_signer)
    check_participants(make_index(3), val_fraction=0.15, test_fraction=0.15)
    check_participants(make_index(2), val_fraction=0.2, test_fraction=0.0)
    with pytest.raises(ValueError, match="2 participant"):
        check_participants(make_index(2), val_fraction=0.2, test_fraction=0.1)


def make_index(n_participants):
    import pandas as pd

    return pd.DataFrame({"participant_id": list(range(n_participants)) * 2, "label": [0, 1] * n_participants})


def test_split_by_sequence_is_stratified_by_sign(one_signer):
    manifest = make_manifest(one_signer, split_by="sequence", val_fraction=0.15, test_fraction=0.15, seed=1)
    per_sign = manifest.groupby(["label", "split"]).size().unstack(fill_value=0)
    assert (per_sign["train"] == 5).all() and (per_sign["val"] == 1).all() and (per_sign["test"] == 1).all()
    assert manifest["participant_id"].nunique() == 1
    again = make_manifest(one_signer, split_by="sequence", seed=1)
    assert again["split"].equals(manifest["split"])
    assert not make_manifest(one_signer, split_by="sequence", seed=2)["split"].equals(manifest["split"])
    with pytest.raises(ValueError, match="split_by must be"):
        make_manifest(one_signer, split_by="signer")


def test_split_by_sequence_keeps_a_single_sequence_in_training():
    import pandas as pd

    index = pd.DataFrame({"participant_id": [1, 1, 1], "label": [0, 1, 1]})
    result = split_by_sequence(index, val_fraction=0.4, test_fraction=0.4)
    assert result.loc[0, "split"] == "train"
    assert sorted(result.loc[1:, "split"]) in (["train", "val"], ["test", "train"])


def test_only_the_sample_folder_is_ever_generated(tmp_path, monkeypatch):
    typo = tmp_path / "asl-signz"
    with pytest.raises(FileNotFoundError, match=r"asl-signz is not a GISLR data folder: missing the folder itself"):
        datasets.local_data_root(typo)
    assert not typo.exists()
    (typo / "train_landmark_files").mkdir(parents=True)
    (typo / "train.csv").write_text("path,participant_id,sequence_id,sign\n")
    with pytest.raises(FileNotFoundError, match="missing sign_to_prediction_index_map.json"):
        datasets.local_data_root(typo)
    monkeypatch.chdir(tmp_path)
    assert datasets.is_sample_dir("data/sample") and not datasets.is_sample_dir(typo)


def test_pipeline_with_a_mistyped_data_dir_ends_at_once(tmp_path):
    env = {**os.environ, "CLEARML_OFFLINE_MODE": "1"}
    done = subprocess.run(
        [sys.executable, "pipeline_from_tasks.py", "--data-dir", str(tmp_path / "nope"), "--runs-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert f"{tmp_path / 'nope'} is not a GISLR data folder" in done.stderr
    assert not (tmp_path / "nope").exists()


def test_fingerprint_follows_the_content(tmp_path):
    root = generate_sample(tmp_path / "d", n_signs=2, n_participants=3, sequences_per_sign=1, seed=0)
    first = datasets.fingerprint(root)
    assert datasets.fingerprint(root) == first
    parquet = next(root.rglob("*.parquet"))
    parquet.write_bytes(parquet.read_bytes() + b"x")
    assert datasets.fingerprint(root) != first


class FakeDataset:
    """ClearML's Dataset API as register_dataset uses it, recording the calls."""

    existing: list[dict] = []
    calls: list[tuple] = []

    @classmethod
    def list_datasets(cls, **kwargs):
        """As clearml's Dataset.list_datasets: ``only_completed`` keeps these statuses, "stopped" among them,
        and each status is the API's enum (which does not equal its name)."""
        from clearml.backend_api.services import tasks

        cls.calls.append(("list", kwargs))
        statuses = ("stopped", "published", "completed", "closed") if kwargs.get("only_completed") else None
        return [
            {**d, "status": tasks.TaskStatusEnum(d["status"])}
            for d in cls.existing
            if set(kwargs["tags"]) <= set(d["tags"]) and (statuses is None or d["status"] in statuses)
        ]

    @classmethod
    def create(cls, **kwargs):
        cls.calls.append(("create", kwargs))
        return cls()

    id = "new-version"

    def sync_folder(self, local_path):
        self.calls.append(("sync_folder", local_path))

    def add_files(self, path):
        self.calls.append(("add_files", Path(path).name))

    def upload(self, show_progress):
        self.calls.append(("upload",))

    def finalize(self):
        self.calls.append(("finalize",))


def test_dataset_versions_have_no_parent_and_unchanged_folders_are_reused(tmp_path, monkeypatch):
    import clearml

    monkeypatch.setattr(clearml, "Dataset", FakeDataset)
    root = generate_sample(tmp_path / "d", n_signs=2, n_participants=3, sequences_per_sign=1, seed=0)
    FakeDataset.calls, FakeDataset.existing = [], []
    assert datasets.register_dataset(root) == "new-version"
    kinds = [c[0] for c in FakeDataset.calls]
    # the index and the sign map first, in an upload (a chunk) of their own; then the landmark files
    assert kinds == ["list", "create", "add_files", "add_files", "upload", "sync_folder", "upload", "finalize"]
    assert {c[1] for c in FakeDataset.calls if c[0] == "add_files"} == set(datasets.INDEX_FILES)
    assert FakeDataset.calls[0][1]["only_completed"] is True
    created = FakeDataset.calls[1][1]
    assert "parent_datasets" not in created
    tag = created["dataset_tags"][0]
    assert tag == datasets.FINGERPRINT_TAG + datasets.fingerprint(root)

    FakeDataset.calls, FakeDataset.existing = [], [{"id": "old-version", "tags": [tag], "status": "completed"}]
    assert datasets.register_dataset(root) == "old-version"
    assert [c[0] for c in FakeDataset.calls] == ["list"]


def test_a_version_whose_upload_was_killed_is_uploaded_again_not_reused(tmp_path, monkeypatch, capsys):
    import clearml

    monkeypatch.setattr(clearml, "Dataset", FakeDataset)
    root = generate_sample(tmp_path / "d", n_signs=2, n_participants=3, sequences_per_sign=1, seed=0)
    tag = datasets.FINGERPRINT_TAG + datasets.fingerprint(root)
    killed = {"id": "killed-version", "tags": [tag], "status": "stopped"}
    FakeDataset.calls, FakeDataset.existing = [], [killed, {"id": "running", "tags": [tag], "status": "in_progress"}]
    assert datasets.register_dataset(root) == "new-version"
    assert [c[0] for c in FakeDataset.calls][-1] == "finalize"
    assert "killed-version" in capsys.readouterr().out

    FakeDataset.calls, FakeDataset.existing = [], [killed, {"id": "published", "tags": [tag], "status": "published"}]
    assert datasets.register_dataset(root) == "published"


def test_summary_marks_a_sequence_split_as_not_participant_independent():
    from pose2gloss.orchestration import pipeline

    source = {"sequences": 28, "split_by": "sequence", "per_split": {"train": 20, "val": 4, "test": 4}}
    summary = {"nodes": [], **pipeline.decisions({"data_splitting": source})}
    assert summary["split"]["participant_independent"] is False
    text = "\n".join(pipeline.format_decisions(summary))
    assert "NOT participant-independent" in text and "train 20, val 4, test 4" in text
    json.dumps(summary)
