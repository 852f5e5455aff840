"""Hyper-parameter search space and the two ways of searching it.

* With a server: ClearML's ``HyperParameterOptimizer`` + ``OptimizerOptuna`` clones the
  winning training task onto the GPU queue (:func:`clearml_optimizer`).
* Without one (the optimiser clones tasks through the server): an Optuna multi-objective
  study runs the same training entry point, each trial a subprocess with its own offline
  ClearML task (:func:`run_local_study`).

Both minimise ``val_loss`` and maximise ``val_accuracy`` over the same space.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pose2gloss.orchestration.artifacts import artifact_json
from pose2gloss.orchestration.tracking import SECTION, TASK_ID_FILE_ENV, child_environment

OBJECTIVES = (("val_loss", "min"), ("val_accuracy", "max"))


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: str  # "choice", "float", "log_float", "int"
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()


def search_space(model_name: str) -> list[Dimension]:
    """What moves accuracy in the GISLR 1st-place recipe: learning rate, weight decay, drop rates,
    label smoothing and, for GISLR, the width (dim). Batch size is not searched: it stays the
    largest that fits, which the preset sets.
    """
    space = [
        Dimension("learning_rate", "log_float", 3e-4, 5e-3),
        Dimension("weight_decay", "log_float", 1e-3, 0.1),
        Dimension("label_smoothing", "float", 0.0, 0.2),
        Dimension("last_dropout", "float", 0.0, 0.5),
    ]
    if model_name == "GISLR":
        space += [
            Dimension("conv1d_dropout", "float", 0.0, 0.4),
            Dimension("late_dropout", "float", 0.0, 0.8),
            Dimension("drop_path", "float", 0.0, 0.3),
            Dimension("dim", "choice", choices=(128, 192)),
        ]
    return space


def suggest(trial, space: list[Dimension]) -> dict[str, Any]:
    """Draw one point of ``space`` from an Optuna trial."""
    values: dict[str, Any] = {}
    for d in space:
        if d.kind == "choice":
            values[d.name] = trial.suggest_categorical(d.name, list(d.choices))
        elif d.kind == "int":
            values[d.name] = trial.suggest_int(d.name, int(d.low), int(d.high))
        else:
            values[d.name] = trial.suggest_float(d.name, d.low, d.high, log=d.kind == "log_float")
    return values


def clearml_parameters(space: list[Dimension]) -> list:
    """The same space as ClearML parameter ranges, named ``General/<name>`` like the training task's.

    A ``log_float`` dimension becomes a ``LogUniformParameterRange`` (bounds as base-10
    exponents), which ``OptimizerOptuna`` samples with ``suggest_float(log=True)``, as offline.
    """
    from clearml.automation import (
        DiscreteParameterRange,
        LogUniformParameterRange,
        UniformIntegerParameterRange,
        UniformParameterRange,
    )

    ranges = []
    for d in space:
        name = f"{SECTION}/{d.name}"
        if d.kind == "choice":
            ranges.append(DiscreteParameterRange(name, values=list(d.choices)))
        elif d.kind == "int":
            ranges.append(UniformIntegerParameterRange(name, min_value=int(d.low), max_value=int(d.high)))
        elif d.kind == "log_float":
            ranges.append(LogUniformParameterRange(name, min_value=math.log10(d.low), max_value=math.log10(d.high)))
        else:
            ranges.append(UniformParameterRange(name, min_value=d.low, max_value=d.high))
    return ranges


# How often the optimiser looks at its trials; the trials report their objectives every epoch.
POLL_MINUTES = 0.5


def clearml_optimizer(
    base_task_id: str,
    model_name: str,
    *,
    queue: str,
    total_max_jobs: int,
    max_concurrent: int,
    time_limit_per_job_minutes: float,
    optimization_time_limit_minutes: float,
    poll_minutes: float = POLL_MINUTES,
):
    """``HyperParameterOptimizer`` with ``OptimizerOptuna``, multi-objective on the training scalars.

    Bounded in time, never in iterations: an iteration cap aborts a trial at its last epoch,
    possibly before its model is uploaded, while a trial that sits queued (no GPU agent) or on
    a dead runtime is stopped by ``time_limit_per_job`` and the whole search by
    ``optimization_time_limit``, so ``wait()`` always returns.
    """
    from clearml.automation import HyperParameterOptimizer
    from clearml.automation.optuna import OptimizerOptuna

    optimizer = HyperParameterOptimizer(
        base_task_id=base_task_id,
        hyper_parameters=clearml_parameters(search_space(model_name)),
        objective_metric_title=[name for name, _ in OBJECTIVES],
        objective_metric_series=[name for name, _ in OBJECTIVES],
        objective_metric_sign=[sign for _, sign in OBJECTIVES],
        optimizer_class=OptimizerOptuna,
        execution_queue=queue,
        max_number_of_concurrent_tasks=max_concurrent,
        total_max_jobs=total_max_jobs,
        max_iteration_per_job=None,
        time_limit_per_job=time_limit_per_job_minutes,
        optimization_time_limit=optimization_time_limit_minutes,
        pool_period_min=poll_minutes,
        save_top_k_tasks_only=total_max_jobs,
    )
    strategy = optimizer.get_optimizer()
    strategy.monitor_job = paced_monitor(strategy)
    # wait() returns when the progress report next runs (every 5 min by default): look as often as the trials
    optimizer.set_report_period(poll_minutes)
    return optimizer


def paced_monitor(strategy) -> Callable[[Any], bool]:
    """``monitor_job`` for ClearML's ``OptimizerOptuna`` instance ``strategy``, with trials that wait honestly.

    * Its objective loop polls without sleeping until a trial first reports: here every poll
      of a trial is at least one poll period after the previous one.
    * ``time_limit_per_job`` counts only running time (a queued job's ``elapsed()`` is -1), so
      a trial no agent takes would wait forever: here a trial queued for longer than the limit
      is taken off the queue and stopped with a message that says so.

    Bound to the instance (``HyperParameterOptimizer`` accepts only ``OptimizerOptuna`` itself for
    several objectives, and resolves its class by name on an agent), not a subclass.
    """
    import time

    from clearml import Task

    original = strategy.monitor_job
    polls: dict[str, tuple[float, float | None]] = {}

    def monitor_job(job) -> bool:
        now = time.monotonic()
        first, last = polls.get(job.task_id(), (now, None))
        if last is not None:
            time.sleep(max(0.0, strategy.pool_period_minutes * 60 - (now - last)))
        polls[job.task_id()] = (first, time.monotonic())
        waited_min = (time.monotonic() - first) / 60
        if strategy.time_limit_per_job and job.is_pending() and waited_min > strategy.time_limit_per_job:
            Task.dequeue(job.task)
            job.task.mark_stopped(
                force=True,
                status_message=f"queued {waited_min:.1f} min, over the {strategy.time_limit_per_job} min job limit: "
                f"no agent took it from '{strategy._execution_queue}'",
            )
            return False
        return original(job)

    return monitor_job


class BestEpoch:
    """The objectives of the best epoch so far, fed one epoch's Keras logs at a time.

    "Best" is the training's own rule (highest ``val_accuracy``, the epoch whose weights are
    kept), so what a trial reports after every epoch is what it would deliver if stopped there.
    """

    def __init__(self) -> None:
        self.best: dict[str, float] | None = None

    def update(self, logs: Mapping[str, float]) -> dict[str, float]:
        current = {name: float(logs[name]) for name, _ in OBJECTIVES}
        if self.best is None or current["val_accuracy"] > self.best["val_accuracy"]:
            self.best = current
        return dict(self.best)


TrialRunner = Callable[[dict[str, Any]], dict[str, Any]]


def run_local_study(
    model_name: str, run_trial: TrialRunner, *, n_trials: int, n_jobs: int, seed: int
) -> list[dict[str, Any]]:
    """Optuna multi-objective study; returns one record per trial (failed ones without metrics).

    Trials run ``n_jobs`` at a time, but each batch's parameters are drawn here, in trial order,
    through Optuna's ask-and-tell interface: ``study.optimize(n_jobs=...)`` reseeds the sampler in
    every thread, so the same seed would not give the same trials.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = search_space(model_name)
    study = optuna.create_study(
        directions=["minimize" if sign == "min" else "maximize" for _, sign in OBJECTIVES],
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    records: list[dict[str, Any]] = []
    batch_size = max(1, n_jobs)
    with ThreadPoolExecutor(max_workers=batch_size) as pool:
        for first in range(0, n_trials, batch_size):
            trials = [study.ask() for _ in range(first, min(first + batch_size, n_trials))]
            batch = [{"trial": trial.number, "params": suggest(trial, space)} for trial in trials]
            for trial, record in zip(trials, pool.map(lambda r: _run_recorded(run_trial, r), batch), strict=True):
                records.append(record)
                if "error" in record:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, [float(record["val_loss"]), float(record["val_accuracy"])])
    return records


