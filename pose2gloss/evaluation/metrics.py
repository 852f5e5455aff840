"""Evaluation: top-k accuracy, per-class accuracy, a confusion-matrix figure and the export gates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

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


# Keras rows whose two best scores are closer than this are numerical near-ties: an exported
# model may legitimately order them the other way, so the FP32 gate reports them apart.
NEAR_TIE_MARGIN = 1e-4
# Half-precision weights move scores by ~1e-3, enough to flip close calls but not more than 1%
# of the decisive ones; rows closer than FP16_NEAR_TIE_MARGIN are near-ties at that precision.
FP16_MIN_AGREEMENT = 0.99
FP16_NEAR_TIE_MARGIN = 1e-2
# How far a row of exported scores may sum from 1 and still be a probability distribution.
DISTRIBUTION_TOLERANCE = 1e-3


@dataclass(frozen=True)
class GateResult:
    """One export check: its verdict, the numbers behind it and the rows a person should look at."""

    name: str
    passed: bool
    reason: str
    metrics: dict[str, float]
    rows: list[int] = field(default_factory=list)  # failing rows, or the near-ties of an agreement gate that passed

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def top2_margin(scores: np.ndarray) -> np.ndarray:
    """Per row, the best score minus the second best (0 when there is a single class)."""
    scores = np.asarray(scores)
    if scores.shape[1] < 2:
        return np.zeros(len(scores))
    best_two = -np.partition(-scores, 1, axis=1)[:, :2]
    return best_two[:, 0] - best_two[:, 1]


def distribution_gate(name: str, scores: np.ndarray, tolerance: float = DISTRIBUTION_TOLERANCE) -> GateResult:
    """Exported outputs must be probabilities: finite, non-negative, each row summing to ~1.

    Clients read ``score`` as the model's probability; anything else is an export bug.
    """
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores).all(axis=1)
    negative = (np.where(np.isfinite(scores), scores, 0.0) < 0).any(axis=1)
    sums = np.where(finite, scores.sum(axis=1), np.nan)
    off = finite & (np.abs(sums - 1.0) > tolerance)
    bad = np.flatnonzero(~finite | negative | off)
    metrics = {
        "rows": float(len(scores)),
        "non_finite_rows": float(np.sum(~finite)),
        "negative_rows": float(np.sum(negative)),
        "max_sum_error": float(np.nanmax(np.abs(sums - 1.0))) if finite.any() else float("nan"),
    }
    reason = (
        f"{len(bad)} of {len(scores)} rows are not a probability distribution "
        f"({int(metrics['non_finite_rows'])} non-finite, {int(metrics['negative_rows'])} negative, "
        f"{int(np.sum(off))} summing off 1 by > {tolerance})"
        if len(bad)
        else f"all {len(scores)} rows finite, non-negative, summing to 1 within {tolerance}"
    )
    return GateResult(f"{name}_distribution", not len(bad), reason, metrics, bad.tolist())


def fp32_agreement_gate(exported: np.ndarray, reference: np.ndarray, margin: float = NEAR_TIE_MARGIN) -> GateResult:
    """The FP32 export must pick the reference's top-1 wherever the reference is decisive.

    Rows whose reference top-2 margin is <= ``margin`` are near-ties: they are counted and
    listed, not failed, since any float reordering may flip them.
    """
    return _agreement_gate("fp32_agreement", exported, reference, margin, minimum=1.0)


def fp16_agreement_gate(
    exported: np.ndarray,
    reference: np.ndarray,
    minimum: float = FP16_MIN_AGREEMENT,
    margin: float = FP16_NEAR_TIE_MARGIN,
) -> GateResult:
    """The FP16 export must agree with the reference's top-1 on at least ``minimum`` of the decisive rows.

    Half-precision weights move scores by ~1e-3, so rows whose reference top-2 margin is
    <= ``margin`` are near-ties at that precision: counted and listed, not held against it.
    """
    return _agreement_gate("fp16_agreement", exported, reference, margin, minimum)


def _agreement_gate(
    name: str, exported: np.ndarray, reference: np.ndarray, margin: float, minimum: float
) -> GateResult:
    """Top-1 agreement on the rows where the reference's top-2 margin exceeds ``margin``."""
    exported, reference = _same_shape(exported, reference)
    agree = exported.argmax(axis=1) == reference.argmax(axis=1)
    decisive = top2_margin(reference) > margin
    disagreements = np.flatnonzero(decisive & ~agree)
    near_ties = np.flatnonzero(~decisive)
    compared = int(decisive.sum())
    decisive_agreement = float(agree[decisive].mean()) if compared else 1.0
    metrics = {
        "compared": float(compared),
        "near_ties": float(len(near_ties)),
        "disagreements": float(len(disagreements)),
        "decisive_agreement": decisive_agreement,
        "top1_agreement": float(agree.mean()),
        "max_abs_diff": float(np.max(np.abs(exported - reference))),
    }
    passed = decisive_agreement >= minimum
    if minimum >= 1.0:
        verdict = (
            f"top-1 equal on all {compared} rows with a top-2 margin > {margin:g}"
            if passed
            else f"top-1 differs on {len(disagreements)} of {compared} rows with a top-2 margin > {margin:g}"
        )
    else:
        verdict = (
            f"top-1 agreement {decisive_agreement:.4f} {'>=' if passed else '<'} {minimum} "
            f"on {compared} rows with a top-2 margin > {margin:g}"
        )
    reason = f"{verdict}; {len(near_ties)} near-ties not compared"
    rows = near_ties if passed else disagreements
    return GateResult(name, passed, reason, metrics, rows.tolist())


def export_gates(reference: np.ndarray, fp32: np.ndarray, fp16: np.ndarray) -> list[GateResult]:
    """Every check an exported bundle must pass before it is published."""
    return [
        distribution_gate("fp32", fp32),
        distribution_gate("fp16", fp16),
        fp32_agreement_gate(fp32, reference),
        fp16_agreement_gate(fp16, reference),
    ]


def failed_gates_message(results: Sequence[GateResult], row_ids: Mapping[int, object] | None = None) -> str:
    """The failed gates, one line each with its evidence and the first offending rows."""
    lines = []
    for result in results:
        if result.passed:
            continue
        shown = [row_ids[r] if row_ids else r for r in result.rows[:10]]
        lines.append(f"{result.name}: {result.reason}; rows {shown}{' ...' if len(result.rows) > 10 else ''}")
    return "\n".join(lines)


def _same_shape(exported: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    exported, reference = np.asarray(exported, np.float64), np.asarray(reference, np.float64)
    if exported.shape != reference.shape or exported.ndim != 2 or len(exported) == 0:
        raise ValueError(
            f"need two equal, non-empty (rows, classes) score arrays, got {exported.shape} and {reference.shape}"
        )
    return exported, reference
