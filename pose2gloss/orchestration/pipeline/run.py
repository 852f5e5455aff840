"""Register the base tasks, build ClearML's ``PipelineController`` and run it, with a server or without one."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from clearml import Task
from clearml.automation import PipelineController

from pose2gloss.orchestration import preflight as preflight_checks
from pose2gloss.orchestration import tracking
from pose2gloss.orchestration.console import is_chatter
from pose2gloss.orchestration.pipeline.dag import PIPELINE_NAME, Step
from pose2gloss.orchestration.pipeline.interrupt import RunInterrupted, interruptible
from pose2gloss.orchestration.pipeline.jobs import (
    OfflineStepJob,
    ServerStepJob,
    console_line,
    offline_job_class,
    terminate_running_steps,
)
from pose2gloss.orchestration.pipeline.summary import NodeResult, PipelineRun
from pose2gloss.orchestration.reuse import DATA_STEPS, StepCache, code_version, link_sessions, step_keys, substitute

# How often the controller looks at its nodes: local processes can be polled every second.
OFFLINE_POLL_MINUTES = 1 / 60
SERVER_POLL_MINUTES = 0.2
# A whole server run is stopped (and fails) after this long: a step stuck in a queue never hangs it.
SERVER_TIME_LIMIT_MINUTES = 24 * 60


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
    step_cache: StepCache | None = None,
    data_version: str = "",
    reuse: bool = True,
    pipeline_parameters: Mapping[str, str] | None = None,
    tags: list[str] | None = None,
) -> PipelineRun | None:
    """Register base tasks, build the controller and run it.

    Locally (offline, or with a server and no ``controller_queue``) this blocks until the DAG
    ends and returns every node's result; with ``controller_queue`` the controller itself is
    enqueued for an agent (e.g. on ``services``) and ``None`` is returned. The agent re-runs
    this same code from the task's arguments: it registers base tasks from its own checkout and
    builds the same DAG. ``pipeline_parameters`` (e.g. the dataset id) are the controller's
    ``Args``, referenced by steps as ``${pipeline.<name>}``: a clone of the run with another value
    runs on it. With a server, call :func:`preflight` first: nothing should be registered or
    enqueued before it passes.
    Ctrl-C/SIGTERM stops the running steps and returns the run with ``interrupted`` set.

    The data steps are reused when their data, code and parameters are unchanged: with a
    server through ClearML's step cache (the data version is a parameter of step 1), offline
    through ``step_cache`` (see :mod:`pose2gloss.orchestration.reuse`), which records the data steps of every
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
    base_ids = register_base_tasks(steps)
    pipe = PipelineController(
        name=PIPELINE_NAME,
        project=tracking.PROJECT,
        version=version,
        add_pipeline_tags=False,
        pool_frequency=OFFLINE_POLL_MINUTES if offline else SERVER_POLL_MINUTES,
    )
    pipe.set_default_execution_queue(cpu_queue)
    if tags:  # e.g. the pull request and head commit a CI run was made for: how later jobs find it
        pipe.add_tags(list(tags))
    for name, value in (pipeline_parameters or {}).items():
        pipe.add_parameter(name, value)
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
            cache_executed_step=not offline and reuse and step.name in DATA_STEPS,
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
        console_line(f"{err}: stopping the run")
        stopped = terminate_running_steps()
        console_line(f"stopped {stopped or 'no running steps'}")
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


def preflight(cpu_queue: str, gpu_queue: str, controller_queue: str, api: preflight_checks.ServerApi) -> None:
    """Refuse a server run that would hang or break on the agents, before anything is enqueued."""
    problems = preflight_checks.check_queues(
        api, cpu_queue=cpu_queue, gpu_queue=gpu_queue, controller_queue=controller_queue
    )
    problems += preflight_checks.check_repository()
    for warning in preflight_checks.files_server_warnings(preflight_checks.files_server_host(), gpu_queue):
        print(f"WARNING: {warning}", flush=True)
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
        # ClearML's step cache: the node is an earlier run's completed task
        reused = node.status == "cached" or (isinstance(job, ServerStepJob) and job.is_cached_task())
        status = "completed" if reused else status
        duration = log = error = None
        if isinstance(job, OfflineStepJob):
            status = "aborted" if job.aborted else {0: "completed", None: "not run"}.get(job.exit_code, "failed")
            duration = job.elapsed() if job.started_at else None
            log = str(job.log_path)
            if status == "failed" and job.log_path.is_file():
                lines = job.log_path.read_text().splitlines(keepends=True)
                error = "".join([line for line in lines if not is_chatter(line)][-15:])
        elif isinstance(job, ServerStepJob):
            duration = job.duration()
            error = job.failure() if status == "failed" else None
        task_id = node.executed or (job.task_id() if job else None)
        peak = job.peak_rss_bytes if isinstance(job, OfflineStepJob) else None
        run.nodes.append(NodeResult(step.name, status, task_id, duration, log, error, reused, peak))
    return run
