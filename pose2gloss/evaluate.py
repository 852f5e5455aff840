"""Evaluation: top-k accuracy, per-class accuracy and a confusion-matrix figure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Share of rows whose true label is among the ``k`` highest scores."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} do not match")
    if len(labels) == 0:
        raise ValueError("no samples to evaluate")
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def per_class_accuracy(predictions: np.ndarray, labels: np.ndarray) -> dict[int, float]:
    """Top-1 accuracy of each label present in ``labels``."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    return {int(c): float(np.mean(predictions[labels == c] == c)) for c in np.unique(labels)}


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Counts ``[true, predicted]`` over ``classes`` (predictions outside them are dropped)."""
    position = {int(c): i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for true, pred in zip(labels, predictions, strict=True):
        if int(true) in position and int(pred) in position:
            matrix[position[int(true)], position[int(pred)]] += 1
    return matrix


def classification_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {
        "top1": top_k_accuracy(scores, labels, 1),
        "top5": top_k_accuracy(scores, labels, 5),
        "n": float(len(labels)),
    }


def confusion_figure(matrix: np.ndarray, names: Sequence[str], title: str = "Confusion matrix") -> Figure:
    """Row-normalised confusion matrix as a matplotlib figure (no pyplot state involved)."""
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    size = max(4.0, 0.28 * len(names) + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def tflite_agreement(tflite_scores: np.ndarray, reference_scores: np.ndarray) -> dict[str, float]:
    """How closely an exported model reproduces the reference: same top-1 share, max score gap."""
    tflite_scores, reference_scores = np.asarray(tflite_scores), np.asarray(reference_scores)
    if tflite_scores.shape != reference_scores.shape:
        raise ValueError(f"score shapes differ: {tflite_scores.shape} vs {reference_scores.shape}")
    return {
        "top1_agreement": float(np.mean(tflite_scores.argmax(axis=1) == reference_scores.argmax(axis=1))),
        "max_abs_diff": float(np.max(np.abs(tflite_scores - reference_scores))),
    }
