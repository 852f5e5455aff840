"""The CI scripts: GitHub comments (against a loopback GitHub), the production gate, the remote check, the trigger."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cicd import check_remotely_runnable as remote
from cicd import pipeline_reports, production_tagging, trigger
from cicd.github import GitHub, GitHubError
from cicd.runs import OfflineRuns, RunNotFound, RunView
from pose2gloss.bundle.files import production_metrics, record_production
from pose2gloss.evaluation.promotion import TestSet
from pose2gloss.orchestration import registry
from tests.fake_github import FakeGitHub

SAME = TestSet("index-sha256:d1", "a" * 64, 6)
OTHER = TestSet("index-sha256:d2", "b" * 64, 6)


@pytest.fixture
def github(monkeypatch):
    fake = FakeGitHub()
    url = fake.start()
    monkeypatch.setenv("GITHUB_API_URL", url)
    monkeypatch.setenv("GITHUB_REPOSITORY", fake.repository)
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    yield fake
    fake.stop()


def predictions(correct: list[bool]) -> pd.DataFrame:
    labels = [i % 3 for i in range(len(correct))]
    return pd.DataFrame(
        {
            "sequence_id": range(len(correct)),
            "label": labels,
            "prediction": [label if ok else (label + 1) % 3 for label, ok in zip(labels, correct, strict=True)],
        }
    )


def run_view(pipeline_id: str, top1: float, test_set: TestSet, correct: list[bool] | None = None, link="") -> RunView:
    return RunView(
        pipeline_id,
        "completed",
        "abc123def4567890",
        link or f"https://app.clear.ml/pipelines/{pipeline_id}",
        evaluation={
            "test_top1": top1,
            "test_top5": 0.95,
            "n_test": test_set.sequences,
            "model_name": "GISLR",
            "source": "hpo",
            "test_set": test_set.to_dict(),
        },
        selection={
            "task_id": "t-gislr",
            "candidates": [
                {"task_id": "t-gislr", "model_name": "GISLR", "val_accuracy": 0.81, "val_top5": 0.97, "val_loss": 0.7},
                {"task_id": "t-cnx", "model_name": "ConvNeXtTiny", "val_accuracy": 0.4, "val_top5": 0.7, "val_loss": 2},
            ],
        },
        hpo={
            "mode": "optuna-offline",
            "source": "hpo",
            "best_task_id": "t-trial-1",
            "trials_finished": 1,
            "trials_failed": 1,
            "metrics": {"val_accuracy": 0.83},
            "trials": [
                {"trial": 0, "val_accuracy": 0.83, "val_loss": 0.6, "params": {"learning_rate": 0.001}},
                {"trial": 1, "params": {"learning_rate": 0.1}, "error": "loss became NaN"},
            ],
        },
        predictions=predictions(correct) if correct is not None else None,
    )


# ---------------------------------------------------------------------------------------------
# The GitHub client and the sticky report comment


def test_sticky_comment_is_created_then_updated_over_real_http(github):
    github.comments[7] = [{"id": i, "body": f"unrelated {i}"} for i in range(1, 4)]  # two pages before ours
    client = GitHub.from_env()
    action, created = client.upsert_sticky_comment(7, "marker-x", "first body")
    assert action == "created" and created["body"].endswith("first body")
    action, updated = client.upsert_sticky_comment(7, "marker-x", "second body")
    assert action == "updated" and updated["id"] == created["id"]
    assert [c["body"] for c in github.comments[7] if "marker-x" in c["body"]] == ["<!-- marker-x -->\nsecond body"]
    calls = [(r.method, r.path.split("?")[0]) for r in github.requests]
    listing = "/repos/owner/repo/issues/7/comments"
    patch = ("PATCH", f"/repos/owner/repo/issues/comments/{created['id']}")
    assert calls == [("GET", listing), ("GET", listing), ("POST", listing), ("GET", listing), ("GET", listing), patch]
    assert all(r.headers["Authorization"] == "Bearer test-token" for r in github.requests)
    assert github.requests[-1].body == {"body": "<!-- marker-x -->\nsecond body"}


def test_github_errors_name_the_call_and_the_answer(github, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    with pytest.raises(GitHubError, match=r"GET .*/issues/1/comments: HTTP 401: .*Bad credentials"):
        list(GitHub.from_env().comments(1))
    monkeypatch.delenv("GITHUB_TOKEN")
    with pytest.raises(GitHubError, match="GITHUB_TOKEN not set"):
        GitHub.from_env()


def test_report_shows_metrics_candidates_and_hpo():
    body = pipeline_reports.render(run_view("p1", 0.8125, SAME))
    assert "**0.8125**" in body and "0.9500" in body
    assert "| GISLR | `t-gislr` | 0.8100 | 0.9700 | 0.7000 | selected |" in body
    assert "| ConvNeXtTiny | `t-cnx` | 0.4000" in body
    assert "1 trials finished, 1 failed" in body and "**hpo**" in body and "failed: loss became NaN" in body
    assert "[`p1`](https://app.clear.ml/pipelines/p1)" in body and "`abc123def456`" in body


def test_report_is_posted_once_and_updated_on_a_rerun(github, monkeypatch, tmp_path, capsys):
    runs = [run_view("p1", 0.5, SAME), run_view("p1", 0.75, SAME)]

    class Runs:
        def find(self, commit="", run="", tags=None):
            assert commit == "abc123"
            return runs.pop(0)

    monkeypatch.setattr(pipeline_reports, "source", lambda offline, runs_dir: Runs())
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert pipeline_reports.main(["--commit", "abc123", "--pr", "12"]) == 0
    assert pipeline_reports.main(["--commit", "abc123", "--pr", "12"]) == 0
    assert len(github.comments[12]) == 1 and "**0.7500**" in github.comments[12][0]["body"]
    assert [r.method for r in github.requests] == ["GET", "POST", "GET", "PATCH"]
    assert "created comment" in capsys.readouterr().out and "**0.5000**" in summary.read_text()


def test_report_without_a_run_exits_2(tmp_path, capsys):
    assert pipeline_reports.main(["--offline", "--runs-dir", str(tmp_path)]) == 2
    assert "no pipeline run under" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# The production gate (offline production record; the candidate given directly)


class LocalRuns(OfflineRuns):
    """The real offline production record, with the candidate handed in instead of read from sessions."""

    candidate: RunView

    def find(self, commit: str = "", run: str = "", tags: list[str] | None = None) -> RunView:
        return self.candidate


@pytest.fixture
def gate(tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"

    def run(candidate: RunView, production: RunView | None, *args: str) -> int:
        if production is not None:
            production.predictions.to_csv(tmp_path / "prod.csv", index=False)
            record_production(
                tmp_path / "prod-bundle",
                runs_dir,
                pipeline_id=production.pipeline_id,
                **{k: production.evaluation[k] for k in ("test_top1", "test_top5", "test_set")},
                test_predictions=str(tmp_path / "prod.csv"),
            )
        folder = tmp_path / candidate.pipeline_id
        folder.mkdir(exist_ok=True)
        candidate.link = str(folder)
        if candidate.predictions is not None:
            candidate.predictions.to_csv(folder / "test_predictions.csv", index=False)
        local = LocalRuns(runs_dir)
        local.candidate = candidate
        monkeypatch.setattr(production_tagging, "source", lambda offline, runs_dir: local)
        return production_tagging.main(["--offline", *args])

    gate.runs_dir = runs_dir
    return run


def test_gate_promotes_a_better_run_and_prints_mcnemar(gate, tmp_path, capsys):
    code = gate(run_view("new", 0.9, SAME, [True] * 6), run_view("old", 0.5, SAME, [True, False] * 3))
    out = capsys.readouterr().out
    assert code == production_tagging.PROMOTED
    assert "promoted to production [at_least_as_good]" in out
    assert "candidate alone right on 3, production alone right on 0, p = 0.25" in out
    record = production_metrics(tmp_path / "runs")
    assert record["pipeline_id"] == "new" and record["bundle"] == str((tmp_path / "new" / "bundle").resolve())
    assert record["test_set"] == SAME.to_dict() and record["test_predictions"].endswith("new/test_predictions.csv")


def test_gate_keeps_production_on_a_worse_run_and_shows_both_metric_sets(gate, tmp_path, capsys):
    code = gate(run_view("new", 0.4, SAME, [False] * 6), run_view("old", 0.5, SAME, [True] * 6))
    out = capsys.readouterr().out
    assert code == production_tagging.KEPT
    assert "not promoted [worse]" in out and "production alone right on 6" in out
    table = next(line for line in out.splitlines() if line.startswith("test top-1"))
    assert "0.4000" in table and "0.5000" in table
    assert production_metrics(tmp_path / "runs")["pipeline_id"] == "old"


def test_gate_with_no_production_yet_promotes(gate, tmp_path, capsys):
    assert gate(run_view("first", 0.3, SAME, [True] * 6), None) == production_tagging.PROMOTED
    out = capsys.readouterr().out
    assert "[no_production]" in out and "no production model to compare with" in out
    assert production_metrics(tmp_path / "runs")["pipeline_id"] == "first"


def test_gate_refuses_across_test_sets_unless_forced(gate, tmp_path, capsys):
    code = gate(run_view("new", 0.99, OTHER, [True] * 6), run_view("old", 0.1, SAME, [False] * 6))
    out = capsys.readouterr().out
    assert code == production_tagging.KEPT and "[other_test_set]" in out
    assert "not computed, the two models were tested on different test sets" in out
    assert production_metrics(tmp_path / "runs")["pipeline_id"] == "old"
    assert gate(run_view("new", 0.99, OTHER, [True] * 6), None, "--promote") == production_tagging.PROMOTED
    assert "[forced]" in capsys.readouterr().out and production_metrics(tmp_path / "runs")["pipeline_id"] == "new"


def test_gate_on_the_production_run_itself_passes(gate, capsys):
    assert gate(run_view("same", 0.5, SAME, [True] * 6), run_view("same", 0.5, SAME, [True] * 6)) == 0
    assert "already production" in capsys.readouterr().out


def test_check_mode_says_whether_a_run_passes_and_moves_nothing(gate, tmp_path, capsys):
    better = gate(run_view("new", 0.9, SAME, [True] * 6), run_view("old", 0.5, SAME, [True] * 6), "--check")
    assert better == production_tagging.PROMOTED and "the candidate passes" in capsys.readouterr().out
    assert production_metrics(tmp_path / "runs")["pipeline_id"] == "old"
    worse = gate(run_view("new", 0.2, SAME, [False] * 6), run_view("old", 0.5, SAME, [True] * 6), "--check")
    out = capsys.readouterr().out
    assert worse == production_tagging.KEPT and "does not pass [worse]" in out and "0.2000" in out
    assert production_metrics(tmp_path / "runs")["pipeline_id"] == "old"


def test_a_merge_finds_its_pull_requests_run_by_the_tags_it_was_given(github, monkeypatch):
    merged = {"number": 7, "merged_at": "2026-12-01T00:00:00Z", "head": {"sha": "b" * 40}}
    github.pulls_of_commit = {"a" * 40: [merged], "c" * 40: [{**merged, "merged_at": None}]}
    assert production_tagging.merge_tags("a" * 40) == ["pr-7", "sha-" + "b" * 40]
    with pytest.raises(RunNotFound, match="no merged pull request"):
        production_tagging.merge_tags("c" * 40)  # a commit of an open pull request


def test_a_failed_run_is_reported_with_where_and_why(tmp_path):
    view = run_view("p9", 0.5, SAME)
    view.status, view.evaluation = "failed", None
    view.extra["failures"] = [
        {"step": "train_gislr", "status": "failed", "reason": "exit code 1\nValueError: NaN loss"}
    ]
    body = pipeline_reports.render(view)
    assert "pipeline: failed" in body and "Step `train_gislr` failed" in body and "ValueError: NaN loss" in body
    assert "did not complete" in body


def test_a_pipeline_job_that_left_no_run_still_comments(github, monkeypatch, tmp_path, capsys):
    args = ["--offline", "--runs-dir", str(tmp_path), "--pr", "5", "--job-url", "https://ci/run/1"]
    assert pipeline_reports.main(args) == 0
    body = github.comments[5][0]["body"]
    assert "failed before a run was recorded" in body and "(https://ci/run/1)" in body


def test_gate_without_runs_exits_2(tmp_path, capsys):
    assert production_tagging.main(["--offline", "--runs-dir", str(tmp_path)]) == production_tagging.NOTHING_TO_COMPARE
    assert "no pipeline run" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Remote-runnable check: the clearml-task output parser and the poller

# What clearml 2.1.12's `clearml-task` prints (clearml/cli/task/__main__.py, backend_interface/task/populate.py).
LAUNCHED = """ClearML launch - launch any codebase on remote machine running clearml-agent
Creating new task
Repository Detected
{
  "repository": "https://github.com/owner/pose2gloss.git",
  "branch": "feature",
  "commit": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
  "entry_point": "cicd/example_task.py",
  "working_dir": "."
}
Requirements:
  Packages: ['clearml==2.1.12', 'numpy==1.26.4']