def _run_recorded(run_trial: TrialRunner, record: dict[str, Any]) -> dict[str, Any]:
    """Run one trial; its result or its error goes into its record (a failed trial does not stop the study)."""
    number, values = record["trial"], record["params"]
    print(f"trial {number} started: {values}", flush=True)
    try:
        result = run_trial(values)
    except Exception as err:
        print(f"trial {number} failed: {str(err)[-300:]}", flush=True)
        return {**record, "error": str(err)}
    print(
        f"trial {number} finished: val top-1 {result['val_accuracy']:.4f}, val loss {result['val_loss']:.4f}",
        flush=True,
    )
    return {**record, **result}


def training_subprocess(base_params: Mapping[str, Any], cwd: str | Path | None = None) -> TrialRunner:
    """A trial runner that starts the training step as its own process and ClearML task."""

    def run(values: dict[str, Any]) -> dict[str, Any]:
        params = {**base_params, **values}
        with tempfile.TemporaryDirectory() as tmp:
            id_file = Path(tmp) / "task_id"
            env = {**child_environment(), TASK_ID_FILE_ENV: str(id_file)}
            command = [sys.executable, "-m", "pose2gloss.step4_model_training"]
            for name, value in params.items():
                command += [f"--{name}", str(value)]
            completed = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
            if completed.returncode != 0:
                raise RuntimeError(f"trial failed (exit {completed.returncode}): {completed.stderr[-2000:]}")
            task_id = id_file.read_text().strip()
        return trial_result(task_id)

    return run


