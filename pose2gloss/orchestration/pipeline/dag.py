"""The seven-step DAG and its parameters: presets for the sample or full-size data, typed overrides.

split -> augment -> transform -> {train GISLR || train ConvNeXtTiny} -> select -> HPO -> evaluate
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pose2gloss.orchestration import tracking

PIPELINE_NAME = "pose2gloss-pipeline"


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
                    "augment_task_id": "${data_augmentation.id}",
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


# Sized so the whole DAG runs in minutes on a 2-core laptop, with the recipe's online
# augmentation and schedule: ConvNeXtTiny (28M parameters) trains on a subset there and
# properly on GPU agents with FULL_PRESET; HPO trials (up to dim 192) train fewer epochs.
SAMPLE_PRESET: dict[str, dict[str, Any]] = {
    "data_augmentation": {"multiplier": 0},
    "data_transformation": {"max_len": 48},
    "train_gislr": {
        "online_augment": True,
        "epochs": 24,
        "dim": 96,
        "schedule": "cosine",
        "warmup": 0.1,
        "learning_rate": 0.003,
        "weight_decay": 0.01,
        "label_smoothing": 0.1,
    },
    "train_convnexttiny": {"online_augment": True, "epochs": 2, "max_train_samples": 32, "batch_size": 32},
    "hyperparameter_tuning": {"total_max_jobs": 2, "max_number_of_concurrent_tasks": 2, "trial_epochs": 8},
}
# The GISLR 1st-place recipe (hoyso48): unaugmented shards, a fresh augmentation each epoch,
# up to 384 masked frames, AdamW with a warm-up and a cosine decay over fixed epochs, label
# smoothing, late dropout, AWP from epoch 15 and drop path; dim 192 (about 2M parameters).
FULL_RECIPE: dict[str, Any] = {
    "online_augment": True,
    "schedule": "onecycle",
    "warmup": 0.1,
    "weight_decay": 0.05,
    "label_smoothing": 0.1,
    "batch_size": 64,
}
FULL_PRESET: dict[str, dict[str, Any]] = {
    "data_augmentation": {"multiplier": 0},
    "data_transformation": {"max_len": 384},
    "train_gislr": {
        **FULL_RECIPE,
        "epochs": 300,
        "learning_rate": 5e-4,
        "dim": 192,
        "conv1d_dropout": 0.2,
        "last_dropout": 0.0,
        "late_dropout": 0.8,
        "late_dropout_start": 60,
        "drop_path": 0.2,
        "awp": 0.2,
        "awp_start": 15,
    },
    "train_convnexttiny": {**FULL_RECIPE, "epochs": 60, "learning_rate": 1e-3, "image_size": 64},
    "hyperparameter_tuning": {"total_max_jobs": 10, "max_number_of_concurrent_tasks": 2},
}


def step_defaults(module: str) -> dict[str, Any]:
    return dict(__import__(module, fromlist=["DEFAULTS"]).DEFAULTS)
