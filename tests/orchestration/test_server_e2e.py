"""Server mode, executed: the pipeline on agents, the server and the CI scripts against the ClearML stand-in.

The stand-in (``tests/clearml_standin``) serves ClearML's API and files on loopback, and real
``clearml-agent`` daemons take the tasks from the ``cpu``, ``gpu`` and ``services`` queues and run
them from a ``file://`` clone of this repository's committed HEAD. Every test here runs the
product's own command lines in subprocesses pointed at it, as a user's laptop would be.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.clearml_standin.fixtures import REPO, StandIn, make_git_origin, start_standin

pytestmark = pytest.mark.slow

DATA_STEPS = ["data_splitting", "data_augmentation", "data_transformation"]
# Training cut short: the point is the path through the server and agents, not accuracy. The stand-in's
# "gpu" agent has no GPU, so training must not demand one.
FAST = [
    "--set", "train_gislr.require_gpu=false",
    "--set", "train_convnexttiny.require_gpu=false",
    "--set", "train_gislr.epochs=2",
    "--set", "train_convnexttiny.epochs=1",
    "--set", "train_convnexttiny.max_train_samples=32",
    "--set", "hyperparameter_tuning.total_max_jobs=1",
    "--set", "hyperparameter_tuning.max_number_of_concurrent_tasks=1",
    "--set", "hyperparameter_tuning.poll_minutes=0.05",
]  # fmt: skip


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working clone whose origin is a ``file://`` bare repository: what agents clone and check out."""
    _origin, work = make_git_origin(tmp_path_factory.mktemp("git"))
    return work