def trial_result(task_id: str) -> dict[str, Any]:
    """A finished training task as a trial record, from the ``metrics`` artifact it uploaded."""
    metrics = artifact_json(task_id, "metrics")
    return {
        "task_id": task_id,
        "model_name": metrics["model_name"],
        "params": metrics["params"],
        "val_loss": metrics["val_loss"],
        "val_accuracy": metrics["val_accuracy"],
    }


def failed_study_report(trials: list[dict[str, Any]]) -> str | None:
    """Why the search failed, trial by trial, when no trial finished; ``None`` when one did."""
    if any("val_accuracy" in t for t in trials):
        return None
    lines = [f"  trial {t.get('trial')} ({t.get('task_id') or 'no task'}): {t.get('error', '?')}" for t in trials]
    return f"every HPO trial failed ({len(trials)} of {len(trials)}):\n" + ("\n".join(lines) or "  no trial ran")


def collect_trials(
    created_jobs: Mapping[str, Any],
    get_task: Callable[[str], Any],
    result: Callable[[str], dict[str, Any]] = trial_result,
) -> list[dict[str, Any]]:
    """One record per job the optimiser created: its metrics, or why it has none (status, message)."""
    trials = []
    for number, task_id in enumerate(created_jobs):
        status = get_task(task_id)
        state = f"{status.get_status()}: {status.data.status_message or ''}".strip(": ")
        try:
            record = result(task_id)
        except (KeyError, FileNotFoundError, ValueError) as err:
            trials.append({"trial": number, "task_id": task_id, "status": state, "error": f"{state}; {err}"})
            continue
        trials.append({"trial": number, **record, "status": state})
    return trials
