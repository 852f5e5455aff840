"""Promotion to production: one check, used by the pipeline's local record and by CI's tagging.

Test accuracies are only comparable on the same test set. So a model carries the identity of
the set it was tested on (the data: a content hash of the index, with the ClearML dataset id as
evidence; and a hash of the test manifest: which sequences, with which labels), and a candidate competes with
production only when both identities match. Then it is promoted if it is at least as good
(test top-1, ties broken by top-5). A run on other data never displaces production, and is not
compared with it, unless the user forces it. Every decision carries its evidence and reason.

Beside the decision, :func:`mcnemar` says whether two models' difference on the shared test set
is more than noise, from their per-sequence predictions (step 7's ``test_predictions``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# What a decision can be; the summary and CI print the case.
NO_PRODUCTION = "no_production"  # nothing to compete with: promoted
AT_LEAST_AS_GOOD = "at_least_as_good"  # same test set, not worse: promoted
WORSE = "worse"  # same test set, worse: production kept
OTHER_TEST_SET = "other_test_set"  # not comparable: production kept, nothing compared
FORCED = "forced"  # the user asked for it (--promote): promoted whatever the comparison
PREDICTION_COLUMNS = ("sequence_id", "label", "prediction")
INDEX_COLUMNS = ("path", "participant_id", "sequence_id", "sign")


class PromotionError(ValueError):
    """Inputs that cannot be compared (missing metrics, mismatched predictions)."""


@dataclass(frozen=True)
class TestSet:
    """What a model was tested on: the data and the test manifest, each as a stable key."""

    __test__ = False  # not a pytest class, despite the name

    data: str  # "index-sha256:<hash of the index content>"
    test_manifest: str  # sha256 of the test rows (sequence id, sign, label)
    sequences: int
    dataset_id: str = ""  # the ClearML dataset version, when there is one (evidence, not identity)

    def matches(self, other: TestSet | None) -> bool:
        return other is not None and (self.data, self.test_manifest) == (other.data, other.test_manifest)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: Mapping[str, Any] | None) -> TestSet | None:
        if not value:
            return None
        return cls(
            str(value["data"]), str(value["test_manifest"]), int(value["sequences"]), str(value.get("dataset_id", ""))
        )


@dataclass(frozen=True)
class Contender:
    """One side of the comparison: a model's test metrics and the test set they come from."""

    name: str  # a pipeline id, run folder or task id: what a person looks up
    test_top1: float
    test_top5: float
    test_set: TestSet | None  # None: not recorded (an old record), so never comparable

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "test_set": self.test_set.to_dict() if self.test_set else None}

    @classmethod
    def from_record(cls, record: Mapping[str, Any], name: str = "") -> Contender:
        """From step 7's ``metrics`` artifact, a run summary or ``runs/production.json``."""
        missing = [k for k in ("test_top1", "test_top5") if record.get(k) is None]
        if missing:
            raise PromotionError(f"{name or 'record'} has no {missing}; was step 7 run?")
        label = name or str(record.get("pipeline_id") or record.get("name") or record.get("model_id") or "")
        return cls(
            label, float(record["test_top1"]), float(record["test_top5"]), TestSet.from_dict(record.get("test_set"))
        )


@dataclass(frozen=True)
class Decision:
    promote: bool
    case: str
    reason: str
    candidate: Contender
    production: Contender | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "case": self.case,
            "reason": self.reason,
            "candidate": self.candidate.to_dict(),
            "production": self.production.to_dict() if self.production else None,
        }


def decide(candidate: Contender, production: Contender | None, *, force: bool = False) -> Decision:
    """Whether ``candidate`` replaces ``production`` (see the module docstring for the rules)."""
    if production is None:
        return Decision(True, NO_PRODUCTION, "no production model yet", candidate, None)
    score = f"test top-1/top-5 {_pair(candidate)} vs production {_pair(production)}"
    comparable = candidate.test_set is not None and candidate.test_set.matches(production.test_set)
    if force:
        why = score if comparable else "on a different test set, so not compared"
        return Decision(True, FORCED, f"promotion forced by the user ({why})", candidate, production)
    if not comparable:
        if production.test_set is None:
            detail = "production records no test-set identity"
        elif candidate.test_set is None:
            detail = "the candidate records no test-set identity"
        else:
            detail = f"candidate {_describe(candidate.test_set)}, production {_describe(production.test_set)}"
        reason = f"tested on a different test set ({detail}); production kept, not compared (force with --promote)"
        return Decision(False, OTHER_TEST_SET, reason, candidate, production)
    if (candidate.test_top1, candidate.test_top5) >= (production.test_top1, production.test_top5):
        return Decision(
            True, AT_LEAST_AS_GOOD, f"at least as good on the same test set: {score}", candidate, production
        )
    return Decision(False, WORSE, f"worse on the same test set: {score}; production kept", candidate, production)


