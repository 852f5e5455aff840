"""The seven-step DAG on ClearML's ``PipelineController``, with a server or without one.

split -> augment -> transform -> {train GISLR || train ConvNeXtTiny} -> select -> HPO -> evaluate

Each node is a step script registered as a base task (a register-only run of the script).
With a server, the controller clones those tasks onto the CPU/GPU queues for agents, after a
pre-flight of the queues and the repository (:mod:`pose2gloss.doctor`); a step whose agent died
(force-stopped as non-responsive) fails the run, and the whole run has a time limit. Without
one, the same controller runs every node as a local subprocess through
:class:`OfflineStepJob`, which takes a node's status from its process exit code (offline
tasks cannot report status through a server), writes the node's whole output to a log file and
shows its progress and results, not library chatter, on the console.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from clearml import Task
from clearml.automation import PipelineController
from clearml.automation.job import ClearmlJob, LocalClearmlJob

from pose2gloss import doctor, tracking
from pose2gloss.console import is_chatter
from pose2gloss.resources import Stored, stored_offline, wait_with_usage
from pose2gloss.reuse import DATA_STEPS, StepCache, code_version, link_sessions, step_keys, substitute

PIPELINE_NAME = "pose2gloss-pipeline"
PEAK_RSS_VALUE = tracking.PEAK_RSS_VALUE
# How often the controller looks at its nodes: local processes can be polled every second.
OFFLINE_POLL_MINUTES = 1 / 60
SERVER_POLL_MINUTES = 0.2
# A whole server run is stopped (and fails) after this long: a step stuck in a queue never hangs it.
SERVER_TIME_LIMIT_MINUTES = 24 * 60
# Seconds a step gets to close its ClearML session after SIGTERM before it is killed.
ABORT_GRACE_S = 5.0
# Placeholder base task id for a controller re-run by an agent: the DAG stored on its task is used instead.
STORED_BASE_TASK = "stored-in-pipeline-configuration"


@dataclass(frozen=True)
class Step:
    name: str
    module: str
    parents: tuple[str, ...]
    parameters: Mapping[str, Any]
    gpu: bool = False


def build_steps(overrides: Mapping[str, Mapping[str, Any]] | None = None, full: bool = False) -> list[Step]:
    """The DAG with its parameters: presets for the sample (default) or full-size data, then overrides."""
    preset = FULL_PRESET if full else SAMPLE_PRESET
    steps = [
        Step("data_splitting", "pose2gloss.step1_data_splitting", (), {}),
        Step(
            "data_augmentation",
            "pose2gloss.step2_data_augmentation",
            ("data_splitting",),
            {"split_task_id": "${data_splitting.id}"},
        ),
        Step(
            "data_transformation",
            "pose2gloss.step3_data_transformation",
            ("data_augmentation",),
            {"augment_task_id": "${data_augmentation.id}"},
        ),
        *[
            Step(
                f"train_{model.lower()}",
                "pose2gloss.step4_model_training",
                ("data_transformation",),
                {
                    "model_name": model,
                    "split_task_id": "${data_splitting.id}",
                    "transform_task_id": "${data_transformation.id}",
                },
                gpu=True,
            )
            for model in ("GISLR", "ConvNeXtTiny")
        ],
        Step(
            "model_selection",
            "pose2gloss.step5_model_selection",
            ("train_gislr", "train_convnexttiny"),
            {
                "training_task_ids": "${train_gislr.id},${train_convnexttiny.id}",
                "transform_task_id": "${data_transformation.id}",
            },
        ),
        Step(
            "hyperparameter_tuning",
            "pose2gloss.step6_hyperparameter_tuning",
            ("model_selection",),
            {"selection_task_id": "${model_selection.id}"},
        ),
        Step(
            "model_evaluation",
            "pose2gloss.step7_model_evaluation",
            ("hyperparameter_tuning",),
            {
                "hpo_task_id": "${hyperparameter_tuning.id}",
                "split_task_id": "${data_splitting.id}",
                "augment_task_id": "${data_augmentation.id}",
                "transform_task_id": "${data_transformation.id}",
            },
        ),
    ]
    overrides = overrides or {}
    unknown = sorted(set(overrides) - {s.name for s in steps})
    if unknown:
        raise ValueError(f"overrides for unknown steps {unknown}; steps are {[s.name for s in steps]}")
    return [
        Step(
            s.name,
            s.module,
            s.parents,
            {**s.parameters, **preset.get(s.name, {}), **typed_overrides(s, overrides.get(s.name, {}))},
            s.gpu,
        )
        for s in steps
    ]


def typed_overrides(step: Step, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` checked against the step's parameters and parsed as their types (``ValueError`` if not)."""
    defaults = step_defaults(step.module)
    typed = {}
    for name, value in values.items():
        if name not in defaults:
            raise ValueError(f"{step.name} has no parameter '{name}'; it has {sorted(defaults)}")
        try:
            typed[name] = tracking.parse_value(defaults[name], value)
        except ValueError as err:
            kind = type(defaults[name]).__name__
            raise ValueError(f"{step.name}.{name}={value!r} is not a valid {kind}: {err}") from err
    return typed