New task created id=4b1c3f0e9d8a4c6b8e2f7a1d0c9b8a7e
Task id=4b1c3f0e9d8a4c6b8e2f7a1d0c9b8a7e sent for execution on queue cpu
Execution log at: https://app.clear.ml/projects/9f8e/experiments/4b1c3f0e9d8a4c6b8e2f7a1d0c9b8a7e/output/log
"""


def test_task_id_is_parsed_from_real_clearml_task_output():
    assert remote.parse_task_id(LAUNCHED) == "4b1c3f0e9d8a4c6b8e2f7a1d0c9b8a7e"
    coloured = LAUNCHED.replace("New task", "\x1b[32mNew task").replace("\n", "\r\n")
    assert remote.parse_task_id(coloured) == "4b1c3f0e9d8a4c6b8e2f7a1d0c9b8a7e"


@pytest.mark.parametrize(
    ("output", "words"),
    [
        (
            "ClearML launch - ...\nCreating new task\n\nError: Could not find queue named 'cpu'\n",
            "Could not find queue",
        ),
        (
            LAUNCHED.split("Task id=")[0] + "Warning: No queue was provided, leaving task in draft-mode.\n",
            "not enqueued",
        ),
        ("ClearML launch - ...\n", "no 'New task created"),
        ("Creating new task\n\nUser aborted\n", "interrupted"),
        (LAUNCHED + LAUNCHED.replace("4b1c", "5b1c"), "several tasks"),
        (LAUNCHED.replace("Task id=4b1c", "Task id=9b1c"), "but enqueued"),
    ],
)
def test_task_id_parser_rejects_output_without_one_enqueued_task(output, words):
    with pytest.raises(remote.LaunchError, match=words):
        remote.parse_task_id(output)


def test_unparseable_launch_exits_3(tmp_path, capsys):
    log = tmp_path / "clearml-task.log"
    log.write_text("Error: Could not find queue named 'gpu'\n")
    assert remote.main(["--from-output", str(log)]) == remote.NO_TASK
    assert "Could not find queue named 'gpu'" in capsys.readouterr().err


class FakeProbe:
    """The SDK boundary of the poller: a scripted series of (status, last iteration)."""

    def __init__(self, states, message=""):
        self.states, self.polls, self.stopped, self._message = list(states), 0, False, message
        self.cancelled = None

    def _state(self):
        return self.states[min(self.polls, len(self.states) - 1)]

    def status(self):
        return self._state()[0]

    def last_iteration(self):
        state = self._state()
        self.polls += 1
        return state[1]

    def message(self):
        return self._message

    def stop(self):
        self.stopped = True

    def cancel(self, reason):
        self.cancelled = reason


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def watch(probe, timeout_s=60):
    clock, lines = FakeClock(), []
    outcome = remote.watch(probe, timeout_s, 10, clock=clock, sleep=clock.sleep, log=lines.append)
    return outcome, lines, clock.now


def test_poller_success_when_iterations_are_reported():
    probe = FakeProbe([("queued", 0), ("in_progress", 0), ("in_progress", 3)])
    outcome, lines, elapsed = watch(probe)
    assert outcome.code == remote.SUCCESS and "iteration 3" in outcome.message and probe.stopped
    assert elapsed == 20 and len(lines) == 3


def test_poller_failure_when_the_task_fails_or_ends_without_iterations():
    failed, _, _ = watch(FakeProbe([("queued", 0), ("failed", 0)], message="ModuleNotFoundError: pose2gloss"))
    assert failed.code == remote.FAILED and "ModuleNotFoundError" in failed.message
    silent, _, _ = watch(FakeProbe([("in_progress", 0), ("completed", 0)]))
    assert silent.code == remote.FAILED and "without reporting any iteration" in silent.message


def test_poller_times_out_with_a_hint_and_cancels_the_task_when_nobody_picks_it_up():
    probe = FakeProbe([("queued", 0)])
    outcome, lines, elapsed = watch(probe, timeout_s=60)
    assert outcome.code == remote.TIMEOUT and "agent listening" in outcome.message and not probe.stopped
    assert "still queued" in probe.cancelled and "cancelled" in outcome.message  # not left on the queue
    assert elapsed == 60 and len(lines) == 1  # one line per change, not per poll
    assert len({remote.SUCCESS, remote.FAILED, remote.TIMEOUT, remote.NO_TASK}) == 4


# ---------------------------------------------------------------------------------------------
# Continuous training trigger


def test_trigger_arguments_fit_clearmls_dataset_trigger():
    from clearml.automation import TriggerScheduler
    from clearml.automation.trigger import DatasetTrigger

    arguments = trigger.trigger_arguments("pipe-1", tag="stable", queue="services")
    accepted = inspect.signature(TriggerScheduler.add_dataset_trigger).parameters
    assert set(arguments) <= set(accepted)
    assert arguments["schedule_task_id"] == "pipe-1" and arguments["trigger_on_tags"] == ["stable"]
    # ClearML substitutes the new dataset version's id for exactly this value.
    assert arguments["task_parameters"] == {"Args/dataset_id": DatasetTrigger._task_param}


def test_trigger_refuses_a_pipeline_without_the_dataset_parameter():
    class Pipeline:
        id = "pipe-1"

        def __init__(self, parameters):
            self.parameters = parameters

        def get_parameters(self):
            return self.parameters

    trigger.check_parameter(Pipeline({"Args/dataset_id": "d0", "Args/full": "False"}), "Args/dataset_id")
    with pytest.raises(SystemExit, match="no parameter 'Args/dataset_id'.*Args/full"):
        trigger.check_parameter(Pipeline({"Args/full": "False"}), "Args/dataset_id")


def test_trigger_without_a_server_only_shows_the_plan(capsys, monkeypatch):
    monkeypatch.setenv("CLEARML_OFFLINE_MODE", "1")
    assert trigger.main(["--tag", "stable"]) == 0
    out = capsys.readouterr().out
    assert "'trigger_on_tags': ['stable']" in out and "nothing registered" in out


def test_step_summary_is_written_in_actions_only(tmp_path, monkeypatch):
    from cicd.github import write_step_summary

    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert not write_step_summary("x")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "s.md"))
    assert write_step_summary("# one") and write_step_summary("two")
    assert (tmp_path / "s.md").read_text() == "# one\ntwo\n"


@pytest.mark.slow
def test_offline_check_runs_the_example_task_and_sees_its_iterations(capsys):
    assert remote.main(["--offline", "--timeout", "180"]) == remote.SUCCESS
    out = capsys.readouterr().out
    assert "runnable remotely" in out and "status in_progress, last iteration 0" in out


def ci_scripts_on_a_real_run(runs: Path, summary: dict, monkeypatch, capsys) -> None:
    """The offline CI scripts on a finished pipeline run (called by the end-to-end pipeline test).

    The run's own sessions and production record are read through the ClearML SDK, as CI does.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARML_")}  # as a user with no server
    done = subprocess.run(
        [sys.executable, "cicd/pipeline_reports.py", "--offline", "--runs-dir", str(runs)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and f"**{summary['test_top1']:.4f}**" in done.stdout, done.stderr[-2000:]
    view = OfflineRuns(runs).find()
    assert view.pipeline_id == summary["pipeline_id"] and view.evaluation["test_top1"] == summary["test_top1"]
    assert len(view.predictions) == view.evaluation["n_test"] and len(view.selection["candidates"]) == 2
    assert view.hpo["trials_finished"] + view.hpo["trials_failed"] == len(view.hpo["trials"])

    fake = FakeGitHub()
    monkeypatch.setenv("GITHUB_API_URL", fake.start())
    monkeypatch.setenv("GITHUB_REPOSITORY", fake.repository)
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    try:
        capsys.readouterr()
        assert pipeline_reports.main(["--offline", "--runs-dir", str(runs), "--pr", "5"]) == 0
        assert pipeline_reports.main(["--offline", "--runs-dir", str(runs), "--pr", "5"]) == 0
    finally:
        fake.stop()
    out = capsys.readouterr().out
    assert f"**{summary['test_top1']:.4f}**" in out and "created comment" in out and "updated comment" in out
    assert len(fake.comments[5]) == 1 and summary["selected_model"] in fake.comments[5][0]["body"]

    assert production_tagging.main(["--offline", "--runs-dir", str(runs)]) == production_tagging.PROMOTED
    assert "already production" in capsys.readouterr().out
    record = production_metrics(runs)  # a better production on the same test set, with the same predictions
    better = {**record, "pipeline_id": "earlier", "test_top1": record["test_top1"] + 0.5}
    record_production(better.pop("bundle"), runs, **better)
    assert production_tagging.main(["--offline", "--runs-dir", str(runs)]) == production_tagging.KEPT
    out = capsys.readouterr().out
    assert "not promoted [worse]" in out and "alone right on 0" in out and "p = 1" in out


# ---------------------------------------------------------------------------------------------
# The server source, with ClearML's Task faked at the SDK boundary


class FakeArtifact:
    def __init__(self, path: Path):
        self.path = path

    def get_local_copy(self, raise_on_error=False):
        return str(self.path)


class FakeTask:
    """The few ``clearml.Task`` calls ServerRuns makes; queries are recorded and answered from ``tasks``."""

    tasks: list[FakeTask] = []
    queries: list[dict] = []

    def __init__(self, id, name, status="completed", commit="", tags=(), parent="", artifacts=None):
        self.id, self.name, self.status, self.parent = id, name, status, parent
        self.tags = list(tags)
        self.artifacts = {k: FakeArtifact(v) for k, v in (artifacts or {}).items()}
        self.data = type("Data", (), {"script": type("Script", (), {"version_num": commit})()})()
        self.models = {"output": [type("Model", (), {"id": f"{id}-bundle", "name": "pose2gloss-bundle"})()]}

    @classmethod
    def get_tasks(cls, task_ids=None, project_name=None, task_name=None, tags=None, task_filter=None):
        task_filter = dict(task_filter or {})
        cls.queries.append({"task_name": task_name, "tags": tags, **task_filter})
        found = [t for t in cls.tasks if "parent" not in task_filter or t.parent == task_filter["parent"]]
        if task_name:
            found = [t for t in found if re.search(task_name, t.name)]
        if tags:
            found = [t for t in found if set(tags) & set(t.tags)]
        if "status" in task_filter:
            found = [t for t in found if t.status in task_filter["status"]]
        if "_all_" in task_filter:
            found = [t for t in found if t.data.script.version_num.startswith(task_filter["_all_"]["pattern"][1:])]
        return found

    @classmethod
    def get_task(cls, task_id):
        return next(t for t in cls.tasks if t.id == task_id)

    def get_output_log_web_page(self):
        return f"https://app.clear.ml/projects/p1/experiments/{self.id}/output/log"

    def get_tags(self):
        return list(self.tags)

    def set_tags(self, tags):
        self.tags = list(tags)

    def add_tags(self, tags):
        self.tags += [t for t in tags if t not in self.tags]


@pytest.fixture
def clearml_server(monkeypatch, tmp_path):
    import clearml

    def pipeline(id, commit, top1, tags=(), test_set=SAME, correct=None):
        metrics = tmp_path / f"{id}-metrics.json"
        metrics.write_text(
            json.dumps({"test_top1": top1, "test_top5": 0.9, "test_set": test_set.to_dict(), "n_test": 6})
        )
        table = tmp_path / f"{id}-predictions.csv"
        predictions(correct or [True] * 6).to_csv(table, index=False)
        return [
            FakeTask(id, "pose2gloss-pipeline", commit=commit, tags=tags),
            FakeTask(
                f"{id}-eval", "model_evaluation", parent=id, artifacts={"metrics": metrics, "test_predictions": table}
            ),
            FakeTask(f"{id}-trial", "hpo_trial", parent=id, artifacts={"metrics": tmp_path / "missing.json"}),
        ]

    FakeTask.tasks, FakeTask.queries = [], []
    monkeypatch.setattr(clearml, "Task", FakeTask)
    monkeypatch.setattr(registry, "production_bundle", lambda: None)  # no bundle model tagged yet
    return pipeline


def test_server_gate_moves_the_production_tag_to_a_better_run_of_the_commit(clearml_server, monkeypatch, capsys):
    from cicd.runs import ServerRuns

    FakeTask.tasks = [
        *clearml_server("old", "1111aaaa", 0.5, tags=["production", "keep-me"], correct=[True, False] * 3),
        *clearml_server("new", "2222bbbb", 0.8),
        *clearml_server("other", "3333cccc", 0.99),
    ]
    monkeypatch.setattr(production_tagging, "source", lambda offline, runs_dir: ServerRuns())
    tagged_models = []
    monkeypatch.setattr(registry, "move_production_tag", lambda model_id: tagged_models.append(model_id) or ["m0"])
    assert production_tagging.main(["--commit", "2222bbbb"]) == production_tagging.PROMOTED
    out = capsys.readouterr().out
    assert "[at_least_as_good]" in out and "candidate alone right on 3" in out
    assert "tagged pipeline new 'production'; removed the tag from ['old']" in out
    assert tagged_models == ["new-eval-bundle"] and "tagged bundle model new-eval-bundle, untagged ['m0']" in out
    tags = {t.id: t.tags for t in FakeTask.tasks if t.name == "pose2gloss-pipeline"}
    assert tags == {"old": ["keep-me"], "new": ["production"], "other": []}
    by_commit = next(q for q in FakeTask.queries if "_all_" in q)
    assert by_commit["_all_"] == {"fields": ["script.version_num"], "pattern": "^2222bbbb"}
    assert by_commit["status"] == ["completed"] and by_commit["type"] == ["controller"]
    assert all(q.get("search_hidden") for q in FakeTask.queries)  # pipelines live in hidden projects


def test_server_gate_keeps_production_and_fails_on_a_worse_run(clearml_server, monkeypatch, capsys):
    from cicd.runs import ServerRuns

    FakeTask.tasks = [*clearml_server("old", "1111", 0.7, tags=["production"]), *clearml_server("new", "2222", 0.6)]
    monkeypatch.setattr(production_tagging, "source", lambda offline, runs_dir: ServerRuns())
    assert production_tagging.main(["--commit", "2222"]) == production_tagging.KEPT
    assert "not promoted [worse]" in capsys.readouterr().out
    assert FakeTask.get_task("old").tags == ["production"] and FakeTask.get_task("new").tags == []
    assert production_tagging.main(["--commit", "9999"]) == production_tagging.NOTHING_TO_COMPARE
    assert "no completed 'pose2gloss-pipeline' pipeline on the server for commit 9999" in capsys.readouterr().err


def test_server_production_is_the_pipeline_of_the_bundle_model_tagged_production(clearml_server, monkeypatch, capsys):
    import clearml

    from cicd.runs import ServerRuns

    FakeTask.tasks = [*clearml_server("old", "1111", 0.9, tags=["production"]), *clearml_server("served", "2222", 0.6)]
    models = {"m-served": "served-eval"}  # the bundle model step 7 of 'served' published, and its task
    monkeypatch.setattr(registry, "production_bundle", lambda: ("m-served", {"test_top1": 0.6}))
    monkeypatch.setattr(clearml, "Model", lambda model_id: type("M", (), {"task": models[model_id]})())
    assert ServerRuns().production().pipeline_id == "served"  # not the stale pipeline tag on 'old'
    monkeypatch.setattr(production_tagging, "source", lambda offline, runs_dir: ServerRuns())
    assert production_tagging.main(["--commit", "2222"]) == production_tagging.PROMOTED
    assert "pipeline served is already production" in capsys.readouterr().out
