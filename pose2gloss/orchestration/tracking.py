"""The ClearML boundary: task start-up, parameters, artifacts and the offline/server switch.

Every step script goes through :func:`start_step`, so they all behave the same way:

* no ClearML server configured -> the SDK's offline mode (sessions land under
  ``$CLEARML_CACHE_DIR/offline`` and can be imported to a server later);
* ``POSE2GLOSS_REGISTER_ONLY=1`` -> create the task with its parameters and stop, which is how
  the pipeline registers the base task of each step;
* under the pipeline (or an agent) the values connected here are replaced by the task's.

Step scripts import their heavy dependencies (TensorFlow, pandas) after :func:`start_step`, so a
register-only run takes a second or two. The rest of the library never imports ClearML.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

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
    atexit.register(lambda: report_single_values(task, {PEAK_RSS_VALUE: peak_rss_bytes() / 2**20}))
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
    ``requirements.txt`` is recorded, and a GPU task gets ``tensorflow[and-cuda]`` of the same version.
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


def upload_json(task, name: str, payload: Mapping[str, Any]) -> None:
    task.upload_artifact(name, artifact_object=dict(payload), wait_on_upload=True)


def upload_file(task, name: str, path: str | Path) -> None:
    task.upload_artifact(name, artifact_object=Path(path), wait_on_upload=True)


def upload_moving(task, name: str, path: str | Path) -> None:
    """Upload a file and delete the local one: a step's output never stays twice on its disk."""
    upload_file(task, name, path)
    Path(path).unlink()