# Sized so the whole DAG runs in minutes on a 2-core laptop; ConvNeXtTiny (28M parameters)
# trains on a subset there and properly on GPU agents with FULL_PRESET.
SAMPLE_PRESET: dict[str, dict[str, Any]] = {
    "train_gislr": {"epochs": 15, "dim": 96},
    "train_convnexttiny": {"epochs": 2, "max_train_samples": 96, "batch_size": 32},
    "hyperparameter_tuning": {"total_max_jobs": 2, "max_number_of_concurrent_tasks": 2},
}
FULL_PRESET: dict[str, dict[str, Any]] = {
    "data_augmentation": {"multiplier": 2},
    "train_gislr": {"epochs": 100, "early_stopping_patience": 10},
    "train_convnexttiny": {"epochs": 60, "image_size": 64, "early_stopping_patience": 10},
    "hyperparameter_tuning": {"total_max_jobs": 10, "max_number_of_concurrent_tasks": 2},
}


def step_defaults(module: str) -> dict[str, Any]:
    return dict(__import__(module, fromlist=["DEFAULTS"]).DEFAULTS)


def register_base_tasks(steps: list[Step], cwd: Path = tracking.REPO_ROOT, workers: int = 4) -> dict[str, str]:
    """Create one base task per node by running its script in register-only mode."""

    def register(step: Step) -> str:
        env = {**tracking.child_environment(), tracking.REGISTER_ENV: "1"}
        done = subprocess.run([sys.executable, "-m", step.module], cwd=cwd, env=env, capture_output=True, text=True)
        # Only the id: ClearML's console capture can put a log line right after it, without a newline.
        match = re.search(rf"{tracking.REGISTERED_MARKER}=((?:offline-)?[0-9a-f]{{32}})", done.stdout)
        if done.returncode != 0 or not match:
            raise RuntimeError(
                f"registering {step.name} ({step.module}) failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
            )
        return match.group(1)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip([s.name for s in steps], pool.map(register, steps), strict=True))


_RUNNING: set[OfflineStepJob] = set()


