"""The ClearML boundary of a step: task start-up, parameters and the offline/server switch.

Every step script goes through :func:`start_step`, so they all behave the same way:

* no ClearML server configured -> the SDK's offline mode (sessions land under
  ``$CLEARML_CACHE_DIR/offline`` and can be imported to a server later);
* ``POSE2GLOSS_REGISTER_ONLY=1`` -> create the task with its parameters and stop, which is how
  the pipeline registers the base task of each step;
* under the pipeline (or an agent) the values connected here are replaced by the task's.

What steps hand each other and report is in :mod:`pose2gloss.orchestration.artifacts`; published
models and the production tag in :mod:`pose2gloss.orchestration.registry`.

Step scripts import their heavy dependencies (TensorFlow, pandas) after :func:`start_step`, so a
register-only run takes a second or two. The rest of the library never imports ClearML.
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pose2gloss.orchestration import artifacts
from pose2gloss.orchestration.resources import peak_rss_bytes

PROJECT = "pose2gloss"
SECTION = "General"  # where task.connect(dict) puts parameters: "General/<name>"
REGISTER_ENV = "POSE2GLOSS_REGISTER_ONLY"
REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_CONFIG = REPO_ROOT / "clearml.conf"
REGISTERED_MARKER = "POSE2GLOSS_REGISTERED_TASK"
TASK_ID_FILE_ENV = "POSE2GLOSS_TASK_ID_FILE"  # where a step writes its task id, for whoever started it
PEAK_RSS_VALUE = "peak_rss_mb"  # reported by every step as it exits
# Variables through which ClearML ties a process to a parent's task; a child step must not inherit them.
PARENT_TASK_ENV = (
    "CLEARML_TASK_ID", "TRAINS_TASK_ID", "CLEARML_SIMULATE_REMOTE_TASK", "CLEARML_LOG_TASK_TO_BACKEND",
    "CLEARML_PROC_MASTER_ID", "TRAINS_PROC_MASTER_ID",
)  # fmt: skip


def child_environment(task_id: str | None = None) -> dict[str, str]:
    """Environment for a step subprocess: the parent's task detached; optionally run ``task_id``."""
    env = {k: v for k, v in os.environ.items() if k not in PARENT_TASK_ENV}
    if task_id:
        env.update({"CLEARML_TASK_ID": task_id, "TRAINS_TASK_ID": task_id, "CLEARML_SIMULATE_REMOTE_TASK": "1"})
    return env


def server_configured() -> bool:
    """True when a ClearML server is configured (env credentials or a user config file) or an agent runs us.

    An agent started with ``--use-owner-token`` hands its task a configuration without
    credentials, but it always sets ``CLEARML_TASK_ID``: that alone means server mode.
    """
    if os.environ.get("CLEARML_OFFLINE_MODE", "").lower() in ("1", "true", "yes"):
        return False
    if os.environ.get("CLEARML_TASK_ID"):
        return True
    if os.environ.get("CLEARML_API_HOST") and os.environ.get("CLEARML_API_ACCESS_KEY"):
        return True
    config = os.environ.get("CLEARML_CONFIG_FILE")
    candidates = [Path(config)] if config else [Path.home() / "clearml.conf", Path.home() / ".clearml.conf"]
    return any(p.is_file() and "access_key" in p.read_text() for p in candidates if p != LOCAL_CONFIG)


def configure_environment(cache_dir: str | Path | None = None) -> bool:
    """Select offline mode when no server is configured; returns True when offline.

    Offline, the project's ``clearml.conf`` is used (it turns off the reporting subprocess,
    which otherwise adds ~10 s to every task close) and sessions go under ``cache_dir``.
    Child processes inherit these variables.
    """
    if server_configured():
        return False
    os.environ["CLEARML_OFFLINE_MODE"] = "1"
    os.environ.setdefault("CLEARML_CONFIG_FILE", str(LOCAL_CONFIG))
    if cache_dir is not None:
        os.environ["CLEARML_CACHE_DIR"] = str(Path(cache_dir).resolve())
    return True


def offline_sessions_dir() -> Path:
    from clearml.config import get_cache_dir

    return Path(get_cache_dir()) / "offline"


def parse_overrides(defaults: Mapping[str, Any], argv: list[str] | None) -> dict[str, Any]:
    """Command-line ``--name value`` overrides of a step's defaults, typed like the defaults."""
    parser = argparse.ArgumentParser(description="Run this pipeline step on its own (values override defaults).")
    for name, value in defaults.items():
        parser.add_argument(f"--{name}", type=_argparse_type(value), default=value)
    return vars(parser.parse_args(argv))


def parse_value(default: Any, value: Any) -> Any:
    """``value`` as the type of ``default``; text that is not of that type raises ``ValueError``.

    Strict on purpose: ``1.5`` for an integer parameter is an error, never silently ``1``.
    """
    if isinstance(default, bool):
        return value if isinstance(value, bool) else _parse_bool(str(value))
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        number = float(str(value).strip())
        if not number.is_integer():
            raise ValueError(f"not an integer: {value!r}")
        return int(number)
    if isinstance(default, float):
        return float(value)
    return value if isinstance(value, str) else str(value)


