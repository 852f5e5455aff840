"""The seven-step DAG on ClearML's ``PipelineController``, with a server or without one.

split -> augment -> transform -> {train GISLR || train ConvNeXtTiny} -> select -> HPO -> evaluate

Each node is a step script registered as a base task (a register-only run of the script).
With a server, the controller clones those tasks onto the CPU/GPU queues for agents, after a
pre-flight of the queues and the repository (:mod:`pose2gloss.doctor`); a step whose agent died
fails the run, and the whole run has a time limit. Without one, the same controller runs every
node as a local subprocess through :class:`OfflineStepJob`, which takes a node's status from its
process exit code, writes the node's whole output to a log file and shows its progress and
results, not library chatter, on the console.

One concern a module:

* :mod:`~pose2gloss.orchestration.pipeline.dag`: the nodes, their parameters and presets;
* :mod:`~pose2gloss.orchestration.pipeline.run`: base tasks, the controller, pre-flight, reuse;
* :mod:`~pose2gloss.orchestration.pipeline.jobs`: how a node executes (local subprocess, or agent);
* :mod:`~pose2gloss.orchestration.pipeline.interrupt`: Ctrl-C and SIGTERM;
* :mod:`~pose2gloss.orchestration.pipeline.summary`: the run's outcome and decisions, as data and as text.
"""

from pose2gloss.orchestration.pipeline.dag import (
    FULL_PRESET,
    PIPELINE_NAME,
    SAMPLE_PRESET,
    Step,
    build_steps,
    step_defaults,
    typed_overrides,
)
from pose2gloss.orchestration.pipeline.interrupt import RunInterrupted, interruptible
from pose2gloss.orchestration.pipeline.jobs import (
    OfflineStepJob,
    ServerStepJob,
    offline_job_class,
    terminate_running_steps,
)
from pose2gloss.orchestration.pipeline.run import (
    OFFLINE_POLL_MINUTES,
    SERVER_POLL_MINUTES,
    SERVER_TIME_LIMIT_MINUTES,
    PreflightError,
    preflight,
    register_base_tasks,
    run_pipeline,
)
from pose2gloss.orchestration.pipeline.summary import (
    NodeResult,
    PipelineRun,
    decisions,
    format_decisions,
    format_summary,
    summarise,
)
from pose2gloss.orchestration.reuse import DATA_STEPS

__all__ = [
    "DATA_STEPS",
    "FULL_PRESET",
    "OFFLINE_POLL_MINUTES",
    "PIPELINE_NAME",
    "SAMPLE_PRESET",
    "SERVER_POLL_MINUTES",
    "SERVER_TIME_LIMIT_MINUTES",
    "NodeResult",
    "OfflineStepJob",
    "PipelineRun",
    "PreflightError",
    "RunInterrupted",
    "ServerStepJob",
    "Step",
    "build_steps",
    "decisions",
    "format_decisions",
    "format_summary",
    "interruptible",
    "offline_job_class",
    "preflight",
    "register_base_tasks",
    "run_pipeline",
    "step_defaults",
    "summarise",
    "terminate_running_steps",
    "typed_overrides",
]
