"""Model registry: the pipeline's ``model_name`` picks an architecture of :mod:`pose2gloss.models`.

The builders take every parameter by keyword with no default of their own: the defaults are
:data:`pose2gloss.training.config.MODEL_DEFAULTS`, applied by :func:`build_model`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import keras

from pose2gloss.models.convnext import build_convnext_tiny
from pose2gloss.models.gislr import ECA, LateDropout, MaskedPooling, ZeroPadding, build_gislr
from pose2gloss.training.config import MODEL_DEFAULTS


@dataclass(frozen=True)
class ModelSpec:
    builder: Callable[..., keras.Model]
    defaults: Mapping[str, Any] = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "GISLR": ModelSpec(build_gislr, MODEL_DEFAULTS["GISLR"]),
    "ConvNeXtTiny": ModelSpec(build_convnext_tiny, MODEL_DEFAULTS["ConvNeXtTiny"]),
}
CUSTOM_OBJECTS = {"ECA": ECA, "LateDropout": LateDropout, "MaskedPooling": MaskedPooling, "ZeroPadding": ZeroPadding}


def model_params(name: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The model's defaults with ``overrides`` applied; unknown names are an error, not ignored."""
    spec = _spec(name)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(spec.defaults))
    if unknown:
        raise ValueError(f"unknown parameters for {name}: {unknown}; known: {sorted(spec.defaults)}")
    return {**spec.defaults, **overrides}


def build_model(
    name: str, input_shape: tuple[int, int], num_classes: int, params: Mapping[str, Any] | None = None
) -> keras.Model:
    """Build a registered model by name with its defaults overridden by ``params``."""
    return _spec(name).builder(input_shape, num_classes, **model_params(name, params))


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; choose one of {sorted(MODELS)}")
    return MODELS[name]


__all__ = ["CUSTOM_OBJECTS", "MODELS", "ModelSpec", "build_model", "model_params"]
