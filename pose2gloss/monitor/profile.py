"""Profiles of landmark sequences, and the reference profile of a training set.

A sequence's *profile* is a handful of numbers that describe what the camera saw, not what was
signed: its length; the share of frames where the lips, the pose, each hand and both hands are
missing; where each hand is and how large, relative to the shoulders; and the framing (where
the shoulders sit in the image and how wide they are). The server profiles every request from
the model landmarks, exactly what step 2 keeps in its shards, so the reference (profiles of the
training sequences) and the live window are measured alike.

The reference is built in one streaming pass: each feature is counted in fixed, fine bins
(which also give its quantiles) and summed for its mean, so no split is ever held whole.
Numpy only: the server imports this without TensorFlow.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from pose2gloss.data.shards import Block
from pose2gloss.preprocessing.landmarks import LIPS_FACE_INDICES, MODEL_LANDMARKS, POSE_SUBSET_INDICES, TYPE_SIZES

FORMAT: Final = "pose2gloss-reference/1"
QUANTILES: Final = (0.05, 0.25, 0.5, 0.75, 0.95)

# The model landmarks come in this order (landmarks.model_landmark_indices): one slice per part.
_SIZES = {
    "lips": len(LIPS_FACE_INDICES),
    "left_hand": TYPE_SIZES["left_hand"],
    "right_hand": TYPE_SIZES["right_hand"],
    "pose": len(POSE_SUBSET_INDICES),
}
PARTS: Final[tuple[str, ...]] = tuple(_SIZES)
_BOUNDS = np.cumsum([0, *_SIZES.values()])
_SHOULDERS = (
    int(_BOUNDS[PARTS.index("pose")]) + POSE_SUBSET_INDICES.index(11),
    int(_BOUNDS[PARTS.index("pose")]) + POSE_SUBSET_INDICES.index(12),
)
assert int(_BOUNDS[-1]) == len(MODEL_LANDMARKS)

# Fine bins (edges; values below the first edge or at/above the last one get bins of their own).
# Shares have exact 0 and 1 as bins of their own: "never missing" is most of the mass for a face.
_SHARE = np.concatenate([[1e-9], np.linspace(0.02, 0.98, 49), [1 - 1e-9]])
_COORD = np.round(np.linspace(-1.0, 2.0, 151), 6)  # image-normalised coordinates, 0.02 apart
_RELATIVE = np.round(np.linspace(-4.0, 4.0, 161), 6)  # in shoulder widths from the shoulders' midpoint
_SCALE = np.round(np.geomspace(1e-3, 4.0, 90), 6)
_LENGTH = np.unique(np.round(np.geomspace(1, 1025, 70))).astype(float)
_SCORE = np.round(np.linspace(0.0, 1.0, 51)[1:], 6)


@dataclass(frozen=True)
class Feature:
    name: str
    group: str  # what the per-group drift gauge is labelled with
    kind: str  # share, coord, relative, scale, length, score: how it is binned and described
    edges: np.ndarray


INPUT_FEATURES: Final[tuple[Feature, ...]] = (
    Feature("length", "length", "length", _LENGTH),
    Feature("lips_missing", "lips", "share", _SHARE),
    Feature("pose_missing", "pose", "share", _SHARE),
    Feature("left_hand_missing", "left_hand", "share", _SHARE),
    Feature("left_hand_x", "left_hand", "relative", _RELATIVE),
    Feature("left_hand_y", "left_hand", "relative", _RELATIVE),
    Feature("left_hand_size", "left_hand", "scale", _SCALE),
    Feature("right_hand_missing", "right_hand", "share", _SHARE),
    Feature("right_hand_x", "right_hand", "relative", _RELATIVE),
    Feature("right_hand_y", "right_hand", "relative", _RELATIVE),
    Feature("right_hand_size", "right_hand", "scale", _SCALE),
    Feature("no_hand", "hands", "share", _SHARE),
    Feature("body_x", "framing", "coord", _COORD),
    Feature("body_y", "framing", "coord", _COORD),
    Feature("body_scale", "framing", "scale", _SCALE),
)
SCORE_FEATURE: Final = Feature("top1_score", "top1_score", "score", _SCORE)
FEATURES: Final[tuple[Feature, ...]] = (*INPUT_FEATURES, SCORE_FEATURE)  # a window row: inputs, then the score
FEATURE_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FEATURES)
INPUT_GROUPS: Final[tuple[str, ...]] = tuple(dict.fromkeys(f.group for f in INPUT_FEATURES))
_P = len(MODEL_LANDMARKS)
_RAW_COLUMNS = np.concatenate([MODEL_LANDMARKS * 3, MODEL_LANDMARKS * 3 + 1])  # x of every point, then y
_STARTS = np.concatenate([_BOUNDS[:-1], _BOUNDS[:-1] + _P])  # each part's x, then each part's y
_PART_SIZES = np.tile(np.diff(_BOUNDS), 2).astype(np.float32)
_LIPS, _LEFT, _RIGHT, _POSE = (PARTS.index(p) for p in ("lips", "left_hand", "right_hand", "pose"))
_SHOULDER_COLUMNS = [_SHOULDERS[0], _P + _SHOULDERS[0], _SHOULDERS[1], _P + _SHOULDERS[1]]
_NAN = float("nan")


def sequence_profile(points: np.ndarray) -> np.ndarray:
    """The input profile of one sequence of model landmarks ``(frames, P, 2)``, NaN = missing.

    Hands are placed and sized in shoulder widths from the shoulders' midpoint, so they compare
    across signers and framings; where the body sits and how large it is are the ``framing``
    features. A part counts as present in a frame when all its points are (MediaPipe drops a hand
    or the face whole); a part never seen gives NaN for its position and size.
    Returns ``len(INPUT_FEATURES)`` floats, in their order.
    """
    points = np.asarray(points, np.float32)
    return _profile(np.concatenate([points[..., 0], points[..., 1]], axis=1))


def raw_profile(sequence: np.ndarray) -> np.ndarray:
    """The same for a raw ``(frames, 543, 3)`` float32 sequence, as the server receives it."""
    flat = np.asarray(sequence, np.float32).reshape(len(sequence), -1)
    return _profile(np.take(flat, _RAW_COLUMNS, axis=1))


def _profile(xy: np.ndarray) -> np.ndarray:
    """``xy``: ``(frames, 2P)``, the x of every model landmark then the y.

    About twenty whole-array operations, reductions along the contiguous axis: on arrays this
    small NumPy's per-call overhead is the cost, so nothing is computed part by part. A hand's
    size is the root of its mean within-frame variance; the shoulders' width is the distance
    between their mean positions.
    """
    n = len(PARTS)
    sums = np.add.reduceat(xy, _STARTS, axis=1)  # (T, 2 * parts): NaN where a part is missing
    squares = np.add.reduceat(xy * xy, _STARTS, axis=1)
    centroid = sums / _PART_SIZES
    variance = squares / _PART_SIZES - centroid * centroid
    seen = np.isfinite(sums)  # (T, 2 * parts)
    frames = seen.sum(axis=0)
    denominator = np.maximum(frames, 1)
    mean_centroid = np.where(seen, centroid, 0).sum(axis=0) / denominator
    mean_variance = np.where(seen, variance, 0).sum(axis=0) / denominator
    pose = seen[:, _POSE]
    shoulders = np.where(pose[:, None], xy[:, _SHOULDER_COLUMNS], 0).sum(axis=0) / max(int(pose.sum()), 1)
    no_hand = float(np.isnan(np.fmin(sums[:, _LEFT], sums[:, _RIGHT])).mean())  # fmin is NaN only if both are
    shown = (frames[:n] / len(xy)).tolist()
    c, v = mean_centroid.tolist(), mean_variance.tolist()
    lx, ly, rx, ry = shoulders.tolist()  # left shoulder x, y, right shoulder x, y
    centre_x, centre_y, width = (lx + rx) * 0.5, (ly + ry) * 0.5, float(np.hypot(lx - rx, ly - ry))
    if not (pose.any() and width > 1e-6):
        centre_x = centre_y = width = _NAN
    hands = []
    for part in (_LEFT, _RIGHT):
        if frames[part] and not math.isnan(width):
            size = max(v[part] + v[n + part], 0.0) ** 0.5 / 2**0.5
            hands += [1.0 - shown[part], (c[part] - centre_x) / width, (c[n + part] - centre_y) / width, size / width]
        else:
            hands += [1.0 - shown[part], _NAN, _NAN, _NAN]
    return np.array(
        [len(xy), 1.0 - shown[_LIPS], 1.0 - shown[_POSE], *hands, no_hand, centre_x, centre_y, width], np.float64
    )


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fine-bin number of each value: 0 below ``edges[0]``, ``len(edges)`` at or above the last edge."""
    return np.searchsorted(edges, values, side="right")