def _argparse_type(default: Any):
    def convert(text: str) -> Any:
        try:
            return parse_value(default, text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from err

    convert.__name__ = type(default).__name__  # argparse names the type in its error message
    return convert


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def start_step(
    task_name: str,
    defaults: Mapping[str, Any],
    argv: list[str] | None = None,
    task_type: str = "data_processing",
    gpu: bool = False,
):
    """``Task.init`` + ``task.connect`` for a step; returns ``(task, params)``.

    In register-only mode the task is left as a draft with its parameters and the process exits.
    ``gpu`` tasks record a GPU-capable TensorFlow as their requirement (see :func:`gpu_requirements`),
    since an agent installs what the task records. With a server, artifacts and models are
    uploaded to the files server (``output_uri``), so other machines can fetch them.
    """
    offline = configure_environment()
    params = parse_overrides(defaults, argv)
    from clearml import Task

    for name, version in task_requirements(gpu).items():
        Task.add_requirements(name, version)
    for name in CPU_ONLY_PACKAGES if gpu else ():
        Task.ignore_requirements(name)
    task = Task.init(**init_options(task_name, getattr(Task.TaskTypes, task_type), offline=offline))
    task.connect(params)
    if task.is_offline():
        _store_artifacts_in_run_folder(task)
    id_file = os.environ.get(TASK_ID_FILE_ENV)
    if id_file:
        Path(id_file).write_text(task.id)
    if os.environ.get(REGISTER_ENV) == "1":
        print(f"{REGISTERED_MARKER}={task.id}", flush=True)
        if Task.running_locally() and not task.is_offline():
            task.execute_remotely(queue_name=None, clone=False, exit_process=True)
        task.close()
        sys.exit(0)
    _close_on_signal(task)
    # Runs before ClearML's own exit hook (registered earlier), so the value is still sent.
    atexit.register(lambda: artifacts.report_single_values(task, {PEAK_RSS_VALUE: peak_rss_bytes() / 2**20}))
    return task, coerce_like(defaults, params)


def _close_on_signal(task) -> None:
    """On SIGINT/SIGTERM (an aborted run), tag the task ``aborted``, close its session and exit 128+signal.

    Without this the process dies with its offline session unzipped and unmarked.
    """

    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        try:
            print(f"aborted by {name}", flush=True)
            task.add_tags(["aborted"])
            task.mark_stopped(force=True, status_message=f"aborted by {name}")
            task.close()
        finally:
            os._exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def init_options(task_name: str, task_type: Any, *, offline: bool) -> dict[str, Any]:
    """``Task.init`` arguments of a step. With a server, ``output_uri=True`` uploads artifacts and models
    to the files server; without it a model would be registered as a path on the agent's disk."""
    return {
        "project_name": PROJECT,
        "task_name": task_name,
        "task_type": task_type,
        "reuse_last_task_id": False,
        "auto_connect_frameworks": {"tensorflow": False, "tensorboard": False, "matplotlib": False},
        "auto_connect_arg_parser": False,
        "output_uri": None if offline else True,
    }


# This machine's TensorFlow build is CPU-only; a GPU agent must install the CUDA build of the same version.
CPU_ONLY_PACKAGES = ("tensorflow_cpu", "tensorflow-cpu")
GPU_TENSORFLOW = "tensorflow[and-cuda]"


def task_requirements(gpu: bool, requirements_file: Path = REPO_ROOT / "requirements.txt") -> dict[str, str]:
    """The exact pins an agent installs for a task: ``requirements.txt``, with GPU TensorFlow on GPU tasks.

    An agent installs what the task records, and ClearML's import scan of a step script finds
    little (steps import late) and would pin this machine's ``tensorflow-cpu``; so every pin of
    ``requirements.txt`` is recorded (the runtime's only: the tools that develop and test the project
    are in ``requirements-dev.txt``), and a GPU task gets ``tensorflow[and-cuda]`` of the same version.
    """
    pins: dict[str, str] = {}
    for line in requirements_file.read_text().splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if not sep:
            continue
        if gpu and name.strip().lower() in CPU_ONLY_PACKAGES:
            name = GPU_TENSORFLOW
        pins[name.strip()] = f"=={version.strip()}"
    return pins


def _store_artifacts_in_run_folder(task) -> None:
    """Offline, upload artifacts to one folder next to the sessions instead of into each session.

    Inside a session they would be kept twice (the session folder and its zip, which is
    deflated at close); here each file is written once and other steps read it in place.
    """
    store = offline_sessions_dir().parent / "artifacts"
    store.mkdir(parents=True, exist_ok=True)
    task.output_uri = store.as_uri()


def coerce_like(defaults: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Values from the ClearML web UI or an override arrive as strings: give them the defaults' types back."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        try:
            out[name] = parse_value(defaults[name], value) if name in defaults else value
        except ValueError as err:
            raise SystemExit(f"parameter {name}={value!r}: {err}") from err
    return out


def on_agent(task) -> bool:
    """True when a ClearML agent runs this task (not this machine, offline or with a server)."""
    from clearml import Task

    return not task.is_offline() and not Task.running_locally()
