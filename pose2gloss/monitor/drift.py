"""Drift of recent inputs from the reference: the Population Stability Index per feature.

Why PSI: the reference is a histogram (fine bins counted in one streaming pass), and PSI is
defined on exactly that, so neither the training set nor a sample of it has to ship with the
model, as Kolmogorov-Smirnov or Wasserstein would need. It treats point masses (a face that is
never missing, a hand that always is) as bins like any other, where KS on tied values is
unreliable, and its conventional reading (< 0.1 stable, 0.1-0.25 moderate, > 0.25 a significant
shift) gives the default threshold.

The fine bins are merged into at most ``MAX_BINS`` bins of about equal reference mass, so a
window of a few hundred requests fills every bin; empty bins are floored at ``EPSILON``. A
group's score is its most drifted feature's, and the input score is the highest input group's.
The top-1 score is compared the same way but kept apart: it describes the model's answers, not
its inputs.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from pose2gloss.monitor.profile import FEATURES, INPUT_FEATURES, SCORE_FEATURE, Feature, bin_index

MAX_BINS: Final = 10
EPSILON: Final = 1e-4
DEFAULT_THRESHOLD: Final = 0.25
DEFAULT_WINDOW: Final = 200


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI between two distributions over the same bins (counts or probabilities)."""
    p = np.maximum(np.asarray(expected, np.float64) / max(np.sum(expected), 1e-12), EPSILON)
    q = np.maximum(np.asarray(actual, np.float64) / max(np.sum(actual), 1e-12), EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def coarse_edges(counts: np.ndarray, edges: np.ndarray, max_bins: int = MAX_BINS) -> np.ndarray:
    """Indices of the fine edges that cut the reference into <= ``max_bins`` bins of about equal mass."""
    cumulative = np.cumsum(counts) / max(counts.sum(), 1)
    cuts = np.searchsorted(cumulative[:-1], np.arange(1, max_bins) / max_bins, side="left")
    return np.unique(np.clip(cuts, 0, len(edges) - 1))


@dataclass(frozen=True)
class _Compared:
    feature: Feature
    cut: np.ndarray  # fine edges kept, as indices
    expected: np.ndarray  # reference counts in the coarse bins
    mean: float | None
    quantiles: dict[str, float]

    @classmethod
    def build(cls, feature: Feature, stored: dict[str, Any]) -> _Compared:
        counts = np.asarray(stored["counts"], np.int64)
        cut = coarse_edges(counts, feature.edges)
        expected = np.add.reduceat(counts, np.concatenate([[0], cut + 1]))
        return cls(feature, cut, expected, stored.get("mean"), stored.get("quantiles", {}))

    def compare(self, values: np.ndarray) -> float | None:
        values = values[np.isfinite(values)]
        if not len(values) or not self.expected.sum():
            return None
        coarse = np.searchsorted(self.cut + 1, bin_index(values, self.feature.edges), side="right")
        return psi(self.expected, np.bincount(coarse, minlength=len(self.expected)))


@dataclass
class DriftReport:
    """One comparison of a window with the reference (what ``GET /drift`` returns)."""

    status: str  # ok | drift | collecting
    requests: int
    window: int
    min_requests: int
    threshold: float
    score: float | None
    groups: dict[str, float | None]
    features: dict[str, dict[str, float | None]]
    prediction: dict[str, float | None]
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "statistic": "psi",
            "status": self.status,
            "drifted": self.status == "drift",
            "score": self.score,
            "threshold": self.threshold,
            "requests": self.requests,
            "window": self.window,
            "min_requests": self.min_requests,
            "groups": self.groups,
            "features": self.features,
            "prediction": self.prediction,
            "reasons": self.reasons,
        }


