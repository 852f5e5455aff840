import subprocess
import sys
import time

import pytest

from pose2gloss.orchestration.pipeline import build_steps
from pose2gloss.orchestration.resources import Stored, stored_offline, wait_with_usage
from pose2gloss.orchestration.reuse import DATA_STEPS, StepCache, data_version, link_sessions, step_keys, substitute


def keys(overrides=None, data="v1", code="c1"):
    return step_keys(build_steps(overrides), data, code)


def test_keys_follow_data_code_and_parameters_down_the_data_steps():
    base = keys()
    assert list(base) == list(DATA_STEPS)
    assert keys() == base
    assert all(keys(data="v2")[name] != base[name] for name in DATA_STEPS)
    assert all(keys(code="c2")[name] != base[name] for name in DATA_STEPS)
    augment = keys({"data_augmentation": {"multiplier": 3}})
    assert augment["data_splitting"] == base["data_splitting"]
    assert augment["data_augmentation"] != base["data_augmentation"]
    assert augment["data_transformation"] != base["data_transformation"]  # its parent changed
    assert keys({"train_gislr": {"epochs": 1}}) == base  # later steps are not part of the key


def test_data_version_changes_with_the_index_or_any_file_size(tmp_path):
    from pose2gloss.data.synthetic import generate_sample

    root = generate_sample(tmp_path, n_signs=2, n_participants=2, sequences_per_sign=1, seed=0)
    first = data_version(root)
    assert data_version(root) == first and first.startswith("content-sha256:")
    assert data_version(root, dataset_id="abc") == "dataset:abc"
    parquet = next(root.rglob("*.parquet"))
    parquet.write_bytes(parquet.read_bytes() + b"\0")
    assert data_version(root) != first


def test_the_cache_reuses_a_prefix_of_steps_whose_sessions_still_exist(tmp_path):
    sessions = tmp_path / "run1" / "offline"
    for task_id in ("t1", "t2", "t3"):
        (sessions / task_id).mkdir(parents=True)
        (sessions / task_id / "task.json").write_text("{}")
    cache = StepCache(tmp_path / "step_cache.json")
    assert cache.lookup(keys()) == {}
    tasks = dict(zip(DATA_STEPS, ("t1", "t2", "t3"), strict=True))
    cache.record(keys(), tasks, sessions)
    found = cache.lookup(keys())
    assert {name: entry["task_id"] for name, entry in found.items()} == tasks
    changed = keys({"data_transformation": {"max_len": 32}})
    assert list(cache.lookup(changed)) == ["data_splitting", "data_augmentation"]
    (sessions / "t2" / "task.json").unlink()
    assert list(cache.lookup(keys())) == ["data_splitting"]  # step 3 is not reused without its parent
    assert cache.lookup(keys(data="v2")) == {}

    here = tmp_path / "run2" / "offline"
    link_sessions(found, here)
    assert (here / "t1" / "task.json").is_file() and (here / "t1").is_symlink()


def test_references_to_reused_steps_become_their_task_ids():
    params = {"split_task_id": "${data_splitting.id}", "model_name": "GISLR", "epochs": 3}
    assert substitute(params, {"data_splitting": "offline-1"}) == {**params, "split_task_id": "offline-1"}
    assert substitute(params, {}) == params


def test_stored_bytes_count_session_zip_and_artifacts_with_model_files_apart(tmp_path):
    sessions = tmp_path / "offline"
    (sessions / "t1").mkdir(parents=True)
    (sessions / "t1" / "task.json").write_bytes(b"x" * 10)
    (sessions / "t1.zip").write_bytes(b"x" * 5)
    artifacts = tmp_path / "artifacts" / "pose2gloss" / "step.t1" / "artifacts"
    (artifacts / "train_points.slash.train-00000").mkdir(parents=True)
    (artifacts / "train_points.slash.train-00000" / "train-00000.npz").write_bytes(b"x" * 100)
    (artifacts / "model").mkdir()
    (artifacts / "model" / "model.weights.h5").write_bytes(b"x" * 1000)
    (artifacts / "bundle").mkdir()
    (artifacts / "bundle" / "bundle.zip").write_bytes(b"x" * 2000)
    assert stored_offline("t1", sessions) == Stored(115, 3000)
    assert stored_offline("t2", sessions) == Stored()


def test_a_finished_child_reports_its_exit_code_and_peak_memory():
    code = "import numpy as np, sys; a = np.ones(200 * 2**20 // 8); sys.exit(3)"
    child = subprocess.Popen([sys.executable, "-c", code])
    ended = None
    while ended is None:
        time.sleep(0.05)
        ended = wait_with_usage(child.pid)
    exit_code, peak = ended
    assert exit_code == 3 and peak > 200 * 2**20


@pytest.mark.parametrize("bad", [0, -1])
def test_shard_size_must_be_positive(tmp_path, bad):
    from pose2gloss.data.shards import write_split

    with pytest.raises(ValueError, match="shard_size"):
        write_split([], tmp_path, "train", bad)
