"""What steps hand each other and report: the artifacts and reported values of ClearML tasks.

A step reads another step's artifacts by that task's id, which the pipeline passes as a parameter.
Offline, artifacts are files in one folder next to the sessions (see
:func:`pose2gloss.orchestration.tracking.start_step`) and are read in place; with a server they are
uploaded to, and fetched from, its files server.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


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