def launch(standin: StandIn, repo: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``pipeline_from_tasks.py`` from the clone, in server mode against the stand-in."""
    return subprocess.run(
        [sys.executable, "pipeline_from_tasks.py", "--cpu-queue", "cpu", "--gpu-queue", "gpu", *FAST, *args],
        cwd=repo,
        env=standin.subprocess_env(TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def query(standin: StandIn, repo: Path, code: str, timeout: float = 300, **env: str) -> Any:
    """Run ``code`` with the ClearML SDK against the stand-in; it binds ``result``, returned as JSON."""
    script = textwrap.dedent(code) + "\nimport json\nprint('RESULT=' + json.dumps(result, default=str))\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=repo,
        env=standin.subprocess_env(TF_CPP_MIN_LOG_LEVEL="2", **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    line = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("RESULT="))
    return json.loads(line.removeprefix("RESULT="))


def explain(done: subprocess.CompletedProcess, standin: StandIn) -> str:
    return f"exit {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-4000:]}\n{standin.log()[-6000:]}"


def test_a_refused_run_registers_no_dataset(clearml_standin: StandIn, repo: Path) -> None:
    done = launch(clearml_standin, repo, "--gpu-queue", "nobody")
    assert done.returncode != 0, explain(done, clearml_standin)
    assert "queue 'nobody'" in done.stderr and "nothing was enqueued" in done.stderr
    listing = "from clearml import Dataset\nresult = Dataset.list_datasets(dataset_project='pose2gloss')"
    datasets = query(clearml_standin, repo, listing)
    assert datasets == []


def test_a_registration_killed_mid_upload_is_uploaded_again(clearml_standin: StandIn, repo: Path, tmp_path) -> None:
    """A version whose upload never finished is not "the" version of its folder.

    ``Dataset.create`` leaves its task in progress until ``finalize``; a registration killed in
    between is stopped (by hand, or by the server's non-responsive watchdog), and
    ``Dataset.list_datasets(only_completed=True)`` offers "stopped" versions with the completed ones.
    """
    data = tmp_path / "killed"
    outcome = query(
        clearml_standin,
        repo,
        f"""
        from clearml import Dataset, Task
        from pose2gloss.data.synthetic import generate_sample
        from pose2gloss.orchestration import datasets
        root = generate_sample("{data}", n_signs=2, n_participants=2, sequences_per_sign=1, seed=5)
        tag = datasets.FINGERPRINT_TAG + datasets.fingerprint(root)
        killed = Dataset.create(
            dataset_name=datasets.DATASET_NAME, dataset_project=datasets.DATASET_PROJECT, dataset_tags=[tag]
        )
        Task.get_task(task_id=killed.id).mark_stopped(force=True)
        offered = Dataset.list_datasets(dataset_project=datasets.DATASET_PROJECT, tags=[tag], only_completed=True)
        fresh = datasets.register_dataset(root)
        again = datasets.register_dataset(root)
        result = {{"killed": killed.id, "offered": [d["id"] for d in offered], "fresh": fresh, "again": again}}
        """,
    )
    assert outcome["offered"] == [outcome["killed"]], outcome  # the SDK's "completed" includes stopped
    assert outcome["fresh"] != outcome["killed"]
    assert outcome["again"] == outcome["fresh"], f"a finished upload of the same folder is reused: {outcome}"


PR = "7"  # the second run is a pull request's: CI runs it with --no-promote and tags it
WAIT_FOR_CONTROLLER = """
import time
from clearml import Task
hidden = {"search_hidden": True, "_allow_extra_fields_": True}
newest = Task.get_tasks(task_filter={"type": ["controller"], "order_by": ["-created"], **hidden})[0]
deadline = time.time() + 900
while newest.get_status() not in ("completed", "failed", "stopped") and time.time() < deadline:
    time.sleep(2)
steps = {t.name: t for t in Task.get_tasks(task_filter={"parent": newest.id, **hidden})}
evaluation = steps.get("model_evaluation")
result = {
    "pipeline_id": newest.id, "status": newest.get_status(), "created": newest.data.created.timestamp(),
    "steps": {name: t.get_status() for name, t in steps.items()},
    "training_inputs": steps["train_gislr"].get_parameters()["General/transform_task_id"] if "train_gislr" in steps
                       else None,
    "promotion": evaluation.artifacts["promotion"].get() if evaluation and "promotion" in evaluation.artifacts
                 else None,
    "tags": newest.get_tags(),
}
"""


@pytest.fixture(scope="module")
def two_runs(clearml_standin: StandIn, repo: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The sample pipeline twice in a row on the agents. The first from this machine (its summary); the
    second as CI runs a pull request's (--no-promote, tagged), its controller enqueued on the services
    agent (the launcher returns at once): what the server recorded of it."""
    out = tmp_path_factory.mktemp("runs")
    summary = out / "summary1.json"
    done = launch(clearml_standin, repo, "--runs-dir", str(out / "runs"), "--summary", str(summary))
    assert done.returncode == 0, explain(done, clearml_standin)
    first = json.loads(summary.read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    pr_run = ["--no-promote", "--tag", f"pr-{PR}", "--tag", f"sha-{head}", "--controller-queue", "services"]
    started = time.time()
    done = launch(clearml_standin, repo, "--runs-dir", str(out / "runs"), *pr_run, timeout=300)
    assert done.returncode == 0, explain(done, clearml_standin)
    assert "enqueueing the pipeline controller on 'services'" in done.stdout
    launcher_s = time.time() - started
    second = query(clearml_standin, repo, WAIT_FOR_CONTROLLER, timeout=1000)
    assert second["created"] >= started - 5 and second["pipeline_id"] != first["pipeline_id"]
    return [first, {**second, "launcher_s": launcher_s}]


def test_two_runs_in_a_row_complete_the_second_on_the_services_agent_reusing_the_data_steps(
    clearml_standin: StandIn, two_runs: list[dict]
) -> None:
    first, second = two_runs
    assert first["status"] == "completed" and first["offline"] is False and first["reused_steps"] == []
    assert first["promotion"]["case"] == "no_production" and first["promotion"]["promote"]
    assert Path(first["tflite_path"]).is_file()
    # the second: the launcher returned while its controller ran on the agent, to completion
    assert second["launcher_s"] < 240
    assert second["status"] == "completed", f"{second}\n{clearml_standin.log()[-6000:]}"
    assert set(second["steps"].values()) == {"completed"}
    # ClearML's step cache: steps 1-3 are the first run's tasks (not children of this controller)
    assert not set(DATA_STEPS) & set(second["steps"])
    assert second["training_inputs"] == {n["name"]: n["task_id"] for n in first["nodes"]}["data_transformation"]
    # step 7 read production's record back (the first run's bundle model), compared, and moved nothing
    assert second["promotion"]["case"] != "no_production" and second["promotion"]["applied"] is False
    assert {f"pr-{PR}"} <= set(second["tags"])


def test_cicd_scripts_find_the_runs_by_commit(clearml_standin: StandIn, repo: Path, two_runs: list[dict]) -> None:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    env = clearml_standin.subprocess_env()
    report = subprocess.run(
        [sys.executable, "cicd/pipeline_reports.py", "--commit", commit[:12]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, explain(report, clearml_standin)
    # the newest run of the commit is the second, named "pose2gloss-pipeline #2" by the controller
    assert two_runs[1]["pipeline_id"] in report.stdout
    names = query(
        clearml_standin,
        repo,
        """
        from clearml import Task
        result = sorted(t.name for t in Task.get_tasks(task_filter={"type": ["controller"], "search_hidden": True,
                        "_allow_extra_fields_": True}))
        """,
    )
    assert "pose2gloss-pipeline" in names and "pose2gloss-pipeline #2" in names
    gate = subprocess.run(
        [sys.executable, "cicd/production_tagging.py", "--check", "--commit", commit[:12]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert gate.returncode in (0, 1), explain(gate, clearml_standin)
    assert two_runs[1]["pipeline_id"] in gate.stdout + gate.stderr
    # by the tags the pull request's run was given
    tagged = subprocess.run(
        [sys.executable, "cicd/pipeline_reports.py", "--tag", f"pr-{PR}"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert tagged.returncode == 0 and two_runs[1]["pipeline_id"] in tagged.stdout, explain(tagged, clearml_standin)


def production_pipeline(standin: StandIn, repo: Path) -> str:
    return query(
        standin,
        repo,
        "from cicd.runs import ServerRuns\nfound = ServerRuns().production()\nresult = found and found.pipeline_id",
    )


def test_a_pull_request_moves_nothing_and_its_merge_moves_production(
    clearml_standin: StandIn, repo: Path, two_runs: list[dict]
) -> None:
    first, second = two_runs
    assert production_pipeline(clearml_standin, repo) == first["pipeline_id"]
    env = clearml_standin.subprocess_env()
    check = subprocess.run(
        [sys.executable, "cicd/production_tagging.py", "--check", "--run", second["pipeline_id"]],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert check.returncode in (0, 1), explain(check, clearml_standin)
    assert "McNemar" in check.stdout and "check only, nothing moved" in check.stdout
    assert production_pipeline(clearml_standin, repo) == first["pipeline_id"]  # the gate moved nothing

    from tests.fake_github import FakeGitHub

    github = FakeGitHub()
    merge_commit = "f" * 40
    github.pulls_of_commit = {merge_commit: [{"number": int(PR), "merged_at": "2026-12-03", "head": {"sha": "0" * 40}}]}
    env.update(GITHUB_API_URL=github.start(), GITHUB_REPOSITORY=github.repository, GITHUB_TOKEN="test-token")
    try:
        merge = subprocess.run(
            [sys.executable, "cicd/production_tagging.py", "--merged-commit", merge_commit],
            cwd=repo, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        github.stop()
    # the merge found the pull request's run by its tag, re-checked it, and moved production if it passed
    assert merge.returncode == check.returncode, explain(merge, clearml_standin)
    moved = production_pipeline(clearml_standin, repo)
    assert moved == (second["pipeline_id"] if check.returncode == 0 else first["pipeline_id"])


def test_the_server_loads_the_production_model_from_clearml(
    clearml_standin: StandIn, repo: Path, two_runs: list[dict]
) -> None:
    done = subprocess.run(
        [sys.executable, "cicd/deploy_check.py", "--require-clearml", "--timeout", "180"],
        cwd=repo,
        env=clearml_standin.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, explain(done, clearml_standin)
    report = json.loads(done.stdout.splitlines()[0])
    assert report["ready"]["source"] == "clearml" and report["prediction"]["predictions"]


def task_ids(summary: dict) -> dict[str, str]:
    return {n["name"]: n["task_id"] for n in summary["nodes"]}


def test_step1_fetches_the_index_and_sign_map_not_the_landmarks(
    clearml_standin: StandIn, repo: Path, two_runs: list[dict], tmp_path: Path
) -> None:
    split = task_ids(two_runs[0])["data_splitting"]
    files = query(
        clearml_standin,
        repo,
        f"""
        from clearml import Task
        from pose2gloss.orchestration import artifacts
        from pose2gloss.orchestration.datasets import resolve_data_root
        source = artifacts.artifact_json("{split}", "source")
        root = resolve_data_root(source["dataset_id"], "", index_only=True)
        result = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        """,
        CLEARML_CACHE_DIR=str(tmp_path / "cache"),  # nothing fetched before
    )
    assert files == ["sign_to_prediction_index_map.json", "train.csv"]


def test_reading_shards_makes_room_for_them_in_the_download_cache(
    clearml_standin: StandIn, repo: Path, two_runs: list[dict]
) -> None:
    augment = task_ids(two_runs[0])["data_augmentation"]
    shards, limit = query(
        clearml_standin,
        repo,
        f"""
        from clearml import StorageManager
        from pose2gloss.orchestration import artifacts
        splits = [artifacts.sharded_split("{augment}", f"{{name}}_points") for name in ("train", "val", "test")]
        result = [sum(len(s.index["shards"]) for s in splits), StorageManager.set_cache_file_limit(1)]
        """,
    )
    # every shard one process reads stays cached next to ClearML's default 100 files: an epoch never re-downloads
    assert shards >= 3 and limit >= 100 + shards


def test_published_weights_survive_their_local_file_and_empty_tags_clear(
    clearml_standin: StandIn, repo: Path, two_runs: list[dict]
) -> None:
    result = query(
        clearml_standin,
        repo,
        """
        import os, tempfile
        from pathlib import Path
        from clearml import Model, Task
        from pose2gloss.orchestration import registry
        task = Task.init(project_name="pose2gloss-tests", task_name="publish", output_uri=True)
        weights = Path(tempfile.mkdtemp()) / "model.weights.h5"
        weights.write_bytes(os.urandom(1 << 20))
        expected = weights.read_bytes()
        model_id = registry.publish_output_model(task, weights, "GISLR")
        weights.unlink()  # a step's temporary folder is gone as soon as publishing returns
        model = Model(model_id=model_id)
        registry.set_model_tags(model, [])
        result = {
            "same_bytes": Path(Model(model_id=model_id).get_local_copy(raise_on_error=True)).read_bytes() == expected,
            "published": Model(model_id=model_id).published,
            "tags": Model(model_id=model_id).tags,
        }
        task.close()
        """,
    )
    assert result == {"same_bytes": True, "published": True, "tags": []}


def test_a_trial_no_agent_takes_is_stopped_at_the_job_limit(
    clearml_standin: StandIn, repo: Path, two_runs: list[dict]
) -> None:
    selection = task_ids(two_runs[0])["model_selection"]
    query(
        clearml_standin,
        repo,
        "from clearml.backend_api.session.client import APIClient\nresult = APIClient().queues.create(name='idle').id",
    )
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pose2gloss.step6_hyperparameter_tuning",
            "--selection_task_id",
            selection,
            "--execution_queue",
            "idle",
            "--total_max_jobs",
            "1",
            "--max_number_of_concurrent_tasks",
            "1",
            "--time_limit_per_job_minutes",
            "0.2",
            "--poll_minutes",
            "0.02",
        ],  # fmt: skip
        cwd=repo,
        env=clearml_standin.subprocess_env(TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    # the only trial waited in a queue no agent serves: it is stopped at its limit, and the search fails saying why
    assert done.returncode != 0, explain(done, clearml_standin)
    assert "no agent took it from 'idle'" in done.stdout + done.stderr, explain(done, clearml_standin)
    assert time.monotonic() - started < 240


def test_a_step_whose_agent_died_fails_and_says_so(tmp_path: Path) -> None:
    """The server's watchdog force-stops a running task that went silent (its runtime died): that step has
    failed, not been aborted, even when the controller's batched status poll is all that saw the change."""
    standin = start_standin(tmp_path / "standin", (), 60.0, "--nonresponsive-after", "2")
    try:
        verdict = query(
            standin,
            REPO,
            """
            import time
            from clearml import Task
            from pose2gloss.orchestration.pipeline.jobs import ServerStepJob
            draft = Task.create(project_name="pose2gloss-tests", task_name="step on a runtime that dies")
            job = ServerStepJob(base_task_id=draft.id, disable_clone_task=True)
            Task.get_task(task_id=draft.id).mark_started(force=True)  # the agent starts it, then dies silently
            deadline = time.time() + 30
            while Task.get_task(task_id=draft.id).get_status() == "in_progress" and time.time() < deadline:
                time.sleep(0.5)
            ServerStepJob.update_status_batch([job])  # how the controller polls its running nodes
            result = {"stopped": job.is_stopped(), "failed": job.is_failed(), "aborted": job.is_aborted(),
                      "failure": job.failure()}
            """,
        )
    finally:
        assert standin.stop() == 0
    assert verdict["stopped"] and verdict["failed"] and not verdict["aborted"], verdict
    assert "agent stopped responding" in verdict["failure"]


def test_a_clone_of_the_pipeline_enqueued_with_another_dataset_trains_on_it(
    clearml_standin: StandIn, repo: Path, two_runs: list[dict], tmp_path: Path
) -> None:
    """What cicd/trigger.py's TriggerScheduler does when a dataset version is tagged: clone the production
    pipeline, set its ``Args/dataset_id`` to the new version and enqueue it on the services queue. The
    clone's controller must build its DAG on the new id; a two-signer set then stops it at step 1."""
    data = tmp_path / "two-signers"
    new_id = query(
        clearml_standin,
        repo,
        f"""
        from pose2gloss.data.synthetic import generate_sample
        from pose2gloss.orchestration.datasets import register_dataset
        generate_sample("{data}", n_signs=2, n_participants=2, sequences_per_sign=2, seed=3)
        result = register_dataset("{data}")
        """,
    )
    outcome = query(
        clearml_standin,
        repo,
        f"""
        import time
        from clearml import Task
        from cicd.trigger import DATASET_PARAMETER
        clone = Task.clone(source_task="{two_runs[0]["pipeline_id"]}", name="retrain on a tagged dataset")
        clone.set_parameter(DATASET_PARAMETER, "{new_id}")
        Task.enqueue(clone, queue_name="services")
        deadline = time.time() + 400
        while clone.get_status() not in ("completed", "failed", "stopped") and time.time() < deadline:
            time.sleep(2)
        steps = Task.get_tasks(task_filter={{"parent": clone.id, "search_hidden": True, "_allow_extra_fields_": True}})
        split = next((t for t in steps if t.name == "data_splitting"), None)
        result = {{"status": clone.get_status(), "steps": {{t.name: t.get_status() for t in steps}},
                  "dataset": split and split.get_parameters().get("General/dataset_id"),
                  "message": split and split.data.status_message}}
        """,
        timeout=500,
    )
    assert outcome["dataset"] == new_id, f"{outcome}\n{clearml_standin.log()[-4000:]}"
    assert outcome["steps"]["data_splitting"] == "failed" and outcome["status"] == "failed", outcome
