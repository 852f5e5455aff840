"""The seven-step DAG on ClearML's ``PipelineController``, with a server or without one.

split -> augment -> transform -> {train GISLR || train ConvNeXtTiny} -> select -> HPO -> evaluate

Each node is a step script registered as a base task (a register-only run of the script).
With a server, the controller clones those tasks onto the CPU/GPU queues for agents. Without
one, the same controller runs every node as a local subprocess through
:class:`OfflineStepJob`, which takes a node's status from its process exit code (offline
tasks cannot report status through a server) and tees the node's output, prefixed with its
name, to the console and a log file.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clearml import Task
from clearml.automation import PipelineController
from clearml.automation.job import LocalClearmlJob

from pose2gloss import tracking

PIPELINE_NAME = "pose2gloss-pipeline"
# How often the controller looks at its nodes: local processes can be polled every second.
OFFLINE_POLL_MINUTES = 1 / 60
SERVER_POLL_MINUTES = 0.2


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
            s.name, s.module, s.parents, {**s.parameters, **preset.get(s.name, {}), **overrides.get(s.name, {})}, s.gpu
        )
        for s in steps
    ]


# Sized so the whole DAG runs in minutes on a 2-core laptop; ConvNeXtTiny (28M parameters)
# trains on a subset there and properly on GPU agents with FULL_PRESET.
SAMPLE_PRESET: dict[str, dict[str, Any]] = {
    "train_gislr": {"epochs": 10, "dim": 96},
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
        match = re.search(rf"{tracking.REGISTERED_MARKER}=(\S+)", done.stdout)
        if done.returncode != 0 or not match:
            raise RuntimeError(
                f"registering {step.name} ({step.module}) failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
            )
        return match.group(1)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip([s.name for s in steps], pool.map(register, steps), strict=True))


class OfflineStepJob(LocalClearmlJob):
    """A ``LocalClearmlJob`` whose status comes from its subprocess, for runs without a server.

    Offline, the base task itself runs (nothing can be cloned), so a task id names its node.
    """

    log_dir: Path = Path("logs")
    node_names: Mapping[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exit_code: int | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.node_name = self.node_names.get(self.task.id, self.task.name)
        self.log_path = self.log_dir / f"{self.node_name}.log"
        self._pump: threading.Thread | None = None

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
        )
        self._pump = threading.Thread(target=self._tee, daemon=True)
        self._pump.start()
        return True

    def _tee(self) -> None:
        """Copy the step's output to its log file and, prefixed with the node name, to the console."""
        assert self._job_process is not None and self._job_process.stdout is not None
        with self.log_path.open("w") as log:
            for line in self._job_process.stdout:
                log.write(line)
                log.flush()
                sys.stdout.write(f"[{self.node_name}] {line}")
                sys.stdout.flush()

    def status(self, force: bool = False) -> str:
        if self._job_process is not None:
            code = self._job_process.poll()
            if code is None:
                return Task.TaskStatusEnum.in_progress
            if self._pump:
                self._pump.join(timeout=10)
            self.exit_code, self.ended_at, self._job_process = code, time.time(), None
        if self.exit_code is None:
            return Task.TaskStatusEnum.queued
        return Task.TaskStatusEnum.completed if self.exit_code == 0 else Task.TaskStatusEnum.failed

    def status_message(self) -> str:
        return f"exit code {self.exit_code}" if self.exit_code is not None else ""

    def elapsed(self) -> float:
        if self.started_at is None:
            return -1
        return (self.ended_at or time.time()) - self.started_at


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


@dataclass
class PipelineRun:
    controller_id: str
    nodes: list[NodeResult] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return bool(self.nodes) and all(n.status == "completed" and n.task_id for n in self.nodes)


def run_pipeline(
    steps: list[Step],
    *,
    offline: bool,
    cpu_queue: str = "cpu",
    gpu_queue: str = "gpu",
    controller_queue: str | None = None,
    log_dir: Path = Path("logs"),
    version: str = "1.0.0",
) -> PipelineRun | None:
    """Register base tasks, build the controller and run it.

    Locally (offline, or with a server and no ``controller_queue``) this blocks until the DAG
    ends and returns every node's result; with ``controller_queue`` the controller itself is
    enqueued for an agent (e.g. on ``services``) and ``None`` is returned.
    """
    base_ids = register_base_tasks(steps)
    pipe = PipelineController(
        name=PIPELINE_NAME,
        project=tracking.PROJECT,
        version=version,
        add_pipeline_tags=False,
        pool_frequency=OFFLINE_POLL_MINUTES if offline else SERVER_POLL_MINUTES,
    )
    pipe.set_default_execution_queue(cpu_queue)
    for step in steps:
        parameters = {f"{tracking.SECTION}/{k}": v for k, v in step.parameters.items()}
        if step.name == "hyperparameter_tuning":
            parameters[f"{tracking.SECTION}/execution_queue"] = gpu_queue
        pipe.add_step(
            name=step.name,
            base_task_id=base_ids[step.name],
            parents=list(step.parents),
            parameter_override=parameters,
            execution_queue=gpu_queue if step.gpu else cpu_queue,
            clone_base_task=not offline,
            cache_executed_step=False,
        )
    if offline:
        # The controller's job factory is the one private hook used: pinned clearml, covered by tests.
        pipe._clearml_job_class = offline_job_class(log_dir, {v: k for k, v in base_ids.items()})
    elif controller_queue:
        pipe.start(queue=controller_queue)
        return None
    pipe.start_locally(run_pipeline_steps_locally=False)
    return _collect(pipe, steps)


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
            status = {0: "completed", None: "not run"}.get(job.exit_code, "failed")
            duration = job.elapsed() if job.started_at else None
            log = str(job.log_path)
            if status == "failed" and job.log_path.is_file():
                error = "".join(job.log_path.read_text().splitlines(keepends=True)[-15:])
        elif node.job_started and node.job_ended:
            duration = node.job_ended - node.job_started
        task_id = node.executed or (job.task_id() if job else None)
        run.nodes.append(NodeResult(step.name, status, task_id, duration, log, error))
    return run


