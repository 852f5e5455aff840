"""Find, verify and load the model to serve.

In order: an explicit path (``POSE2GLOSS_MODEL``: a bundle folder, or one of its ``.tflite``
files); the newest ClearML model named ``pose2gloss-bundle`` and tagged ``production`` in the
``pose2gloss`` project or any of its subprojects, when a ClearML server is configured
(downloaded once into a local cache); or, with no server, the bundle that the last offline
pipeline run recorded in ``runs/production.json``. Whatever the source, the sign map comes from
the bundle and every file is checked against the card's checksums before it is served.

When ClearML is asked and cannot give the model, that is the answer: the server stays unready
with the reason. Only ``POSE2GLOSS_MODEL_FALLBACK=local`` lets it serve the local pointer instead.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pose2gloss.bundle.files import (
    CARD_FILE,
    PRODUCTION_POINTER,
    BundleError,
    ModelBundle,
    production_bundle_dir,
    read_bundle,
)
from pose2gloss.bundle.tflite import TFLiteClassifier
from pose2gloss.orchestration.registry import BUNDLE_MODEL
from pose2gloss.orchestration.tracking import server_configured
from serving.settings import Settings

log = logging.getLogger("uvicorn.error.pose2gloss")  # shown with uvicorn's own log lines

MAX_CANDIDATES = 100  # tagged bundle models looked at, newest first, to find one in the project


class ModelNotFound(RuntimeError):
    """No source yielded a model; the message lists what was tried."""


class ModelUnavailable(RuntimeError):
    """ClearML was asked for the model and could not give it; the server stays unready."""


@dataclass(frozen=True)
class ServedModel:
    bundle: ModelBundle
    classifier: TFLiteClassifier
    source: str  # "POSE2GLOSS_MODEL", "clearml" or "runs/production.json"
    location: str  # where it came from: a path or a ClearML id
    model_file: Path
    fallback_reason: str | None = None  # why the local pointer is served instead of ClearML's model

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
    """The model to serve, from the first source that has one (see the module docstring).

    Raises:
        ModelUnavailable: ClearML was asked and failed, and no fallback was allowed (or it failed too).
        ModelNotFound: no ClearML, and no local pointer either.
    """
    if settings.model:
        return load_path(Path(settings.model), "POSE2GLOSS_MODEL", settings.num_threads)
    pointer = Path(settings.runs_dir) / PRODUCTION_POINTER
    if not clearml_wanted(settings):
        skipped = "ClearML: no server configured" if settings.clearml == "auto" else "ClearML: off"
        served = _load_pointer(settings)
        if served is None:
            raise ModelNotFound(
                f"no model to serve; tried POSE2GLOSS_MODEL: not set; {skipped}; {pointer}: not found. "
                "Set POSE2GLOSS_MODEL to a bundle folder, or run the pipeline first."
            )
        return served
    try:
        return _within(settings.clearml_timeout, load_from_clearml, settings)
    except Exception as err:  # noqa: BLE001 - any failure (lookup, download, checksums) is the same answer
        reason = f"ClearML model lookup failed: {type(err).__name__}: {err}"
    if settings.model_fallback != "local":
        raise ModelUnavailable(
            f"{reason}. Fix the ClearML server or its '{settings.clearml_tag}' model, set POSE2GLOSS_MODEL, "
            f"or set POSE2GLOSS_MODEL_FALLBACK=local to serve {pointer} instead."
        )
    served = _load_pointer(settings)
    if served is None:
        raise ModelUnavailable(f"{reason}; POSE2GLOSS_MODEL_FALLBACK=local, but {pointer}: not found.")
    log.warning("%s; serving %s (POSE2GLOSS_MODEL_FALLBACK=local)", reason, pointer)
    return ServedModel(
        served.bundle, served.classifier, served.source, served.location, served.model_file, fallback_reason=reason
    )


def _load_pointer(settings: Settings) -> ServedModel | None:
    pointed = production_bundle_dir(settings.runs_dir)
    if pointed is None:
        return None
    return load_path(pointed, f"{Path(settings.runs_dir).name}/{PRODUCTION_POINTER}", settings.num_threads)


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


def _within(seconds: float, function: Callable[[Settings], ServedModel], settings: Settings) -> ServedModel:
    """``function(settings)``, or TimeoutError after ``seconds``: ClearML's SDK retries a dead server for many minutes.

    The call runs on a daemon thread, so one that never returns does not keep the process alive.
    """
    outcome: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=1)

    def call() -> None:
        try:
            outcome.put((True, function(settings)))
        except BaseException as err:  # noqa: BLE001 - handed to the caller as it is
            outcome.put((False, err))

    threading.Thread(target=call, name="pose2gloss-clearml-lookup", daemon=True).start()
    try:
        ok, value = outcome.get(timeout=seconds)
    except queue.Empty:
        raise TimeoutError(f"no answer within {seconds:g}s (POSE2GLOSS_CLEARML_TIMEOUT)") from None
    if not ok:
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]


def clearml_wanted(settings: Settings) -> bool:
    """``auto``: when a ClearML server is configured, by the same rule as the pipeline steps."""
    if settings.clearml != "auto":
        return settings.clearml == "on"
    return server_configured()


def load_from_clearml(settings: Settings) -> ServedModel:
    """The newest ClearML bundle model tagged ``settings.clearml_tag``, downloaded once and verified.

    The model's weights package is the bundle folder (``get_local_copy`` extracts it). It is
    cached in ``settings.cache_dir/model-<id>`` and verified on every start; a broken cached copy
    is fetched again once.
    """
    from clearml import Model, Task  # only here: the server runs without ClearML installed

    item = find_bundle_model(Model, Task, settings.clearml_tag, settings.clearml_project or None)
    location = f"ClearML model {item.id}"
    cached = Path(settings.cache_dir) / f"model-{item.id}"
    for attempt in range(2):
        if not (cached / CARD_FILE).is_file():
            _store(Path(item.get_local_copy(extract_archive=True, raise_on_error=True)), cached)
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


def find_bundle_model(model_class: Any, task_class: Any, tag: str, project: str | None) -> Any:
    """The newest published model named ``pose2gloss-bundle`` tagged ``tag`` in ``project`` or its subprojects.

    Step 7 publishes it (``pose2gloss.orchestration.registry.publish_bundle``) and promotion moves the tag.

    ``Model.query_models(project_name=...)`` matches one project exactly, and cannot even name the
    hidden ``<project>/.pipelines/<pipeline>`` projects where pipeline steps publish their models.
    So the project and all its subprojects, hidden ones included, are listed first, and the
    newest tagged bundle models are kept when they belong to one of them.
    """
    where = ""
    if project:
        found = task_class.get_projects(
            name=f"^{re.escape(project)}(/.*)?$", search_hidden=True, only_fields=["id", "name"]
        )
        names = {p.id: p.name for p in found}
        if not names:
            raise ModelNotFound(f"no ClearML project '{project}'")
        where = f" in project '{project}' or its subprojects ({', '.join(sorted(names.values()))})"
    candidates = model_class.query_models(
        model_name=BUNDLE_MODEL, tags=[tag], only_published=True, include_archived=False, max_results=MAX_CANDIDATES
    )  # newest first
    for model in candidates:
        if not project or model.project in names:
            return model
    raise ModelNotFound(f"no published ClearML model named '{BUNDLE_MODEL}' tagged '{tag}'{where}")


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