class DriftMonitor:
    """The last ``window`` profiles (never the inputs themselves) and their comparison with a reference.

    ``add`` is all a request pays: one row appended under a lock. The comparison runs when asked
    for (a Prometheus scrape, ``GET /drift``).
    """

    def __init__(self, reference: dict[str, Any], window: int = DEFAULT_WINDOW, threshold: float = DEFAULT_THRESHOLD):
        if window < 1 or threshold <= 0:
            raise ValueError(f"window must be >= 1 and threshold > 0, got {window} and {threshold}")
        self.reference = reference
        self.window = window
        self.threshold = threshold
        self.min_requests = min(window, max(10, window // 4))
        stored = reference["features"]
        self._compared = [_Compared.build(f, stored[f.name]) for f in FEATURES if f.name in stored]
        self._rows: deque[np.ndarray] = deque(maxlen=window)
        self._lock = threading.Lock()

    def add(self, profile: np.ndarray, top1_score: float) -> None:
        """One request's input profile and the top-1 score the model gave it."""
        row = np.append(profile, top1_score)
        with self._lock:
            self._rows.append(row)

    def rows(self) -> np.ndarray:
        with self._lock:
            rows = list(self._rows)
        return np.stack(rows) if rows else np.zeros((0, len(FEATURES)))

    def report(self) -> DriftReport:
        return compare(self.rows(), self._compared, self.threshold, self.window, self.min_requests)


def compare_with_reference(
    rows: np.ndarray, reference: dict[str, Any], threshold: float = DEFAULT_THRESHOLD
) -> DriftReport:
    """Compare any set of profile rows (e.g. a request log) with a reference, whatever their number."""
    stored = reference["features"]
    compared = [_Compared.build(f, stored[f.name]) for f in FEATURES if f.name in stored]
    return compare(rows, compared, threshold, len(rows), min(len(rows), 1))


def compare(
    rows: np.ndarray, compared: list[_Compared], threshold: float, window: int, min_requests: int
) -> DriftReport:
    n = len(rows)
    columns = {name: i for i, name in enumerate(f.name for f in FEATURES)}
    features: dict[str, dict[str, float | None]] = {}
    scores: dict[str, float | None] = {}
    if n >= max(min_requests, 1):
        for item in compared:
            values = rows[:, columns[item.feature.name]]
            scores[item.feature.name] = item.compare(values)
            finite = values[np.isfinite(values)]
            features[item.feature.name] = {
                "psi": scores[item.feature.name],
                "window_mean": float(finite.mean()) if len(finite) else None,
                "reference_mean": item.mean,
            }
    groups: dict[str, float | None] = {}
    for feature in INPUT_FEATURES:
        value = scores.get(feature.name)
        best = groups.get(feature.group)
        groups[feature.group] = value if best is None else best if value is None else max(best, value)
    known = [v for v in groups.values() if v is not None]
    score = max(known) if known else None
    status = "collecting" if score is None else "drift" if score > threshold else "ok"
    prediction = {"top1_score": scores.get(SCORE_FEATURE.name)}
    reasons = explain(features, threshold) if status == "drift" else []
    return DriftReport(status, n, window, min_requests, threshold, score, groups, features, prediction, reasons)


def explain(features: dict[str, dict[str, float | None]], threshold: float, limit: int = 3) -> list[str]:
    """Plain sentences for the most drifted input features, most drifted first."""
    kinds = {f.name: f for f in INPUT_FEATURES}
    drifted = sorted(
        (name for name, item in features.items() if name in kinds and (item["psi"] or 0) > threshold),
        key=lambda name: -(features[name]["psi"] or 0),
    )
    return [_sentence(kinds[name], features[name]) for name in drifted[:limit]]


def _sentence(feature: Feature, item: dict[str, float | None]) -> str:
    now, then = item["window_mean"], item["reference_mean"]
    if now is None or then is None:
        return f"{feature.name.replace('_', ' ')}: unlike the training data"
    part, _, axis = feature.name.rpartition("_")
    part = part.replace("_", " ")
    if feature.name == "no_hand":
        return f"no hand visible in {now:.0%} of frames (training data: {then:.0%})"
    if feature.kind == "share":
        return f"{part} missing in {now:.0%} of frames (training data: {then:.0%})"
    if feature.kind == "relative":
        return f"{part} at {axis} {now:+.2f} shoulder widths from the shoulders' midpoint (training data: {then:+.2f})"
    if feature.kind == "coord":
        return f"signer's shoulders at {axis} = {now:.2f} in the image (training data: {then:.2f})"
    if feature.name == "body_scale":
        return f"shoulders {now:.2f} of the image apart (training data: {then:.2f}): signer nearer or farther"
    if feature.kind == "scale":
        return f"{part} {now / then:.1f}x the size, relative to the shoulders, seen in training"
    return f"sequences of {now:.0f} frames on average (training data: {then:.0f})"