def promote_locally(
    candidate: Mapping[str, Any],
    bundle_dir: str | Path,
    runs_dir: str | Path,
    *,
    test_predictions: str | Path | None = None,
    force: bool = False,
    apply: bool = True,
) -> Decision:
    """:func:`decide` against ``runs/production.json``, which points at ``bundle_dir`` if it is promoted
    (and ``apply``: without it the decision is only returned).

    ``candidate`` is step 7's ``metrics`` (test top-1/top-5 and ``test_set``) plus a ``pipeline_id``.
    """
    from pose2gloss.bundle.files import production_metrics

    record = production_metrics(runs_dir)
    decision = decide(Contender.from_record(candidate), Contender.from_record(record) if record else None, force=force)
    if decision.promote and apply:
        record_locally(decision, bundle_dir, runs_dir, test_predictions)
    return decision


def record_locally(
    decision: Decision, bundle_dir: str | Path, runs_dir: str | Path, test_predictions: str | Path | None = None
) -> Path:
    """Write a promotion into ``runs/production.json``: the bundle, the metrics, the test set, the case."""
    from pose2gloss.bundle.files import record_production

    candidate = decision.candidate
    return record_production(
        bundle_dir,
        runs_dir,
        pipeline_id=candidate.name,
        test_top1=candidate.test_top1,
        test_top5=candidate.test_top5,
        test_set=candidate.test_set.to_dict() if candidate.test_set else None,
        test_predictions=str(Path(test_predictions).resolve()) if test_predictions else None,
        promotion=decision.case,
    )


def describe(decision: Decision | Mapping[str, Any]) -> str:
    """One line for a console: what happened and why (from a decision or its recorded dict)."""
    record = decision.to_dict() if isinstance(decision, Decision) else decision
    if record["promote"] and not record.get("applied", True):
        verb = "passes the promotion check, not applied (--no-promote: production moves on merge)"
    else:
        verb = "promoted to production" if record["promote"] else "not promoted"
    return f"{verb} [{record['case']}]: {record['reason']}"


def side_by_side(decision: Decision) -> str:
    """The two metric sets and test-set identities as a small table."""
    rows = [("", "candidate", "production")]
    cand, prod = decision.candidate, decision.production
    rows.append(("name", cand.name, prod.name if prod else "-"))
    rows.append(("test top-1", f"{cand.test_top1:.4f}", f"{prod.test_top1:.4f}" if prod else "-"))
    rows.append(("test top-5", f"{cand.test_top5:.4f}", f"{prod.test_top5:.4f}" if prod else "-"))
    for field in ("data", "test_manifest", "sequences", "dataset_id"):
        rows.append(
            (
                f"test set {field}",
                _short(getattr(cand.test_set, field, "-")),
                _short(getattr(prod.test_set, field, "-")) if prod else "-",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(3)]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows)


# ---------------------------------------------------------------------------------------------
# Test-set identity and per-sequence predictions


def identify_test_set(manifest: pd.DataFrame, dataset_id: str = "") -> TestSet:
    """The identity of a split manifest's test set (step 1's ``manifest``, one row per sequence).

    The data key is a hash of the index content (paths, participants, sequence ids, signs),
    the same on every machine since manifest paths are relative to the data root. A ClearML
    dataset id is not the key: registering the same folder again (as CI does with the sample)
    makes a new id for the same data. It is kept beside the key, as evidence.
    """
    missing = [c for c in (*INDEX_COLUMNS, "label", "split") if c not in manifest.columns]
    if missing:
        raise PromotionError(f"manifest lacks columns {missing}")
    index = manifest[list(INDEX_COLUMNS)].astype(str).sort_values(["sequence_id", "path"])
    data = f"index-sha256:{_table_hash(index)}"
    test = manifest.loc[manifest["split"] == "test", ["sequence_id", "sign", "label"]].astype(str)
    if test.empty:
        raise PromotionError("the manifest has no test rows")
    return TestSet(data, _table_hash(test.sort_values(["sequence_id", "sign"])), len(test), dataset_id)


