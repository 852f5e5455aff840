"""The bag-of-frames baseline: a linear classifier on per-sequence statistics of the features.

It sees each sequence only through the mean and the spread over its frames of every position
feature, so it knows where the hands and lips are and how far they move, but not in which
order. A sequence model that does not beat it has learnt nothing about time, and a dataset
on which it scores high cannot show whether a model has. Every pipeline run trains it on the
same training split as the candidates (step 5) and reports it beside them.

Ridge regression onto one-hot labels, solved in closed form from sums accumulated block by
block: memory is a block plus two small matrices, whatever the dataset size. No ClearML, no Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose2gloss.evaluation.metrics import top_k_accuracy
from pose2gloss.preprocessing.features import N_MODEL_LANDMARKS
from pose2gloss.training.batches import FeatureSource

NAME = "bag-of-frames ridge"
# Ridge strength per training sample, on standardised statistics.
DEFAULT_ALPHA = 0.01


def sequence_statistics(x: np.ndarray) -> np.ndarray:
    """``(n, max_len, F)`` padded features -> ``(n, 2 * positions)``: mean and std over each sequence's frames.

    Frames are the rows that are not padding (padding rows are all zero by definition).
    Only the position features are summarised; their order in time is discarded.
    """
    positions = np.asarray(x, np.float64)[..., : N_MODEL_LANDMARKS * 2]
    valid = np.any(np.asarray(x) != 0, axis=-1, keepdims=True)
    count = np.maximum(valid.sum(axis=1), 1)
    mean = (positions * valid).sum(axis=1) / count
    var = (np.square(positions - mean[:, None]) * valid).sum(axis=1) / count
    return np.concatenate([mean, np.sqrt(var)], axis=1)


@dataclass
class LinearBaseline:
    """Ridge classifier weights over ``[statistics, 1]``; scores are one per class."""

    weights: np.ndarray  # (statistics + 1, classes)
    seen: np.ndarray  # (classes,) bool: classes with training samples; the others are never predicted

    def scores(self, x: np.ndarray) -> np.ndarray:
        stats = sequence_statistics(x)
        scores = np.concatenate([stats, np.ones((len(stats), 1))], axis=1) @ self.weights
        return np.where(self.seen, scores, -np.inf)


def fit_baseline(data: FeatureSource, num_classes: int, alpha: float = DEFAULT_ALPHA) -> LinearBaseline:
    """Fit the ridge classifier on every block of ``data`` (one pass, sums only).

    The penalty on each statistic is scaled by its variance, which is ridge on standardised
    statistics; the intercept is not penalised.
    """
    gram = targets = None
    n = 0
    for x, y in data.blocks():
        if not len(y):
            continue
        stats = sequence_statistics(x)
        design = np.concatenate([stats, np.ones((len(stats), 1))], axis=1)
        onehot = np.zeros((len(y), num_classes))
        onehot[np.arange(len(y)), y] = 1.0
        gram = design.T @ design if gram is None else gram + design.T @ design
        targets = design.T @ onehot if targets is None else targets + design.T @ onehot
        n += len(y)
    if gram is None or targets is None:
        raise ValueError("no training samples for the baseline")
    sums = gram[-1, :-1]
    variance = np.maximum(np.diag(gram)[:-1] / n - np.square(sums / n), 1e-12)
    penalty = np.diag(np.append(alpha * n * variance, 0.0))
    return LinearBaseline(np.linalg.solve(gram + penalty, targets), targets[-1] > 0)


def evaluate_baseline(baseline: LinearBaseline, data: FeatureSource, prefix: str = "") -> dict[str, float]:
    """Top-1 (as ``accuracy``) and top-5 over ``data``; no loss, since the scores are not probabilities."""
    top1 = top5 = 0.0
    n = 0
    for x, y in data.blocks():
        if not len(y):
            continue
        scores = baseline.scores(x)
        top1 += top_k_accuracy(scores, y, 1) * len(y)
        top5 += top_k_accuracy(scores, y, 5) * len(y)
        n += len(y)
    if not n:
        raise ValueError("no samples to evaluate the baseline on")
    return {f"{prefix}accuracy": top1 / n, f"{prefix}top5": top5 / n}
