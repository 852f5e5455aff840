import random
import time

import optuna
import pytest

from pose2gloss.orchestration import hpo
from pose2gloss.step4_model_training import DEFAULTS as TRAINING_DEFAULTS
from pose2gloss.step4_model_training import OBJECTIVES as TRAINING_OBJECTIVES


@pytest.mark.parametrize("model_name", ["GISLR", "ConvNeXtTiny"])
def test_space_names_are_training_parameters(model_name):
    space = {d.name: d for d in hpo.search_space(model_name)}
    assert {"learning_rate", "weight_decay", "label_smoothing", "last_dropout"} <= set(space)
    assert "batch_size" not in space  # fixed at the largest that fits
    assert ("conv1d_dropout" in space) == ("drop_path" in space) == (model_name == "GISLR")
    if model_name == "GISLR":
        assert space["dim"].choices == (128, 192)
    assert set(space) <= set(TRAINING_DEFAULTS)


def test_objectives_match_what_training_reports():
    assert [name for name, _ in hpo.OBJECTIVES] == list(TRAINING_OBJECTIVES)
    assert dict(hpo.OBJECTIVES) == {"val_loss": "min", "val_accuracy": "max"}


def test_clearml_ranges_use_the_general_section():
    ranges = hpo.clearml_parameters(hpo.search_space("GISLR"))
    assert sorted(r.name for r in ranges) == sorted(f"General/{d.name}" for d in hpo.search_space("GISLR"))


class QueuedJob:
    """A trial no agent takes: it stays queued."""

    def __init__(self):
        self.task = type("Task", (), {"stopped": None, "mark_stopped": self._stop})()
        self.polls = 0

    def _stop(self, force, status_message):
        self.task.stopped = status_message

    def task_id(self):
        return "trial-1"

    def is_pending(self):
        self.polls += 1
        return True

    def elapsed(self):
        return -1  # what ClearmlJob reports while queued

    def is_stopped(self):
        return False


def test_a_trial_queued_past_the_job_limit_is_stopped_and_polls_are_paced(monkeypatch):
    import time

    from clearml import Task

    dequeued = []
    monkeypatch.setattr(Task, "dequeue", staticmethod(dequeued.append))
    from clearml.automation.optuna import OptimizerOptuna

    strategy = object.__new__(OptimizerOptuna)
    strategy.pool_period_minutes, strategy.time_limit_per_job, strategy._execution_queue = 0.001, 0.003, "gpu"
    strategy.compute_time_limit = strategy.max_iteration_per_job = None
    monitor = hpo.paced_monitor(strategy)
    job, start = QueuedJob(), time.monotonic()
    while monitor(job):
        pass
    assert job.task.stopped.startswith("queued") and "no agent took it from 'gpu'" in job.task.stopped
    assert dequeued == [job.task]
    # each poll waited a poll period: the loop did not spin
    assert job.polls <= (time.monotonic() - start) / 0.06 + 2


def test_clearml_optimizer_is_bounded_in_time_not_iterations(monkeypatch):
    captured = {}

    class FakeOptimizer:
        def __init__(self, **kwargs):
            captured.update(kwargs)
            self.strategy = type("Strategy", (), {"monitor_job": None})()

        def get_optimizer(self):
            return self.strategy

        def set_report_period(self, minutes):
            captured["report_period"] = minutes

    import clearml.automation

    monkeypatch.setattr(clearml.automation, "HyperParameterOptimizer", FakeOptimizer)
    hpo.clearml_optimizer(
        "base",
        "GISLR",
        queue="gpu",
        total_max_jobs=2,
        max_concurrent=2,
        time_limit_per_job_minutes=90.0,
        optimization_time_limit_minutes=300.0,
    )
    from clearml.automation.optuna import OptimizerOptuna

    assert captured["base_task_id"] == "base" and captured["execution_queue"] == "gpu"
    assert captured["optimizer_class"] is OptimizerOptuna  # for several objectives, ClearML accepts only this class
    assert captured["report_period"] == hpo.POLL_MINUTES  # wait() returns soon after the last trial
    assert captured["objective_metric_title"] == ["val_loss", "val_accuracy"]
    assert captured["objective_metric_series"] == ["val_loss", "val_accuracy"]
    assert captured["objective_metric_sign"] == ["min", "max"]
    assert captured["total_max_jobs"] == 2 and captured["max_number_of_concurrent_tasks"] == 2
    assert captured["max_iteration_per_job"] is None
    assert captured["time_limit_per_job"] == 90.0 and captured["optimization_time_limit"] == 300.0


