"""Published models and the ``production`` tag: the ClearML model registry the server loads from.

Server only: offline there is no registry, and production is ``runs/production.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pose2gloss.orchestration.artifacts import artifact_json
from pose2gloss.orchestration.tracking import PROJECT


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