def upload_split(task, name: str, write: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Upload a sharded split as it is written: each shard as ``<name>/<file stem>``, the index as ``name``.

    ``write(on_shard=...)`` writes the split, calling ``on_shard`` with every finished shard file.
    A shard uploads in the background while the next one is written, so at most two are on disk.
    """
    from pose2gloss.data.background import SerialBackground

    with SerialBackground(pending=1) as uploads:
        index = write(on_shard=lambda path: uploads.submit(upload_moving, task, f"{name}/{path.stem}", path))
    upload_json(task, name, index)
    return index


def sharded_split(task_id: str, name: str):
    """A split uploaded by :func:`upload_split`; each shard is fetched (offline: found) when read."""
    from clearml import Task

    from pose2gloss.data.shards import ShardedSplit

    source = Task.get_task(task_id=task_id)
    index = artifact_json(task_id, name, source)
    keep_in_cache(len(index["shards"]))
    return ShardedSplit(index, lambda file: artifact_local_copy(task_id, f"{name}/{Path(file).stem}", source))


# ClearML's download cache keeps its newest 100 files by default: fewer than the shards one
# training run reads every epoch at GISLR size, which would be downloaded again each epoch.
DEFAULT_CACHE_FILES = 100
_cached_shards = 0


def keep_in_cache(shards: int) -> int:
    """Make room in the download cache for ``shards`` more files this process reads; returns the limit."""
    global _cached_shards
    from clearml import StorageManager

    _cached_shards += shards
    return StorageManager.set_cache_file_limit(DEFAULT_CACHE_FILES + _cached_shards)


def trained_model(task_id: str):
    """The Keras model a training task uploaded (``model`` weights + ``model_card``) and its card."""
    from clearml import Task

    from pose2gloss.training.train import load_model_files

    source = Task.get_task(task_id=task_id)
    return load_model_files(artifact_local_copy(task_id, "model", source), artifact_json(task_id, "model_card", source))


def artifact_local_copy(task_id: str, name: str, source=None, extract: bool = True) -> Path:
    """Local path of an artifact of another task (downloaded or, offline, in the run folder).

    A folder artifact is a zip; ``extract=False`` gives the zip itself instead of a copy unpacked
    in ClearML's cache (offline, the zip is already on this disk).
    """
    from clearml import Task

    source = source or Task.get_task(task_id=task_id)
    if name not in source.artifacts:
        raise KeyError(f"task {task_id} has no artifact '{name}' (has {sorted(source.artifacts)})")
    local = source.artifacts[name].get_local_copy(extract_archive=extract)
    if local is None:
        raise FileNotFoundError(f"artifact '{name}' of task {task_id} could not be fetched")
    return Path(local)


def link_artifact(task_id: str, name: str, destination: Path) -> Path:
    """Put a file artifact at ``destination`` as a hard link (a copy only across file systems)."""
    source = artifact_local_copy(task_id, name)
    destination.unlink(missing_ok=True)
    try:
        os.link(source, destination)
    except OSError as err:
        if err.errno != errno.EXDEV:  # only a link to another file system is impossible by nature
            raise
        shutil.copyfile(source, destination)
    return destination


def unpack_folder_artifact(task_id: str, name: str, destination: Path) -> Path:
    """Unpack a folder artifact straight into ``destination``: one unpacked copy, where it is used."""
    shutil.unpack_archive(artifact_local_copy(task_id, name, extract=False), destination, format="zip")
    return destination


def artifact_json(task_id: str, name: str, source=None) -> dict[str, Any]:
    path = artifact_local_copy(task_id, name, source)
    return json.loads(path.read_text())


def reported_value(task_id: str, name: str) -> float | None:
    """A single value a task reported (server)."""
    from clearml import Task

    return Task.get_task(task_id=task_id).get_reported_single_value(name)


def console_tail(task, lines: int, reports: int = 10) -> list[str]:
    """The last ``lines`` lines a task printed, as the server has them, without library chatter."""
    from pose2gloss.orchestration.console import is_chatter

    printed = task.get_reported_console_output(number_of_reports=reports)
    kept = [line for report in printed for line in report.splitlines() if line.strip() and not is_chatter(line)]
    return kept[-lines:]


def artifact_bytes(task_id: str) -> int:
    """Total size of a task's artifacts as the server records them."""
    from clearml import Task

    return sum(a.size or 0 for a in Task.get_task(task_id=task_id).artifacts.values())


def report_scalars(task, title: str, values: Mapping[str, float], iteration: int = 0) -> None:
    logger = task.get_logger()
    for series, value in values.items():
        logger.report_scalar(title=title, series=series, value=float(value), iteration=iteration)


def report_single_values(task, values: Mapping[str, float]) -> None:
    logger = task.get_logger()
    for name, value in values.items():
        logger.report_single_value(name, float(value))


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def publish_output_model(task, weights_path: str | Path, model_name: str) -> str:
    """Register the weights as a published ClearML model of ``task`` (server only)."""
    from clearml import OutputModel

    model = OutputModel(task=task, framework="Keras", name=f"{PROJECT}-{model_name}", tags=[model_name])
    # Synchronous: the weights file is a step's temporary output and may be gone once this returns.
    model.update_weights(weights_filename=str(weights_path), auto_delete_file=False, async_enable=False)
    model.publish()
    return model.id


BUNDLE_MODEL = f"{PROJECT}-bundle"  # the model the server loads: step 7's whole bundle folder
PRODUCTION_TAG = "production"


def publish_bundle(task, bundle_dir: str | Path, record: Mapping[str, Any]) -> str:
    """Upload step 7's bundle folder as the published model ``pose2gloss-bundle`` and return its id.

    Synchronous (``async_enable=False``): the bundle lives in a temporary folder. The model's
    record (test metrics and test-set identity) is its task's ``metrics`` artifact, read back by
    :func:`production_bundle`; the comment is for people (the SDK prefixes its own text to it).
    """
    from clearml import OutputModel

    model = OutputModel(
        task=task,
        name=BUNDLE_MODEL,
        framework="TensorFlow_Lite",
        tags=[str(record.get("model_name", ""))],
        comment=f"{record.get('model_name', '')} bundle, test top-1 {record.get('test_top1')}",
    )
    model.update_weights_package(weights_path=str(bundle_dir), async_enable=False, auto_delete_file=False)
    model.publish()
    return model.id


RECORD_ARTIFACT = "metrics"  # step 7's report: the bundle model's record


def production_bundle() -> tuple[str, dict[str, Any]] | None:
    """The published bundle model tagged ``production`` and its record, if there is one.

    Searched in every project: a pipeline's steps, and so their models, live in
    ``pose2gloss/.pipelines/<name>``, which a ``project_name`` filter would miss. The record is
    the ``metrics`` artifact of the task that published the model (step 7).
    """
    from clearml import Model

    found = Model.query_models(model_name=BUNDLE_MODEL, tags=[PRODUCTION_TAG], only_published=True, max_results=1)
    if not found:
        return None
    record = artifact_json(found[0].task, RECORD_ARTIFACT)
    return found[0].id, {k: v for k, v in record.items() if k != "per_class_accuracy"}


def move_production_tag(model_id: str) -> list[str]:
    """Tag ``model_id`` ``production`` and take the tag off every other bundle model; returns those ids."""
    from clearml import Model

    moved = []
    for other in Model.query_models(model_name=BUNDLE_MODEL, tags=[PRODUCTION_TAG]):
        if other.id != model_id:
            set_model_tags(other, [t for t in other.tags if t != PRODUCTION_TAG])
            moved.append(other.id)
    target = Model(model_id=model_id)
    set_model_tags(target, sorted({*target.tags, PRODUCTION_TAG}))
    return moved


def set_model_tags(model, tags: list[str]) -> None:
    """Replace a model's tags, an empty list included (the SDK's ``Model.tags = []`` keeps the old ones)."""
    model._get_base_model().edit(tags=list(tags))