class OfflineStepJob(LocalClearmlJob):
    """A ``LocalClearmlJob`` whose status comes from its subprocess, for runs without a server.

    Offline, the base task itself runs (nothing can be cloned), so a task id names its node.
    Each step runs in its own process group, so an aborted run stops it and everything it
    started (e.g. HPO trials) at once.
    """

    log_dir: Path = Path("logs")
    node_names: Mapping[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exit_code: int | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.aborted = False
        self.peak_rss_bytes: int | None = None  # of the step process and its children
        self.node_name = self.node_names.get(self.task.id, self.task.name)
        self.log_path = self.log_dir / f"{self.node_name}.log"
        self._pump: threading.Thread | None = None
        self._output_closed_at: float | None = None
        # The controller's polling thread and an abort (pipe.stop) both ask for the status: one reaps.
        self._status_lock = threading.RLock()

    def launch(self, queue_name: str | None = None) -> bool:
        env = tracking.child_environment(self.task.id)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.started_at = time.time()
        self._job_process = subprocess.Popen(
            [sys.executable, *shlex.split(self.task.data.script.entry_point)],  # "-m pose2gloss.stepN_..."
            cwd=tracking.REPO_ROOT / (self.task.data.script.working_dir or "."),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        _RUNNING.add(self)
        _console(f"[{self.node_name}] started (task {self.task.id}, log {self.log_path})")
        self._pump = threading.Thread(target=self._tee, daemon=True)
        self._pump.start()
        return True

    def _tee(self) -> None:
        """Copy the step's whole output to its log file; its own lines, prefixed, to the console."""
        assert self._job_process is not None and self._job_process.stdout is not None
        with self.log_path.open("w") as log:
            for line in self._job_process.stdout:
                log.write(line)
                log.flush()
                if not is_chatter(line):
                    _console(f"[{self.node_name}] {line.rstrip()}")
        self._output_closed_at = time.time()  # the step has exited: its duration ends here, not at the next poll

    def terminate(self) -> None:
        """Stop the step's process group: SIGTERM (the step closes its session), then SIGKILL."""
        process = self._job_process
        if process is None or process.poll() is not None:
            return
        self.aborted = True
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=ABORT_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass

    def status(self, force: bool = False) -> str:
        with self._status_lock:
            process = self._job_process
            if process is not None:
                try:
                    ended = wait_with_usage(process.pid)
                except ChildProcessError:  # reaped by terminate(): no resource usage to read
                    ended = (process.wait(), None)
                if ended is None:
                    return Task.TaskStatusEnum.in_progress
                code, self.peak_rss_bytes = ended
                process.returncode = code
                if self._pump:
                    self._pump.join(timeout=10)
                self.ended_at = self._output_closed_at or time.time()  # None if the pump timed out
                self.exit_code, self._job_process = code, None
                _RUNNING.discard(self)
                outcome = "completed" if code == 0 else ("aborted" if self.aborted else f"FAILED (exit code {code})")
                _console(f"[{self.node_name}] {outcome} in {self.elapsed():.1f}s")
            if self.exit_code is None:
                return Task.TaskStatusEnum.queued
            return Task.TaskStatusEnum.completed if self.exit_code == 0 else Task.TaskStatusEnum.failed

    def status_message(self) -> str:
        return f"exit code {self.exit_code}" if self.exit_code is not None else ""

    def elapsed(self) -> float:
        if self.started_at is None:
            return -1
        return (self.ended_at or time.time()) - self.started_at


def terminate_running_steps() -> list[str]:
    """Stop every running offline step (in parallel); returns their node names."""
    jobs = list(_RUNNING)
    threads = [threading.Thread(target=job.terminate) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [job.node_name for job in jobs]


_console_lock = threading.Lock()


def _console(line: str) -> None:
    with _console_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


NONRESPONSIVE = "forced stop (non-responsive)"


class ServerStepJob(ClearmlJob):
    """A step on an agent. A task the server force-stopped as non-responsive (its agent died, e.g. a
    Colab runtime that was recycled) has failed: ClearML's controller would wait for it forever."""

    def is_stopped(self, aborted_nonresponsive_as_running: bool = False) -> bool:
        return super().is_stopped(aborted_nonresponsive_as_running=False)

    def is_failed(self) -> bool:
        return super().is_failed() or self.is_nonresponsive()

    def is_aborted(self) -> bool:
        return super().is_aborted() and not self.is_nonresponsive()

    def is_nonresponsive(self) -> bool:
        return (
            self.status() == Task.TaskStatusEnum.stopped and str(self.task.data.status_message).lower() == NONRESPONSIVE
        )


def offline_job_class(log_dir: Path, node_names: Mapping[str, str]) -> type[OfflineStepJob]:
    """An :class:`OfflineStepJob` bound to this run's log folder and task-id -> node-name map."""
    return type("RunOfflineStepJob", (OfflineStepJob,), {"log_dir": log_dir, "node_names": dict(node_names)})


@dataclass
class NodeResult:
    name: str
    status: str
    task_id: str | None
    duration_s: float | None
    log: str | None = None
    error: str | None = None
    reused: bool = False  # outputs of an earlier run with the same data, code and parameters
    peak_rss_bytes: int | None = None


@dataclass
class PipelineRun:
    controller_id: str
    nodes: list[NodeResult] = field(default_factory=list)
    interrupted_by: str | None = None  # "SIGINT" / "SIGTERM" when the run was stopped
    signum: int | None = None

    @property
    def succeeded(self) -> bool:
        return bool(self.nodes) and all(n.status == "completed" and n.task_id for n in self.nodes)


class RunInterrupted(Exception):
    """The user (Ctrl-C) or a CI runner (SIGTERM) stopped the run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`RunInterrupted` in the main thread while the controller waits."""

    def handler(signum: int, _frame: Any) -> None:
        raise RunInterrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_pipeline(
    steps: list[Step],
    *,
    offline: bool,
    cpu_queue: str = "cpu",
    gpu_queue: str = "gpu",
    controller_queue: str | None = None,
    log_dir: Path = Path("logs"),
    version: str = "1.0.0",
    time_limit_minutes: float = SERVER_TIME_LIMIT_MINUTES,
    server_api: doctor.ServerApi | None = None,
    step_cache: StepCache | None = None,
    data_version: str = "",
    reuse: bool = True,
) -> PipelineRun | None:
    """Register base tasks, build the controller and run it.

    Locally (offline, or with a server and no ``controller_queue``) this blocks until the DAG
    ends and returns every node's result; with ``controller_queue`` the controller itself is
    enqueued for an agent (e.g. on ``services``) and ``None`` is returned. A controller that an
    agent re-runs registers nothing: its DAG, base tasks included, is stored on its task.
    With a server, nothing is registered or enqueued unless the pre-flight passes.
    Ctrl-C/SIGTERM stops the running steps and returns the run with ``interrupted`` set.

    The data steps are reused when their data, code and parameters are unchanged: with a
    server through ClearML's step cache (the data version is a parameter of step 1), offline
    through ``step_cache`` (see :mod:`pose2gloss.reuse`), which records the data steps of every
    run and is looked up unless ``reuse`` is false.
    """
    remote = not Task.running_locally()
    all_steps = steps
    keys = step_keys(steps, data_version, code_version()) if data_version else {}
    reused: dict[str, dict[str, str]] = {}
    if offline and step_cache is not None and keys and reuse:
        reused = step_cache.lookup(keys)
        link_sessions(reused, tracking.offline_sessions_dir())
        reused_ids = {name: entry["task_id"] for name, entry in reused.items()}
        steps = [
            replace(s, parents=tuple(set(s.parents) - set(reused)), parameters=substitute(s.parameters, reused_ids))
            for s in steps
            if s.name not in reused
        ]
        for name in reused:
            print(f"reusing {name} from task {reused_ids[name]} (same data, code and parameters)", flush=True)
    if not offline and not remote:
        preflight(cpu_queue, gpu_queue, controller_queue or "", server_api or doctor.ClearmlServerApi())
    base_ids = {s.name: STORED_BASE_TASK for s in steps} if remote else register_base_tasks(steps)
    pipe = PipelineController(
        name=PIPELINE_NAME,
        project=tracking.PROJECT,
        version=version,
        add_pipeline_tags=False,
        pool_frequency=OFFLINE_POLL_MINUTES if offline else SERVER_POLL_MINUTES,
    )
    pipe.set_default_execution_queue(cpu_queue)
    if not offline:
        # Not add_step(time_limit=): in clearml 2.1.12 it crashes the controller's polling thread.
        pipe.set_pipeline_execution_time_limit(time_limit_minutes)
    for step in steps:
        parameters = {f"{tracking.SECTION}/{k}": v for k, v in step.parameters.items()}
        if step.name == "hyperparameter_tuning":
            parameters[f"{tracking.SECTION}/execution_queue"] = gpu_queue
        if step.gpu and not offline:
            parameters.setdefault(f"{tracking.SECTION}/require_gpu", True)
        pipe.add_step(
            name=step.name,
            base_task_id=base_ids[step.name],
            parents=list(step.parents),
            parameter_override=parameters,
            execution_queue=gpu_queue if step.gpu else cpu_queue,
            clone_base_task=not offline,
            cache_executed_step=not offline and step.name in DATA_STEPS,
        )
    # The controller's job factory is the one private hook used: pinned clearml, covered by tests.
    if offline:
        pipe._clearml_job_class = offline_job_class(log_dir, {v: k for k, v in base_ids.items()})
    else:
        pipe._clearml_job_class = ServerStepJob
        if controller_queue and not remote:  # on the agent, the same call runs the stored DAG below
            print(
                f"enqueueing the pipeline controller on '{controller_queue}'; follow it in the ClearML web UI",
                flush=True,
            )
            pipe.start(queue=controller_queue)  # exits this process when it runs locally
            return None
    interrupted: RunInterrupted | None = None
    try:
        with interruptible():
            pipe.start_locally(run_pipeline_steps_locally=False)
    except RunInterrupted as err:
        interrupted = err
        _console(f"{err}: stopping the run")
        stopped = terminate_running_steps()
        _console(f"stopped {stopped or 'no running steps'}")
        _mark_aborted(pipe, err)
    run = _collect(pipe, steps)
    if reused:  # reused nodes first, in DAG order
        by_name = {n.name: n for n in run.nodes}
        by_name.update({n: NodeResult(n, "completed", e["task_id"], None, reused=True) for n, e in reused.items()})
        run.nodes = [by_name[s.name] for s in all_steps if s.name in by_name]
    if step_cache is not None and keys and not remote:
        done = {n.name: n.task_id for n in run.nodes if n.status == "completed" and not n.reused and n.task_id}
        step_cache.record(keys, done, tracking.offline_sessions_dir())
    run.interrupted_by = interrupted.args[0] if interrupted else None
    run.signum = interrupted.signum if interrupted else None
    return run


def preflight(cpu_queue: str, gpu_queue: str, controller_queue: str, api: doctor.ServerApi) -> None:
    """Refuse a server run that would hang or break on the agents, before anything is enqueued."""
    problems = doctor.check_queues(api, cpu_queue=cpu_queue, gpu_queue=gpu_queue, controller_queue=controller_queue)
    problems += doctor.check_repository()
    if problems:
        raise PreflightError("pre-flight failed, nothing was enqueued:\n" + "\n".join(f"  - {p}" for p in problems))


class PreflightError(RuntimeError):
    """A server run cannot start: a queue without agents, or code the agents cannot check out."""


def _mark_aborted(pipe: PipelineController, err: RunInterrupted) -> None:
    """Record the abort on the controller's task (tag and console; its session with no server), then stop it."""
    task = Task.current_task()
    if task is not None:
        task.add_tags(["aborted"])
        task.get_logger().report_text(f"pipeline aborted by {err}")
    pipe.stop(mark_aborted=True)


def _collect(pipe: PipelineController, steps: list[Step]) -> PipelineRun:
    """Each node's outcome; offline, from the job's own exit code, duration and log."""
    run = PipelineRun(controller_id=pipe.id)
    dag = pipe.get_pipeline_dag()
    for step in steps:
        node = dag[step.name]
        job = node.job
        status = node.status if job is not None or node.status == "skipped" else "not run"
        duration = log = error = None
        if isinstance(job, OfflineStepJob):
            status = "aborted" if job.aborted else {0: "completed", None: "not run"}.get(job.exit_code, "failed")
            duration = job.elapsed() if job.started_at else None
            log = str(job.log_path)
            if status == "failed" and job.log_path.is_file():
                lines = job.log_path.read_text().splitlines(keepends=True)
                error = "".join([line for line in lines if not is_chatter(line)][-15:])
        elif node.job_started and node.job_ended:
            duration = node.job_ended - node.job_started
        task_id = node.executed or (job.task_id() if job else None)
        reused = bool(job is not None and not isinstance(job, OfflineStepJob) and job.is_cached_task())
        peak = job.peak_rss_bytes if isinstance(job, OfflineStepJob) else None
        run.nodes.append(NodeResult(step.name, status, task_id, duration, log, error, reused, peak))
    return run


# The artifact each node's key metric is read from, and how to phrase it.
_KEY_METRICS = {
    "data_splitting": ("source", lambda a: f"{a['sequences']} sequences, split by {a.get('split_by', 'participant')}"),
    "train_gislr": ("metrics", lambda a: f"val top-1 {a['val_accuracy']:.3f}"),
    "train_convnexttiny": ("metrics", lambda a: f"val top-1 {a['val_accuracy']:.3f}"),
    "model_selection": ("selection", lambda a: f"{a['model_name']} (val top-1 {a['val_accuracy']:.3f})"),
    "hyperparameter_tuning": (
        "hpo_result",
        lambda a: f"{a['trials_finished']} trials finished, {a['trials_failed']} failed; final: {a['source']}",
    ),
    "model_evaluation": ("metrics", lambda a: f"test top-1 {a['test_top1']:.3f}, top-5 {a['test_top5']:.3f}"),
}


def _read_artifacts(run: PipelineRun) -> dict[str, dict[str, Any]]:
    """Each node's key artifact: from completed nodes, and from a failed one when it got to upload it."""
    artifacts = {}
    for node in run.nodes:
        if node.name not in _KEY_METRICS or not node.task_id or node.status not in ("completed", "failed"):
            continue
        try:
            artifacts[node.name] = tracking.artifact_json(node.task_id, _KEY_METRICS[node.name][0])
        except (KeyError, FileNotFoundError, ValueError):
            if node.status == "completed":
                raise
    return artifacts


def summarise(run: PipelineRun, run_dir: Path, *, offline: bool, duration_s: float) -> dict[str, Any]:
    """Everything a person or CI needs from a run, read back from the steps' artifacts.

    Besides each step's outcome it carries every decision with its evidence: how the data was
    split, the selection between both trained candidates, and the HPO trials with the winner.
    """
    artifacts = _read_artifacts(run)
    nodes = []
    for node in run.nodes:
        entry: dict[str, Any] = {
            "name": node.name,
            "status": node.status,
            "task_id": node.task_id,
            "duration_s": round(node.duration_s, 1) if node.duration_s is not None else None,
            "log": node.log,
            "key_metric": _KEY_METRICS[node.name][1](artifacts[node.name]) if node.name in artifacts else "",
        }
        if node.error:
            entry["error"] = node.error
        entry.update(_costs(node, offline, artifacts.get(node.name, {})))
        nodes.append(entry)
    status = "aborted" if run.interrupted_by else ("completed" if run.succeeded else "failed")
    summary: dict[str, Any] = {
        "pipeline_id": run.controller_id,
        "status": status,
        "offline": offline,
        "run_dir": str(run_dir.resolve()),
        "duration_s": round(duration_s, 1),
        "nodes": nodes,
        "reused_steps": [n.name for n in run.nodes if n.reused],
        **_storage_totals(nodes, artifacts.get("data_splitting", {}).get("sequences")),
    }
    if run.interrupted_by:
        summary["aborted_by"] = run.interrupted_by
    if offline:
        summary["sessions_dir"] = str(tracking.offline_sessions_dir())
    summary.update(decisions(artifacts))
    evaluation = artifacts.get("model_evaluation")
    if run.succeeded and evaluation:
        summary.update(
            {
                "test_top1": evaluation["test_top1"],
                "test_top5": evaluation["test_top5"],
                "selected_model": artifacts["model_selection"]["model_name"],
                "evaluation_task_id": next(n.task_id for n in run.nodes if n.name == "model_evaluation"),
                "tflite": evaluation["tflite"],
            }
        )
    else:
        unfinished = [n for n in nodes if n["status"] != "completed"]
        summary["failed_steps"] = [n["name"] for n in unfinished if n["status"] == "failed"]
        summary["aborted_steps"] = [n["name"] for n in unfinished if n["status"] == "aborted"]
        summary["not_run_steps"] = [n["name"] for n in unfinished if n["status"] not in ("failed", "aborted")]
    return summary


def decisions(artifacts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The split, selection and HPO decisions with their evidence, for the steps that made them."""
    out: dict[str, Any] = {}
    source = artifacts.get("data_splitting")
    if source:
        split_by = source.get("split_by", "participant")
        out["split"] = {
            "split_by": split_by,
            "participant_independent": split_by == "participant",
            "sequences": source["sequences"],
            "per_split": source.get("per_split", {}),
        }
    selection = artifacts.get("model_selection")
    if selection:
        out["selection"] = {
            "selected_task_id": selection["task_id"],
            "selected_model": selection["model_name"],
            "rule": "highest val top-1, then lower val loss",
            "candidates": [
                {k: c.get(k) for k in ("model_name", "task_id", "val_accuracy", "val_top5", "val_loss")}
                for c in selection.get("candidates", [])
            ],
        }
    hpo_result = artifacts.get("hyperparameter_tuning")
    if hpo_result:
        searched = [d["name"] for d in hpo_result.get("search_space", [])]
        out["hpo"] = {
            **{
                k: hpo_result.get(k)
                for k in (
                    "source",
                    "best_task_id",
                    "model_name",
                    "params",
                    "metrics",
                    "trials_finished",
                    "trials_failed",
                    "mode",
                )
            },  # fmt: skip
            "replaced_selection": hpo_result.get("source") == "hpo",
            "trials": [
                {
                    "trial": t.get("trial"),
                    "task_id": t.get("task_id"),
                    "val_accuracy": t.get("val_accuracy"),
                    "val_loss": t.get("val_loss"),
                    "params": {k: v for k, v in (t.get("params") or {}).items() if k in searched},
                    "error": t.get("error"),
                    "winner": bool(t.get("task_id")) and t.get("task_id") == hpo_result.get("best_task_id"),
                }
                for t in hpo_result.get("trials", [])
            ],
        }
    return out


def _number(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def format_decisions(summary: Mapping[str, Any]) -> list[str]:
    """The decisions as small tables: split, selection of both candidates, HPO trials with the winner."""
    lines: list[str] = []
    split = summary.get("split")
    if split:
        per_split = split.get("per_split", {})
        counts = ", ".join(f"{k} {per_split[k]}" for k in ("train", "val", "test") if k in per_split)
        independence = (
            "participant-independent"
            if split["participant_independent"]
            else "NOT participant-independent: the same signers are in train, val and test"
        )
        lines.append(f"\nsplit: by {split['split_by']} ({independence}); {split['sequences']} sequences: {counts}")
    selection = summary.get("selection")
    if selection:
        lines.append(f"\nselection ({selection['rule']}):")
        lines.append(f"  {'model':<14}{'val top-1':>10}{'val top-5':>10}{'val loss':>10}  task")
        for c in selection["candidates"]:
            mark = "  <- selected" if c["task_id"] == selection["selected_task_id"] else ""
            lines.append(
                f"  {c['model_name']:<14}{_number(c['val_accuracy']):>10}{_number(c['val_top5']):>10}"
                f"{_number(c['val_loss']):>10}  {c['task_id']}{mark}"
            )
    hpo_result = summary.get("hpo")
    if hpo_result:
        verdict = (
            "the best trial replaced the selection"
            if hpo_result["replaced_selection"]
            else "no trial beat the selection on val top-1: the selected model stays"
        )
        lines.append(
            f"\nHPO ({hpo_result['mode']}): {hpo_result['trials_finished']} finished, "
            f"{hpo_result['trials_failed']} failed; {verdict}"
        )
        lines.append(f"  {'trial':<6}{'val top-1':>10}{'val loss':>10}  parameters / error")
        for t in hpo_result["trials"]:
            detail = t["error"] or ", ".join(
                f"{k}={_number(v, 5) if isinstance(v, float) else v}" for k, v in t["params"].items()
            )
            mark = "  <- winner" if t["winner"] else ""
            lines.append(
                f"  {t['trial']!s:<6}{_number(t['val_accuracy']):>10}{_number(t['val_loss']):>10}  {detail}{mark}"
            )
    return lines


def _costs(node: NodeResult, offline: bool, artifact: Mapping[str, Any]) -> dict[str, Any]:
    """A node's peak RSS and the bytes it stored (data apart from model files); HPO counts its trials."""
    costs: dict[str, Any] = {"reused": node.reused, "peak_rss_mb": None, "stored_mb": None, "model_mb": None}
    if not node.task_id or node.reused:
        return costs
    task_ids = [node.task_id, *[t["task_id"] for t in artifact.get("trials", []) if t.get("task_id")]]
    if offline:
        peak = node.peak_rss_bytes
        stored = sum((stored_offline(t, tracking.offline_sessions_dir()) for t in task_ids), Stored())
    else:  # the steps report their own peak and their artifacts' sizes are on the server
        reported = tracking.reported_value(node.task_id, PEAK_RSS_VALUE)
        peak = None if reported is None else int(reported * 2**20)
        stored = Stored(sum(tracking.artifact_bytes(t) for t in task_ids))
    costs["peak_rss_mb"] = None if peak is None else round(peak / 2**20, 1)
    costs["stored_mb"] = round(stored.data_bytes / 2**20, 2)
    costs["model_mb"] = round(stored.model_bytes / 2**20, 2)
    return costs


def _storage_totals(nodes: list[dict[str, Any]], sequences: int | None) -> dict[str, Any]:
    data = sum(n["stored_mb"] or 0 for n in nodes)
    totals: dict[str, Any] = {
        "stored_mb": round(data, 2),
        "model_mb": round(sum(n["model_mb"] or 0 for n in nodes), 2),
        "peak_rss_mb": max((n["peak_rss_mb"] for n in nodes if n["peak_rss_mb"] is not None), default=None),
    }
    if sequences:
        totals["input_sequences"] = sequences
        totals["stored_kb_per_sequence"] = round(data * 1024 / sequences, 1)
    return totals


def format_summary(summary: Mapping[str, Any]) -> str:
    """The run as a table a person reads at the end of the console output."""
    header = f"\n{'step':<24}{'status':<11}{'duration':>10}{'peak RSS':>11}{'stored':>11}  key metric"
    lines = [header, "-" * 100]
    for node in summary["nodes"]:
        status = "reused" if node.get("reused") else node["status"]
        duration = f"{node['duration_s']:.1f}s" if node["duration_s"] is not None else "-"
        rss = f"{node['peak_rss_mb']:.0f} MB" if node.get("peak_rss_mb") is not None else "-"
        stored = f"{node['stored_mb']:.1f} MB" if node.get("stored_mb") is not None else "-"
        lines.append(f"{node['name']:<24}{status:<11}{duration:>10}{rss:>11}{stored:>11}  {node['key_metric']}")
    lines.append("-" * 100)
    if summary.get("input_sequences"):
        lines.append(
            f"stored: {summary['stored_mb']:.1f} MB of data ({summary['stored_kb_per_sequence']:.1f} KB per input "
            f"sequence) + {summary['model_mb']:.1f} MB of model files; "
            f"largest step peak RSS {summary['peak_rss_mb']} MB"
        )
    if summary.get("reused_steps"):
        reused = ", ".join(summary["reused_steps"])
        lines.append(f"reused from an earlier run (same data, code and parameters): {reused}")
    status = summary["status"] + (f" by {summary['aborted_by']}" if summary.get("aborted_by") else "")
    lines.append(f"pipeline {summary['pipeline_id']}: {status} in {summary['duration_s']:.0f}s")
    lines += format_decisions(summary)
    for node in summary["nodes"]:
        if node.get("error"):
            lines.append(f"\nstep '{node['name']}' failed; last lines of {node['log']}:\n{node['error']}")
    if summary["status"] == "completed":
        hpo_result = summary["hpo"]
        lines.append(
            f"\nfinal model: {hpo_result['model_name']} ({hpo_result['source']}), "
            f"test top-1 {summary['test_top1']:.4f}, top-5 {summary['test_top5']:.4f}"
        )
        if summary.get("tflite_path"):
            lines.append(f"TFLite model: {summary['tflite_path']}")
    else:
        lines.append(
            f"\nfailed: {summary.get('failed_steps')}; aborted: {summary.get('aborted_steps')}; "
            f"not run: {summary.get('not_run_steps')}"
        )
    lines.append(f"run folder: {summary['run_dir']}")
    if summary.get("sessions_dir"):
        lines.append(
            f"offline ClearML sessions: {summary['sessions_dir']} "
            "(upload one with: clearml-task --import-offline-session <session>.zip)"
        )
    return "\n".join(lines)
