"""The defaults of training and of every model, in one Keras-free place.

Step 4 registers these as its ClearML parameters without importing Keras (registering a step
must stay cheap), and the model registry and the trainer read the same values, so a default
is changed here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

# Each model's parameters and their defaults; pose2gloss.training.registry builds a model from them.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "GISLR": {
        "dim": 128,
        "kernel_size": 17,
        "num_blocks": 2,
        "heads": 4,
        "conv1d_dropout": 0.2,
        "last_dropout": 0.2,
        "drop_path": 0.0,
        "late_dropout": 0.0,
    },
    "ConvNeXtTiny": {"image_size": 32, "last_dropout": 0.2},
}

SCHEDULES = ("plateau", "cosine", "onecycle")


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 64
    learning_rate: float = 0.002
    epochs: int = 12
    reduce_lr_patience: int = 3  # plateau only
    early_stopping_patience: int = 5  # plateau only
    seed: int = 0
    schedule: str = "plateau"
    warmup: float = 0.0  # share of the training steps spent warming up (cosine, onecycle)
    weight_decay: float = 0.0  # decoupled (AdamW)
    label_smoothing: float = 0.0
    late_dropout_start: int = 0  # epoch (from 0) at which a model's LateDropout switches on
    awp: float = 0.0  # AWP's lambda: relative size of the adversarial weight perturbation; 0 is off
    awp_start: int = 0  # epoch (from 0) from which AWP perturbs

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError(f"batch_size and epochs must be >= 1, got {self.batch_size}, {self.epochs}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("warmup", "label_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.weight_decay < 0 or self.awp < 0:
            raise ValueError(f"weight_decay and awp must be >= 0, got {self.weight_decay}, {self.awp}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def all_model_parameters(models: Mapping[str, Mapping[str, Any]] = MODEL_DEFAULTS) -> dict[str, Any]:
    """Every model's parameters in one mapping: one parameter set serves whichever model a run picks.

    A name two models share must have one default, or a run could not say which it meant.
    """
    merged: dict[str, Any] = {}
    for model, defaults in models.items():
        for name, value in defaults.items():
            if name in merged and merged[name] != value:
                raise ValueError(
                    f"models disagree on the default of {name!r}: {merged[name]!r} and {model}'s {value!r}"
                )
            merged[name] = value
    return merged
