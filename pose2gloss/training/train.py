"""Training with Keras: checkpoint the best epoch, reload it, and measure it on validation.

Two recipes, chosen by ``TrainConfig.schedule``:

* ``plateau``: Adam(W), the learning rate halved when ``val_loss`` stalls, early stopping;
* ``cosine`` / ``onecycle``: the GISLR 1st-place recipe, a fixed number of epochs with a
  linear warm-up then a cosine decay (``onecycle`` starts and ends at a fraction of the peak
  instead of 0), AdamW's decoupled weight decay, label smoothing, late dropout switched on at
  an epoch, and adversarial weight perturbation (AWP) from an epoch on.

Either way the weights of the best epoch (validation top-1) are the result. Nothing here knows
about ClearML: the step scripts pass a callback for per-epoch logging and log the returned
metrics themselves.
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

from pose2gloss.evaluation.metrics import top_k_accuracy
from pose2gloss.preprocessing.features import FeatureConfig
from pose2gloss.training.batches import ArrayFeatures, FeatureSource, dataset
from pose2gloss.training.config import TrainConfig
from pose2gloss.training.registry import build_model, model_params

WEIGHTS_FILE = "model.weights.h5"
CARD_FILE = "model.json"
EVAL_BATCH = 64  # memory grows with it (activations), not with the data


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

    Data is streamed block by block (see :mod:`pose2gloss.training.batches`); arrays are accepted too.
    """
    train_data, val_data = as_source(train_data), as_source(val_data)
    if len(train_data) == 0 or len(val_data) == 0:
        raise ValueError(f"need training and validation samples, got {len(train_data)} and {len(val_data)}")
    keras.utils.set_random_seed(config.seed)
    full_params = model_params(model_name, params)
    built = build_model(model_name, tuple(train_data.shape), num_classes, full_params)
    model = AWPModel(built.inputs, built.outputs, awp=config.awp, name=built.name) if config.awp > 0 else built
    steps_per_epoch = -(-len(train_data) // config.batch_size)
    model.compile(
        optimizer=optimizer(config, steps_per_epoch),
        loss=sparse_crossentropy(config.label_smoothing),
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5")],
    )
    checkpoint_path = Path(checkpoint_path)
    checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    schedule_callbacks: list[keras.callbacks.Callback] = []
    if config.schedule == "plateau":
        schedule_callbacks = [
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=config.reduce_lr_patience),
            keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.early_stopping_patience),
        ]
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
            LateStart(config),
            *schedule_callbacks,
            *callbacks,
        ],
    )
    history = {k: [float(v) for v in values] for k, values in fit.history.items()}
    model.load_weights(checkpoint_path)  # the AWP wrapper shares its layers with the plain model
    metrics = evaluate_model(built, val_data, prefix="val_")
    metrics["best_epoch"] = float(int(np.argmax(history["val_accuracy"])) + 1)
    return TrainResult(built, history, metrics, full_params)


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``start * peak`` to ``peak`` over ``warmup_steps``, then cosine down to ``end * peak``."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int, start: float = 0.0, end: float = 0.0):
        self.peak, self.total_steps, self.warmup_steps = peak, max(total_steps, 1), warmup_steps
        self.start, self.end = start, end

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        warm = ops.maximum(float(self.warmup_steps), 1.0)
        rising = self.peak * (self.start + (1.0 - self.start) * ops.minimum(step / warm, 1.0))
        progress = ops.clip((step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 0.0, 1.0)
        falling = self.peak * (self.end + (1.0 - self.end) * 0.5 * (1.0 + ops.cos(math.pi * progress)))
        return ops.where(step < self.warmup_steps, rising, falling)

    def get_config(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("peak", "total_steps", "warmup_steps", "start", "end")}


def optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """AdamW with the configured decay; the rate follows the schedule over the fixed epochs, or the plateau callback."""
    rate: float | WarmupCosine = config.learning_rate
    if config.schedule != "plateau":
        total = config.epochs * steps_per_epoch
        start, end = (0.0, 0.0) if config.schedule == "cosine" else (1 / 25, 1e-4)  # OneCycle's usual factors
        rate = WarmupCosine(config.learning_rate, total, int(round(config.warmup * total)), start, end)
    if config.weight_decay > 0:
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(rate)


def sparse_crossentropy(label_smoothing: float = 0.0):
    """Cross-entropy on integer labels and probabilities, towards ``1 - e`` on the label plus ``e / classes`` on all."""
    if label_smoothing <= 0:
        return "sparse_categorical_crossentropy"

    def loss(y_true, y_pred):
        classes = keras.ops.shape(y_pred)[-1]
        onehot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, [-1]), "int32"), classes)
        target = onehot * (1.0 - label_smoothing) + label_smoothing / keras.ops.cast(classes, y_pred.dtype)
        return keras.losses.categorical_crossentropy(target, y_pred)

    return loss


class LateStart(keras.callbacks.Callback):
    """Switches late dropout and AWP on at their start epochs (they are off before); logs the learning rate."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.config = config

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for layer in self.model.layers:
            if hasattr(layer, "active"):
                layer.active.assign(1.0 if epoch >= self.config.late_dropout_start else 0.0)
        if isinstance(self.model, AWPModel):
            self.model.awp_scale.assign(self.model.awp if epoch >= self.config.awp_start else 0.0)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None and "learning_rate" not in logs:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class AWPModel(keras.Model):
    """A model trained with adversarial weight perturbation (AWP).

    Each step first moves every weight tensor up its loss gradient by ``awp_scale`` times its
    own norm, takes the ordinary step from there, then moves back: the model learns weights
    whose neighbourhood also fits, which generalises better on unseen signers.
    """

    def __init__(self, *args: Any, awp: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.awp = awp
        self.awp_scale = self.add_weight(shape=(), initializer="zeros", trainable=False, name="awp_scale")

    def train_step(self, data):
        import tensorflow as tf

        x, y = data[0], data[1]
        weights = [w for w in self.trainable_weights if len(w.shape) > 1]  # kernels, not biases or norms
        with tf.GradientTape() as tape:
            loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True), training=True)
        grads = tape.gradient(loss, weights)
        deltas = []
        for weight, grad in zip(weights, grads, strict=True):
            grad = tf.zeros_like(weight) if grad is None else tf.convert_to_tensor(grad)
            delta = self.awp_scale * grad / (tf.norm(grad) + 1e-12) * (tf.norm(weight.value) + 1e-12)
            weight.assign_add(delta)
            deltas.append(delta)
        logs = super().train_step(data)
        for weight, delta in zip(weights, deltas, strict=True):
            weight.assign_sub(delta)
        return logs


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
