"""Training with Keras: checkpoint the best epoch, reload it, and measure it on validation.

Nothing here knows about ClearML: the step scripts pass a callback for per-epoch logging and
log the returned metrics themselves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pose2gloss.batches import ArrayFeatures, FeatureSource, dataset
from pose2gloss.evaluate import top_k_accuracy
from pose2gloss.features import FeatureConfig
from pose2gloss.models import build_model, model_params

WEIGHTS_FILE = "model.weights.h5"
CARD_FILE = "model.json"
EVAL_BATCH = 64  # memory grows with it (activations), not with the data


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 64
    learning_rate: float = 1e-3
    epochs: int = 30
    reduce_lr_patience: int = 3
    early_stopping_patience: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError(f"batch_size and epochs must be >= 1, got {self.batch_size}, {self.epochs}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


@dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]
    metrics: dict[str, float]  # val_loss, val_accuracy (top-1), val_top5, best_epoch
    params: dict[str, Any] = field(default_factory=dict)


def train(
    model_name: str,
    train_data: FeatureSource | tuple[np.ndarray, np.ndarray],
    val_data: FeatureSource | tuple[np.ndarray, np.ndarray],
    num_classes: int,
    *,
    config: TrainConfig = TrainConfig(),
    params: Mapping[str, Any] | None = None,
    checkpoint_path: str | Path,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> TrainResult:
    """Train ``model_name`` on preprocessed features, keep the best epoch by validation top-1.

    Data is streamed block by block (see :mod:`pose2gloss.batches`); arrays are accepted too.
    """
    train_data, val_data = as_source(train_data), as_source(val_data)
    if len(train_data) == 0 or len(val_data) == 0:
        raise ValueError(f"need training and validation samples, got {len(train_data)} and {len(val_data)}")
    keras.utils.set_random_seed(config.seed)
    full_params = model_params(model_name, params)
    model = build_model(model_name, tuple(train_data.shape), num_classes, full_params)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5")],
    )
    checkpoint_path = Path(checkpoint_path)
    checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    fit = model.fit(
        dataset(train_data, config.batch_size, seed=config.seed),
        validation_data=dataset(val_data, EVAL_BATCH),
        epochs=config.epochs,
        shuffle=False,  # the dataset shuffles, block by block
        verbose=verbose,
        callbacks=[
            keras.callbacks.ModelCheckpoint(
                checkpoint_path, monitor="val_accuracy", mode="max", save_best_only=True, save_weights_only=True
            ),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=config.reduce_lr_patience),
            keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.early_stopping_patience),
            *callbacks,
        ],
    )
    history = {k: [float(v) for v in values] for k, values in fit.history.items()}
    model.load_weights(checkpoint_path)
    metrics = evaluate_model(model, val_data, prefix="val_")
    metrics["best_epoch"] = float(int(np.argmax(history["val_accuracy"])) + 1)
    return TrainResult(model, history, metrics, full_params)


def as_source(data: FeatureSource | tuple[np.ndarray, np.ndarray]) -> FeatureSource:
    return data if isinstance(data, FeatureSource) else ArrayFeatures(*data)


def predict_blocks(model: keras.Model, data: FeatureSource) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Scores and labels, one block at a time."""
    for x, y in data.blocks():
        if len(y):
            yield model.predict(x, batch_size=EVAL_BATCH, verbose=0), y


def evaluate_model(
    model: keras.Model, data: FeatureSource | tuple[np.ndarray, np.ndarray], prefix: str = ""
) -> dict[str, float]:
    """Loss, top-1 (as ``accuracy``) and top-5 of ``model``, streamed over the data's blocks."""
    totals = ScoreTotals()
    for scores, y in predict_blocks(model, as_source(data)):
        totals.add(scores, y)
    return {f"{prefix}{k}": v for k, v in totals.result().items()}


class ScoreTotals:
    """Loss and top-1/top-5 hits summed over blocks: the metrics of a split of any size."""

    def __init__(self) -> None:
        self.n = 0
        self.loss_sum = self.top1 = self.top5 = 0.0

    def add(self, scores: np.ndarray, labels: np.ndarray) -> None:
        probabilities = np.clip(scores[np.arange(len(labels)), labels], 1e-7, 1.0)
        self.loss_sum += float(-np.sum(np.log(probabilities)))
        self.top1 += top_k_accuracy(scores, labels, 1) * len(labels)
        self.top5 += top_k_accuracy(scores, labels, 5) * len(labels)
        self.n += len(labels)

    def result(self) -> dict[str, float]:
        if self.n == 0:
            raise ValueError("no samples to evaluate")
        loss = self.loss_sum / self.n
        if not math.isfinite(loss):
            raise FloatingPointError("model produced non-finite scores")
        return {"loss": loss, "accuracy": self.top1 / self.n, "top5": self.top5 / self.n}


def save_trained(
    directory: str | Path,
    model: keras.Model,
    *,
    model_name: str,
    params: Mapping[str, Any],
    features: FeatureConfig,
    num_classes: int,
    metrics: Mapping[str, float] | None = None,
) -> Path:
    """Write weights plus a JSON card with everything needed to rebuild the model."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # A compiled model saves its optimizer state with its weights (three times the size for
    # Adam): save the weights from an uncompiled twin, which is all that inference needs.
    bare = build_model(model_name, tuple(model.input_shape[1:]), num_classes, params)
    bare.set_weights(model.get_weights())
    bare.save_weights(directory / WEIGHTS_FILE)
    card = {
        "model_name": model_name,
        "params": dict(params),
        "features": features.to_dict(),
        "num_classes": num_classes,
        "metrics": dict(metrics or {}),
    }
    (directory / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True))
    return directory


def load_trained(directory: str | Path) -> tuple[keras.Model, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_trained`; returns the model and its card."""
    directory = Path(directory)
    return load_model_files(directory / WEIGHTS_FILE, json.loads((directory / CARD_FILE).read_text()))


def load_model_files(weights: str | Path, card: Mapping[str, Any]) -> tuple[keras.Model, dict[str, Any]]:
    """Rebuild a model from its weights file and card (the two files :func:`save_trained` writes)."""
    features = FeatureConfig(**card["features"])
    model = build_model(
        card["model_name"], (features.max_len, features.n_features), card["num_classes"], card["params"]
    )
    model.load_weights(weights)
    return model, dict(card)
