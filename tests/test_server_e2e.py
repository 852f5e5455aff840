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

from tests.clearml_standin.fixtures import StandIn, make_git_origin

pytestmark = pytest.mark.slow

DATA_STEPS = ["data_splitting", "data_augmentation", "data_transformation"]
# Training cut short: the point is the path through the server and agents, not accuracy.
FAST = [
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


def query(standin: StandIn, repo: Path, code: str, timeout: float = 300) -> Any:
    """Run ``code`` with the ClearML SDK against the stand-in; it binds ``result``, returned as JSON."""
    script = textwrap.dedent(code) + "\nimport json\nprint('RESULT=' + json.dumps(result, default=str))\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=repo,
        env=standin.subprocess_env(TF_CPP_MIN_LOG_LEVEL="2"),
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


@pytest.fixture(scope="module")
def two_runs(clearml_standin: StandIn, repo: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The sample pipeline twice in a row on the agents; each run's summary."""
    out = tmp_path_factory.mktemp("runs")
    summaries = []
    for number in (1, 2):
        summary = out / f"summary{number}.json"
        done = launch(clearml_standin, repo, "--runs-dir", str(out / "runs"), "--summary", str(summary))
        assert done.returncode == 0, explain(done, clearml_standin)
        summaries.append({**json.loads(summary.read_text()), "stdout": done.stdout})
    return summaries


def test_two_runs_in_a_row_complete_and_the_second_reuses_the_data_steps(two_runs: list[dict]) -> None:
    first, second = two_runs
    assert first["status"] == second["status"] == "completed" and first["offline"] is False
    assert first["reused_steps"] == []
    assert second["reused_steps"] == DATA_STEPS  # ClearML's step cache: same dataset, code and parameters
    ids = [{n["name"]: n["task_id"] for n in s["nodes"]} for s in two_runs]
    assert all(ids[0][name] == ids[1][name] for name in DATA_STEPS)
    assert ids[0]["train_gislr"] != ids[1]["train_gislr"]
    # step 7 read production's record back (the first run's bundle model) and compared on the same test set
    assert first["promotion"]["case"] == "no_production" and first["promotion"]["promote"]
    assert second["promotion"]["case"] != "no_production", second["promotion"]
    assert Path(second["tflite_path"]).is_file()


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
        [sys.executable, "cicd/production_tagging.py", "--commit", commit[:12]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert gate.returncode in (0, 1), explain(gate, clearml_standin)
    assert two_runs[1]["pipeline_id"] in gate.stdout + gate.stderr


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


def test_the_controller_runs_on_the_services_agent(clearml_standin: StandIn, repo: Path, two_runs: list[dict]) -> None:
    started = time.time()
    done = launch(clearml_standin, repo, "--controller-queue", "services", timeout=300)
    assert done.returncode == 0, explain(done, clearml_standin)
    assert "enqueueing the pipeline controller on 'services'" in done.stdout
    controller = query(
        clearml_standin,
        repo,
        """
        import time
        from clearml import Task
        filters = {"type": ["controller"], "search_hidden": True, "_allow_extra_fields_": True,
                    "order_by": ["-created"]}
        newest = Task.get_tasks(task_filter=filters)[0]
        deadline = time.time() + 600
        while newest.get_status() not in ("completed", "failed", "stopped") and time.time() < deadline:
            time.sleep(2)
        steps = Task.get_tasks(task_filter={"parent": newest.id, "search_hidden": True, "_allow_extra_fields_": True})
        result = {"id": newest.id, "status": newest.get_status(), "created": newest.data.created.timestamp(),
                  "steps": {t.name: t.get_status() for t in steps}}
        """,
        timeout=700,
    )
    assert controller["created"] >= started - 5 and controller["id"] != two_runs[1]["pipeline_id"]
    assert controller["status"] == "completed", f"{controller}\n{clearml_standin.log()[-6000:]}"
    assert controller["steps"]["model_evaluation"] == "completed"
