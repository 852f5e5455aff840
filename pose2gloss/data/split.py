"""Participant-grouped train/val/test split.

Signers differ more than signs do, so a participant seen in training must never appear in
validation or test: otherwise the reported accuracy measures memorised signers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def split_by_participant(
    index: pd.DataFrame,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> pd.DataFrame:
    """Return ``index`` with a ``split`` column; each participant lands in exactly one split.

    Participants are assigned greedily, in an order drawn from ``seed``, to the split whose
    per-sign counts move closest to the target fractions, which stratifies by sign as far as
    whole participants allow. The order is purely random (not largest first) so that the seed
    picks among the many near-balanced splits even when participants differ in size, as they
    do in real data. With three or more participants every split gets one.
    """
    for column in ("participant_id", "label"):
        if column not in index.columns:
            raise ValueError(f"index lacks column '{column}'")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"fractions must be in [0, 1) and sum below 1: val={val_fraction}, test={test_fraction}")
    targets = np.array([1 - val_fraction - test_fraction, val_fraction, test_fraction])
    counts = pd.crosstab(index["participant_id"], index["label"])
    participants = counts.index.to_numpy()
    if len(participants) == 0:
        raise ValueError("index is empty")

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(participants))
    totals = counts.to_numpy().sum(axis=0).astype(float)
    assigned = np.zeros((len(SPLITS), counts.shape[1]))
    split_of: dict[object, str] = {}
    wanted = [k for k in range(len(SPLITS)) if targets[k] > 0]
    for position, p in enumerate(order):
        row = counts.to_numpy()[p]
        remaining = len(order) - position
        empty = [k for k in wanted if not assigned[k].any()]
        candidates = empty if len(empty) >= remaining else wanted
        costs = []
        for k in candidates:
            trial = assigned.copy()
            trial[k] += row
            costs.append(float(((trial - targets[:, None] * totals) ** 2).sum()))
        best = candidates[int(np.argmin(costs))]
        assigned[best] += row
        split_of[participants[p]] = SPLITS[best]

    result = index.copy()
    result["split"] = result["participant_id"].map(split_of)
    return result


def make_manifest(
    root: str | Path,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    split_by: str = "participant",
) -> pd.DataFrame:
    """The split of a GISLR folder as a table with paths relative to ``root``.

    Relative paths keep the manifest valid on any machine that has the same dataset version
    (e.g. a ClearML agent that fetched the dataset to its own cache). ``split_by`` is
    ``participant`` (the default; needs enough participants) or ``sequence``.
    """
    from pose2gloss.data.gislr import load_index

    root = Path(root).resolve()
    index = load_index(root)
    if split_by == "participant":
        check_participants(index, val_fraction=val_fraction, test_fraction=test_fraction)
        split = split_by_participant
    elif split_by == "sequence":
        split = split_by_sequence
    else:
        raise ValueError(f"split_by must be 'participant' or 'sequence', got {split_by!r}")
    manifest = split(index, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    manifest["path"] = [str(Path(p).relative_to(root)) for p in manifest["path"]]
    return manifest


def split_summary(manifest: pd.DataFrame) -> pd.DataFrame:
    """Sequences, participants and signs per split."""
    grouped = manifest.groupby("split")
    summary = pd.DataFrame(
        {
            "sequences": grouped.size(),
            "participants": grouped["participant_id"].nunique(),
            "signs": grouped["label"].nunique(),
        }
    )
    return summary.reindex([s for s in SPLITS if s in summary.index])


def check_participants(index: pd.DataFrame, *, val_fraction: float, test_fraction: float) -> None:
    """Refuse a participant-grouped split that would leave a split empty, saying what to do instead."""
    needed = 1 + (val_fraction > 0) + (test_fraction > 0)
    count = index["participant_id"].nunique()
    if count < needed:
        raise ValueError(
            f"{count} participant(s) in the data, but a participant-grouped split into "
            f"{', '.join(SPLITS[:needed])} needs at least {needed} (each split gets whole participants). "
            "Add recordings of more signers, or set split_by=sequence (sequences stratified by sign; "
            "the same signers then appear in every split, so val/test accuracy is not participant-independent)."
        )


def split_by_sequence(
    index: pd.DataFrame, *, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> pd.DataFrame:
    """Return ``index`` with a ``split`` column assigned per sequence, stratified by sign.

    For single-signer collections (a user's own recordings): each sign's sequences are shuffled
    and cut by the fractions, keeping at least one per sign in training. Signers are shared
    between splits, so this does NOT measure generalisation to new signers.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"fractions must be in [0, 1) and sum below 1: val={val_fraction}, test={test_fraction}")
    if len(index) == 0:
        raise ValueError("index is empty")
    rng = np.random.default_rng(seed)
    split = np.empty(len(index), dtype=object)
    for _, positions in sorted(index.groupby("label").indices.items()):
        order = rng.permutation(positions)
        n_val = min(int(round(len(order) * val_fraction)), max(len(order) - 1, 0))
        n_test = min(int(round(len(order) * test_fraction)), max(len(order) - 1 - n_val, 0))
        split[order[:n_val]] = "val"
        split[order[n_val : n_val + n_test]] = "test"
        split[order[n_val + n_test :]] = "train"
    result = index.copy()
    result["split"] = split
    return result