class ReferenceBuilder:
    """Accumulates profiles (a batch at a time) into fine-bin counts and sums: constant memory."""

    def __init__(self) -> None:
        self.counts = {f.name: np.zeros(len(f.edges) + 1, np.int64) for f in FEATURES}
        self.sums = dict.fromkeys(FEATURE_NAMES, 0.0)
        self.sequences = 0

    def add_profiles(self, profiles: np.ndarray) -> None:
        """Rows of ``sequence_profile`` values (input features only)."""
        profiles = np.atleast_2d(np.asarray(profiles, np.float64))
        self.sequences += len(profiles)
        for column, feature in enumerate(INPUT_FEATURES):
            self._add(feature, profiles[:, column])

    def add_points(self, sequences: Iterable[np.ndarray]) -> None:
        """Model-landmark sequences ``(frames, P, 2)``, e.g. the originals of a points shard."""
        rows = [sequence_profile(s) for s in sequences]
        if rows:
            self.add_profiles(np.stack(rows))

    def add_block(self, block: Block) -> None:
        """The original (not augmented) sequences of a points shard block: what cameras produced."""
        copies = block.meta.get("copy")
        keep = range(len(block)) if copies is None else np.flatnonzero(np.asarray(copies) == 0)
        self.add_points(block.item(int(i)) for i in keep)

    def add_scores(self, scores: np.ndarray) -> None:
        """Model outputs ``(n, classes)`` (probabilities): their top-1 score is profiled."""
        self._add(SCORE_FEATURE, np.asarray(scores, np.float64).max(axis=-1))

    def _add(self, feature: Feature, values: np.ndarray) -> None:
        values = values[np.isfinite(values)]
        self.counts[feature.name] += np.bincount(bin_index(values, feature.edges), minlength=len(feature.edges) + 1)
        self.sums[feature.name] += float(values.sum())

    def result(self, **source: Any) -> dict[str, Any]:
        """The reference as a JSON-ready dict; ``source`` says what it was computed from."""
        if not self.sequences:
            raise ValueError("no sequences profiled: the reference would be empty")
        features = {}
        for feature in FEATURES:
            counts = self.counts[feature.name]
            n = int(counts.sum())
            features[feature.name] = {
                "group": feature.group,
                "edges": [float(e) for e in feature.edges],
                "counts": counts.tolist(),
                "n": n,
                "mean": self.sums[feature.name] / n if n else None,
                "quantiles": {str(q): _quantile(counts, feature.edges, q) for q in QUANTILES} if n else {},
            }
        return {"format": FORMAT, "sequences": self.sequences, "source": source, "features": features}


def _quantile(counts: np.ndarray, edges: np.ndarray, q: float) -> float:
    """Quantile from fine-bin counts, linear within a bin (open-ended bins give their edge)."""
    cumulative = np.cumsum(counts) / counts.sum()
    b = int(np.searchsorted(cumulative, q, side="left"))
    if b == 0:
        return float(edges[0])
    if b >= len(edges):
        return float(edges[-1])
    below = cumulative[b - 1]
    fraction = (q - below) / max(cumulative[b] - below, 1e-12)
    return float(edges[b - 1] + fraction * (edges[b] - edges[b - 1]))


def write_reference(reference: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(reference, sort_keys=True, separators=(",", ":")))
    return path


def read_reference(path: str | Path) -> dict[str, Any]:
    """A reference written by :func:`write_reference`; refuses another format or missing features."""
    reference = json.loads(Path(path).read_text())
    if reference.get("format") != FORMAT:
        raise ValueError(f"{path}: not a reference profile of format {FORMAT}")
    missing = [name for name in FEATURE_NAMES[:-1] if name not in reference.get("features", {})]
    if missing:
        raise ValueError(f"{path}: reference lacks features {missing}")
    return reference