# The artifact each node's key metric is read from, and how to phrase it.
_KEY_METRICS = {
    "data_splitting": ("source", lambda a: f"{a['sequences']} sequences"),
    "train_gislr": ("metrics", lambda a: f"val top-1 {a['val_accuracy']:.3f}"),
    "train_convnexttiny": ("metrics", lambda a: f"val top-1 {a['val_accuracy']:.3f}"),
    "model_selection": ("selection", lambda a: f"{a['model_name']} (val top-1 {a['val_accuracy']:.3f})"),
    "hyperparameter_tuning": ("hpo_result", lambda a: f"{a['source']}: val top-1 {a['metrics']['val_accuracy']:.3f}"),
    "model_evaluation": ("metrics", lambda a: f"test top-1 {a['test_top1']:.3f}, top-5 {a['test_top5']:.3f}"),
}


def summarise(run: PipelineRun, run_dir: Path, *, offline: bool, duration_s: float) -> dict[str, Any]:
    """Everything a person or CI needs from a run, read back from the steps' artifacts."""
    nodes = []
    artifacts: dict[str, dict[str, Any]] = {}
    for node in run.nodes:
        entry: dict[str, Any] = {
            "name": node.name,
            "status": node.status,
            "task_id": node.task_id,
            "duration_s": round(node.duration_s, 1) if node.duration_s is not None else None,
            "log": node.log,
            "key_metric": "",
        }
        if node.error:
            entry["error"] = node.error
        if node.status == "completed" and node.name in _KEY_METRICS and node.task_id:
            name, phrase = _KEY_METRICS[node.name]
            artifacts[node.name] = tracking.artifact_json(node.task_id, name)
            entry["key_metric"] = phrase(artifacts[node.name])
        nodes.append(entry)
    summary: dict[str, Any] = {
        "pipeline_id": run.controller_id,
        "status": "completed" if run.succeeded else "failed",
        "offline": offline,
        "run_dir": str(run_dir.resolve()),
        "duration_s": round(duration_s, 1),
        "nodes": nodes,
    }
    if offline:
        summary["sessions_dir"] = str(tracking.offline_sessions_dir())
    evaluation = artifacts.get("model_evaluation")
    if run.succeeded and evaluation:
        hpo_result = artifacts["hyperparameter_tuning"]
        summary.update(
            {
                "test_top1": evaluation["test_top1"],
                "test_top5": evaluation["test_top5"],
                "selected_model": artifacts["model_selection"]["model_name"],
                "hpo": {
                    k: hpo_result[k]
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
                },
                "evaluation_task_id": next(n.task_id for n in run.nodes if n.name == "model_evaluation"),
                "tflite": evaluation["tflite"],
            }
        )
    else:
        failed = [n for n in nodes if n["status"] != "completed"]
        summary["failed_steps"] = [n["name"] for n in failed if n["status"] == "failed"]
        summary["not_run_steps"] = [n["name"] for n in failed if n["status"] != "failed"]
    return summary


def format_summary(summary: Mapping[str, Any]) -> str:
    """The run as a table a person reads at the end of the console output."""
    lines = [f"\n{'step':<24}{'status':<11}{'duration':>10}  key metric", "-" * 80]
    for node in summary["nodes"]:
        duration = f"{node['duration_s']:.1f}s" if node["duration_s"] is not None else "-"
        lines.append(f"{node['name']:<24}{node['status']:<11}{duration:>10}  {node['key_metric']}")
    lines.append("-" * 80)
    lines.append(f"pipeline {summary['pipeline_id']}: {summary['status']} in {summary['duration_s']:.0f}s")
    for node in summary["nodes"]:
        if node.get("error"):
            lines.append(f"\nstep '{node['name']}' failed; last lines of {node['log']}:\n{node['error']}")
    if summary["status"] == "completed":
        lines.append(
            f"final model: {summary['hpo']['model_name']} ({summary['hpo']['source']}), "
            f"test top-1 {summary['test_top1']:.4f}, top-5 {summary['test_top5']:.4f}"
        )
        if summary.get("tflite_path"):
            lines.append(f"TFLite model: {summary['tflite_path']}")
    else:
        lines.append(f"failed: {summary.get('failed_steps')}; not run: {summary.get('not_run_steps')}")
    lines.append(f"run folder: {summary['run_dir']}")
    if summary.get("sessions_dir"):
        lines.append(
            f"offline ClearML sessions: {summary['sessions_dir']} "
            "(upload one with: clearml-task --import-offline-session <session>.zip)"
        )
    return "\n".join(lines)