def predictions_table(sequence_ids: Sequence[Any], labels: np.ndarray, scores: np.ndarray, k: int = 5) -> pd.DataFrame:
    """Per-sequence test predictions: id, true label, top-1 prediction and the top-k labels, best first."""
    import pandas as pd

    scores, labels = np.asarray(scores), np.asarray(labels)
    if not len(sequence_ids) == len(labels) == len(scores):
        raise PromotionError(f"{len(sequence_ids)} ids, {len(labels)} labels and {len(scores)} score rows")
    top = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, scores.shape[1])]
    return pd.DataFrame(
        {
            "sequence_id": np.asarray(sequence_ids),
            "label": labels.astype(np.int64),
            "prediction": top[:, 0].astype(np.int64),
            f"top{k}": [" ".join(map(str, row)) for row in top],
        }
    )


def mcnemar(candidate: pd.DataFrame, production: pd.DataFrame) -> dict[str, Any]:
    """McNemar's exact paired test on the sequences both tables predict (they must be the same set).

    ``b``: candidate right where production is wrong; ``c``: the reverse. Under "no difference"
    each discordant sequence goes either way with probability 1/2, so the two-sided p-value is
    twice the binomial tail of min(b, c) out of b + c (capped at 1).
    """
    for name, table in (("candidate", candidate), ("production", production)):
        missing = [c for c in PREDICTION_COLUMNS if c not in table.columns]
        if missing:
            raise PromotionError(f"{name} predictions lack columns {missing}")
        if table["sequence_id"].duplicated().any():
            raise PromotionError(f"{name} predictions repeat sequence ids")
    left = candidate.assign(sequence_id=candidate["sequence_id"].astype(str)).set_index("sequence_id")
    right = production.assign(sequence_id=production["sequence_id"].astype(str)).set_index("sequence_id")
    if set(left.index) != set(right.index):
        only = sorted(set(left.index) ^ set(right.index))
        raise PromotionError(f"the predictions cover different sequences ({len(only)} differ, e.g. {only[:3]})")
    right = right.loc[left.index]
    if not (left["label"].to_numpy() == right["label"].to_numpy()).all():
        raise PromotionError("the two prediction tables disagree on the true labels")
    cand_ok = left["prediction"].to_numpy() == left["label"].to_numpy()
    prod_ok = right["prediction"].to_numpy() == right["label"].to_numpy()
    b, c = int(np.sum(cand_ok & ~prod_ok)), int(np.sum(~cand_ok & prod_ok))
    n = b + c
    p_value = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n)
    return {
        "sequences": len(left),
        "both_right": int(np.sum(cand_ok & prod_ok)),
        "both_wrong": int(np.sum(~cand_ok & ~prod_ok)),
        "candidate_only_right": b,
        "production_only_right": c,
        "p_value": p_value,
    }


def describe_mcnemar(result: Mapping[str, Any], alpha: float = 0.05) -> str:
    verdict = "a real difference" if result["p_value"] < alpha else "not distinguishable from noise"
    return (
        f"McNemar's exact test on {result['sequences']} shared test sequences: candidate alone right on "
        f"{result['candidate_only_right']}, production alone right on {result['production_only_right']}, "
        f"p = {result['p_value']:.4g} ({verdict} at {alpha})"
    )


def _table_hash(table: pd.DataFrame) -> str:
    return hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()


def _pair(contender: Contender) -> str:
    return f"{contender.test_top1:.4f}/{contender.test_top5:.4f}"


def _describe(test_set: TestSet) -> str:
    return f"{_short(test_set.data)} test {_short(test_set.test_manifest)} ({test_set.sequences} sequences)"


def _short(value: Any) -> str:
    text = str(value)
    head, sep, digest = text.rpartition(":")
    if len(digest) > 16:
        return f"{head}{sep}{digest[:12]}"
    return text
