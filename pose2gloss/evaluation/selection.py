"""Model selection and the HPO verdict: pure functions over candidate records.

A candidate is ``{"task_id", "model_name", "params", "val_accuracy", "val_loss", ...}``.
Kept free of ClearML and Keras so the decision rule itself is unit-tested.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def select_best(candidates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Highest validation top-1; ties go to the lower validation loss, then to the earlier one."""
    if not candidates:
        raise ValueError("no candidates to select from")
    for candidate in candidates:
        for key in ("task_id", "val_accuracy", "val_loss"):
            if key not in candidate:
                raise ValueError(f"candidate {candidate.get('task_id', '?')} lacks '{key}'")
        if not math.isfinite(float(candidate["val_accuracy"])):
            raise ValueError(f"candidate {candidate['task_id']} has a non-finite val_accuracy")
    best = min(
        enumerate(candidates), key=lambda item: (-float(item[1]["val_accuracy"]), float(item[1]["val_loss"]), item[0])
    )[1]
    return dict(best)


def against_baseline(candidates: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each candidate with ``beats_baseline``: strictly higher val top-1 than the baseline's.

    A tie does not count: a model that only matches statistics without order has shown nothing more.
    """
    reference = float(baseline["val_accuracy"])
    return [{**c, "beats_baseline": float(c["val_accuracy"]) > reference} for c in candidates]


def hpo_verdict(selected: Mapping[str, Any], trials: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The final choice after HPO: the best trial only if it beats the selection's model on val top-1.

    Failed trials (no metrics) are ignored; with no better trial the selection's model stays.
    """
    finished = [t for t in trials if t.get("val_accuracy") is not None and math.isfinite(float(t["val_accuracy"]))]
    best_trial = select_best(finished) if finished else None
    improved = best_trial is not None and float(best_trial["val_accuracy"]) > float(selected["val_accuracy"])
    winner = best_trial if improved else selected
    return {
        "source": "hpo" if improved else "selection",
        "best_task_id": winner["task_id"],
        "model_name": winner.get("model_name", selected.get("model_name")),
        "params": dict(winner.get("params", {})),
        "metrics": {k: float(winner[k]) for k in ("val_accuracy", "val_loss") if k in winner},
        "selection": dict(selected),
        "best_trial": dict(best_trial) if best_trial else None,
        "trials_finished": len(finished),
        "trials_failed": len(trials) - len(finished),
    }
