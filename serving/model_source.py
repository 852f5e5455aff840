"""Find, verify and load the model to serve.

In order: an explicit path (``POSE2GLOSS_MODEL``: a bundle folder, or one of its ``.tflite``
files), the newest ClearML model tagged ``production`` when a ClearML server is configured
(downloaded once into a local cache, checksums verified), or the bundle that the last offline
pipeline run recorded in ``runs/production.json``. Whatever the source, the sign map comes from
the bundle and every file is checked against the card's checksums before it is served.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pose2gloss.bundle import (
    CARD_FILE,
    PRODUCTION_POINTER,
    BundleError,
    ModelBundle,
    production_bundle_dir,
    read_bundle,
)
from pose2gloss.inference import TFLiteClassifier
from serving.settings import Settings

log = logging.getLogger("uvicorn.error.pose2gloss")  # shown with uvicorn's own log lines

BUNDLE_ARTIFACT = "bundle"  # name of the artifact that holds the bundle on a pipeline task


class ModelNotFound(RuntimeError):
    """No source yielded a model; the message lists what was tried."""


@dataclass(frozen=True)
class ServedModel:
    bundle: ModelBundle
    classifier: TFLiteClassifier
    source: str  # "POSE2GLOSS_MODEL", "clearml" or "runs/production.json"
    location: str  # where it came from: a path or a ClearML id
    model_file: Path

    @property
    def model_id(self) -> str:
        return self.bundle.model_id

    @property
    def signs(self) -> list[str]:
        return self.bundle.signs

    @property
    def created(self) -> str | None:
        created = self.bundle.card.get("created")
        return None if created is None else str(created)


def load_model(settings: Settings) -> ServedModel:
    """The model to serve, from the first source that has one (see the module docstring)."""
    if settings.model:
        return load_path(Path(settings.model), "POSE2GLOSS_MODEL", settings.num_threads)
    tried = ["POSE2GLOSS_MODEL: not set"]
    if clearml_wanted(settings):
        try:
            return load_from_clearml(settings)
        except Exception as err:  # noqa: BLE001 - a broken server or download must not stop a fallback
            if settings.clearml == "on":
                raise
            log.warning("ClearML model not used: %s", err)
            tried.append(f"ClearML: {err}")
    else:
        tried.append("ClearML: no server configured" if settings.clearml == "auto" else "ClearML: off")
    pointed = production_bundle_dir(settings.runs_dir)
    if pointed is not None:
        return load_path(pointed, f"{Path(settings.runs_dir).name}/{PRODUCTION_POINTER}", settings.num_threads)
    tried.append(f"{Path(settings.runs_dir) / PRODUCTION_POINTER}: not found")
    raise ModelNotFound(
        "no model to serve; tried "
        + "; ".join(tried)
        + ". Set POSE2GLOSS_MODEL to a bundle folder, or run the pipeline first."
    )


def load_path(path: Path, source: str, num_threads: int = 1) -> ServedModel:
    """Load a bundle folder, or one ``.tflite`` file of a bundle (e.g. ``model_fp16.tflite``)."""
    path = Path(path)
    if path.is_dir():
        bundle = read_bundle(path, verify=True)
        model_file = bundle.model_path
    elif path.is_file():
        bundle = read_bundle(path.parent, verify=True)
        if path.name not in bundle.card.get("files", {}):
            raise BundleError(f"{path}: not one of the checksummed files in {path.parent / CARD_FILE}")
        model_file = path
    else:
        raise BundleError(f"{path}: no such bundle folder or model file")
    classifier = TFLiteClassifier(model_file, num_threads=num_threads)
    if classifier.num_classes != len(bundle.signs):
        raise BundleError(
            f"{model_file}: {classifier.num_classes} outputs but the sign map has {len(bundle.signs)} signs"
        )
    return ServedModel(bundle, classifier, source, str(path.resolve()), model_file)


def clearml_wanted(settings: Settings) -> bool:
    """``auto``: when a ClearML server is configured, by the same rule as the pipeline steps."""
    if settings.clearml != "auto":
        return settings.clearml == "on"
    from pose2gloss.tracking import server_configured

    return server_configured()


def load_from_clearml(settings: Settings) -> ServedModel:
    """The newest ClearML model tagged ``settings.clearml_tag``, else the newest such task.

    A tagged model holds the bundle folder as its weights package. A tagged task holds it as its
    ``bundle`` artifact (what step 7 uploads), or is a pipeline whose step task does. The bundle
    is downloaded once into ``settings.cache_dir/<id>`` and verified on every start.
    """
    from clearml import Model, Task  # only here: the server runs without ClearML installed

    tag, project = settings.clearml_tag, settings.clearml_project or None
    models = Model.query_models(project_name=project, tags=[tag], max_results=1)  # ordered newest first
    if models:
        item = models[0]
        key, location = f"model-{item.id}", f"ClearML model {item.id}"

        def fetch() -> str:
            return item.get_local_copy(extract_archive=True, raise_on_error=True)
    else:
        holder = _task_with_bundle(Task, tag, project)
        key, location = f"task-{holder.id}", f"ClearML task {holder.id} artifact '{BUNDLE_ARTIFACT}'"

        def fetch() -> str:
            return holder.artifacts[BUNDLE_ARTIFACT].get_local_copy(extract_archive=True, raise_on_error=True)

    cached = Path(settings.cache_dir) / key
    for attempt in range(2):
        if not (cached / CARD_FILE).is_file():
            _store(Path(fetch()), cached)
        try:
            served = load_path(cached, "clearml", settings.num_threads)
        except BundleError as err:
            if attempt:
                raise
            log.warning("cached bundle %s is broken (%s); downloading it again", cached, err)
            shutil.rmtree(cached, ignore_errors=True)
            continue
        log.info("serving %s from %s (cache %s)", served.model_id, location, cached)
        return ServedModel(served.bundle, served.classifier, "clearml", location, served.model_file)
    raise AssertionError("unreachable")


def _task_with_bundle(task_class, tag: str, project: str | None):
    """The newest finished task tagged ``tag`` that has the bundle artifact, or whose step has it.

    ``project`` also admits its subprojects (ClearML keeps pipelines in ``<project>/.pipelines``).
    """
    finished = {"order_by": ["-last_update"], "status": ["completed", "published"]}
    for task in task_class.get_tasks(tags=[tag], task_filter=dict(finished)):
        name = task.get_project_name() or ""
        if project and name != project and not name.startswith(project + "/"):
            continue
        if BUNDLE_ARTIFACT in task.artifacts:
            return task
        for step in task_class.get_tasks(task_filter={**finished, "parent": task.id}):
            if BUNDLE_ARTIFACT in step.artifacts:
                return step
    where = f" in project '{project}'" if project else ""
    raise ModelNotFound(
        f"no ClearML model tagged '{tag}'{where}, and no finished task or pipeline tagged '{tag}' "
        f"with a '{BUNDLE_ARTIFACT}' artifact"
    )


def _store(downloaded: Path, cached: Path) -> None:
    """Copy a downloaded bundle into the cache atomically (a half-written cache is never used)."""
    source = downloaded if (downloaded / CARD_FILE).is_file() else _find_bundle(downloaded)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f"{cached.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    shutil.rmtree(cached, ignore_errors=True)
    os.replace(partial, cached)


def _find_bundle(root: Path) -> Path:
    if root.is_dir():
        cards = sorted(root.rglob(CARD_FILE), key=lambda p: len(p.parts))
        if cards:
            return cards[0].parent
    raise BundleError(f"{root}: the download holds no {CARD_FILE}; upload the whole bundle folder")
