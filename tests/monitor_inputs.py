"""Inputs for the drift tests: signers in and out of the training distribution; a bundle with a reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pose2gloss.bundle.files import REFERENCE_FILE
from pose2gloss.data.gislr import load_index, load_sequence
from pose2gloss.monitor.profile import ReferenceBuilder, raw_profile, write_reference
from pose2gloss.preprocessing.landmarks import LEFT_HAND, RIGHT_HAND, mirror_permutation

DRIFTS = ("hands_removed", "scaled_shifted", "mirrored")


def sample_sequences(root: Path) -> list[np.ndarray]:
    """Every sequence of a generated GISLR-layout sample, raw ``(frames, 543, 3)``."""
    return [load_sequence(path) for path in load_index(root)["path"]]


def drifted(sequence: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """``sequence`` as another camera or signer would give it.

    ``hands_removed``: both hands lost in 85% of the frames; ``scaled_shifted``: the signer at
    0.6 the size, up and to the right; ``mirrored``: a horizontally flipped image (hands swap);
    ``all``: the three together.
    """
    out = sequence.copy()
    if kind in ("hands_removed", "all"):
        lost = rng.random(len(out)) < 0.85
        out[lost, LEFT_HAND] = np.nan
        out[lost, RIGHT_HAND] = np.nan
    if kind in ("scaled_shifted", "all"):
        out[..., :2] = (out[..., :2] - 0.5) * 0.6 + 0.5 + np.array([0.25, -0.2], np.float32)
    if kind in ("mirrored", "all"):
        out = out[:, mirror_permutation()]
        out[..., 0] = 1.0 - out[..., 0]
    if kind not in (*DRIFTS, "all"):
        raise ValueError(f"unknown drift {kind!r}")
    return out


def reference_of(sequences: list[np.ndarray], top1_scores: np.ndarray | None = None) -> dict:
    builder = ReferenceBuilder()
    builder.add_profiles(np.stack([raw_profile(s) for s in sequences]))
    if top1_scores is not None:
        builder.add_scores(np.asarray(top1_scores)[:, None])
    return builder.result(inputs="test sample")


def write_monitored_bundle(directory: Path, keras_model, sequences: list[np.ndarray]) -> Path:
    """A bundle whose reference profile is that of ``sequences``, top-1 scores from its own model.

    Exported first, then the reference is added and the card written again, as step 7's order
    (reference, then export) would have checksummed it.
    """
    from pose2gloss.bundle.export import export_bundle
    from pose2gloss.bundle.files import read_bundle, write_bundle
    from pose2gloss.bundle.tflite import TFLiteClassifier
    from pose2gloss.data.signs import GISLR_SIGNS
    from pose2gloss.preprocessing.features import FeatureConfig

    sign_map = {sign: i for i, sign in enumerate(GISLR_SIGNS)}
    bundle = read_bundle(export_bundle(keras_model, FeatureConfig(), directory, sign_map, {"model_id": "monitor-test"}))
    classifier = TFLiteClassifier(bundle.model_path)
    top1 = np.array([classifier.predict(s).max() for s in sequences])
    write_reference(reference_of(sequences, top1), directory / REFERENCE_FILE)
    card = {k: v for k, v in bundle.card.items() if k != "files"}
    return write_bundle(directory, sign_map, card)