def test_learning_rate_is_log_uniform_in_clearml_optuna_as_offline():
    from types import SimpleNamespace

    from clearml.automation import LogUniformParameterRange
    from clearml.automation.optuna import OptimizerOptuna

    ranges = hpo.clearml_parameters(hpo.search_space("GISLR"))
    learning_rate = next(r for r in ranges if r.name == "General/learning_rate")
    assert isinstance(learning_rate, LogUniformParameterRange)
    # What ClearML's Optuna optimiser turns the ranges into (its own conversion, on our ranges).
    space = OptimizerOptuna._convert_hyper_parameters_to_optuna(SimpleNamespace(_hyper_parameters=ranges))
    kind, bounds = space["General/learning_rate"]
    assert kind == "suggest_float" and bounds["log"] is True
    assert bounds["low"] == pytest.approx(3e-4) and bounds["high"] == pytest.approx(5e-3)


def test_best_epoch_objectives_are_reported_as_of_the_best_epoch_so_far():
    best = hpo.BestEpoch()
    reported = [
        best.update({"val_loss": loss, "val_accuracy": acc, "loss": 9.0})
        for loss, acc in [(2.0, 0.3), (1.5, 0.5), (1.4, 0.4), (1.2, 0.5), (1.0, 0.6)]
    ]
    assert [r["val_accuracy"] for r in reported] == [0.3, 0.5, 0.5, 0.5, 0.6]
    assert [r["val_loss"] for r in reported] == [2.0, 1.5, 1.5, 1.5, 1.0]  # ties keep the earlier epoch


class FakeTask:
    def __init__(self, status, message=""):
        self.status, self.data = status, type("D", (), {"status_message": message})()

    def get_status(self):
        return self.status


def test_server_trials_are_counted_from_every_created_job():
    tasks = {
        "t1": FakeTask("completed"),
        "t2": FakeTask("stopped", "Forced stop (non-responsive)"),
        "t3": FakeTask("failed"),
    }

    def result(task_id):
        if task_id != "t1":
            raise KeyError(f"task {task_id} has no artifact 'metrics'")
        return {"task_id": "t1", "model_name": "GISLR", "params": {}, "val_loss": 1.0, "val_accuracy": 0.5}

    trials = hpo.collect_trials({"t1": {}, "t2": {}, "t3": {}}, tasks.__getitem__, result)
    assert [t["task_id"] for t in trials] == ["t1", "t2", "t3"]
    assert trials[0]["val_accuracy"] == 0.5 and "error" not in trials[0]
    assert "non-responsive" in trials[1]["error"] and trials[2]["error"].startswith("failed")
    assert hpo.failed_study_report(trials) is None
    report = hpo.failed_study_report(trials[1:])
    assert report.startswith("every HPO trial failed (2 of 2)") and "trial 2 (t3): failed" in report


def test_local_study_records_every_trial_including_failures():
    calls = []

    def run_trial(values):
        calls.append(values)
        if len(calls) == 2:
            raise RuntimeError("trial crashed")
        return {"task_id": f"t{len(calls)}", "val_loss": values["learning_rate"], "val_accuracy": 0.5}

    records = hpo.run_local_study("GISLR", run_trial, n_trials=3, n_jobs=1, seed=0)
    assert [r["trial"] for r in records] == [0, 1, 2]
    assert "error" in records[1] and "val_accuracy" not in records[1]
    assert records[0]["task_id"] == "t1" and set(records[0]["params"]) == {d.name for d in hpo.search_space("GISLR")}
    for record in records:
        assert 3e-4 <= record["params"]["learning_rate"] <= 5e-3


def test_optuna_suggest_covers_every_kind():
    space = [
        hpo.Dimension("dim", "choice", choices=(128, 192)),
        hpo.Dimension("learning_rate", "log_float", 3e-4, 5e-3),
        hpo.Dimension("epochs", "int", 10, 20),
        hpo.Dimension("drop_path", "float", 0.0, 0.3),
    ]
    trial = optuna.trial.FixedTrial({"dim": 192, "learning_rate": 1e-3, "epochs": 12, "drop_path": 0.1})
    assert hpo.suggest(trial, space) == {"dim": 192, "learning_rate": 1e-3, "epochs": 12, "drop_path": 0.1}


def test_concurrent_trials_draw_the_same_parameters_for_the_same_seed():
    """Trials that run side by side draw in trial order, so a seed fixes every trial's parameters."""

    def run_trial(values):
        time.sleep(random.random() * 0.02)  # finish in any order
        return {"task_id": "t", "val_loss": values["learning_rate"], "val_accuracy": 0.5}

    def params(seed: int) -> list[dict]:
        records = hpo.run_local_study("GISLR", run_trial, n_trials=6, n_jobs=3, seed=seed)
        return [r["params"] for r in records]

    first = params(0)
    assert all(params(0) == first for _ in range(3))
    assert params(1) != first and len({r["learning_rate"] for r in first}) == 6
