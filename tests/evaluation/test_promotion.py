"""The promotion check: same test set or no contest; the local production record; McNemar's test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipeline_from_tasks
from pose2gloss.bundle.files import production_metrics
from pose2gloss.data.split import split_by_participant
from pose2gloss.evaluation.promotion import (
    AT_LEAST_AS_GOOD,
    FORCED,
    NO_PRODUCTION,
    OTHER_TEST_SET,
    WORSE,
    Contender,
    PromotionError,
    TestSet,
    decide,
    describe,
    identify_test_set,
    mcnemar,
    predictions_table,
    promote_locally,
    side_by_side,
)

SAME = TestSet("index-sha256:abc", "f" * 64, 30)
OTHER = TestSet("index-sha256:xyz", "e" * 64, 30)


def contender(top1: float, top5: float = 0.9, test_set: TestSet | None = SAME, name: str = "run") -> Contender:
    return Contender(name, top1, top5, test_set)


def manifest(seed: int = 0, participants: int = 6) -> pd.DataFrame:
    rows = [
        {
            "path": f"train_landmark_files/{p}/{p * 100 + i}.parquet",
            "participant_id": p,
            "sequence_id": p * 100 + i,
            "sign": f"sign{i % 3}",
            "label": i % 3,
        }
        for p in range(participants)
        for i in range(4 + p)  # participants of different sizes, as in real data
    ]
    return split_by_participant(pd.DataFrame(rows), seed=seed)


# ---------------------------------------------------------------------------------------------
# decide()


def test_no_production_yet_promotes():
    decision = decide(contender(0.5), None)
    assert decision.promote and decision.case == NO_PRODUCTION and decision.production is None


def test_a_better_run_on_the_same_test_set_is_promoted():
    decision = decide(contender(0.8, name="new"), contender(0.7, name="old"))
    assert decision.promote and decision.case == AT_LEAST_AS_GOOD
    assert "0.8000" in decision.reason and "0.7000" in decision.reason


def test_a_tie_on_top1_is_broken_by_top5_and_a_full_tie_promotes():
    assert not decide(contender(0.7, 0.85), contender(0.7, 0.9)).promote
    assert decide(contender(0.7, 0.95), contender(0.7, 0.9)).case == AT_LEAST_AS_GOOD
    assert decide(contender(0.7, 0.9), contender(0.7, 0.9)).case == AT_LEAST_AS_GOOD


def test_a_worse_run_keeps_production():
    decision = decide(contender(0.6, 0.99), contender(0.7, 0.8))
    assert not decision.promote and decision.case == WORSE and "production kept" in decision.reason


def test_a_run_on_another_test_set_is_not_compared_even_if_it_scores_higher():
    decision = decide(contender(0.99, 1.0, OTHER), contender(0.1, 0.2))
    assert not decision.promote and decision.case == OTHER_TEST_SET
    assert "--promote" in decision.reason and "index-sha256:xyz" in decision.reason


def test_a_record_without_test_set_identity_is_never_comparable():
    assert decide(contender(0.9), contender(0.1, test_set=None)).case == OTHER_TEST_SET
    assert decide(contender(0.9, test_set=None), contender(0.1)).case == OTHER_TEST_SET


def test_force_promotes_across_test_sets_and_over_a_better_production():
    across = decide(contender(0.1, 0.2, OTHER), contender(0.9), force=True)
    assert across.promote and across.case == FORCED and "not compared" in across.reason
    worse = decide(contender(0.1), contender(0.9), force=True)
    assert worse.promote and worse.case == FORCED and "0.1000" in worse.reason


def test_decision_carries_its_evidence():
    decision = decide(contender(0.6, name="cand"), contender(0.7, name="prod"))
    as_dict = json.loads(json.dumps(decision.to_dict()))
    assert as_dict["candidate"]["test_top1"] == 0.6 and as_dict["production"]["name"] == "prod"
    assert as_dict["candidate"]["test_set"]["data"] == "index-sha256:abc"
    table = side_by_side(decision)
    assert "cand" in table and "prod" in table and "0.6000" in table and "0.7000" in table
    assert describe(decision).startswith("not promoted [worse]")


def test_a_record_without_metrics_is_an_error():
    with pytest.raises(PromotionError, match="test_top5"):
        Contender.from_record({"test_top1": 0.5}, "x")


# ---------------------------------------------------------------------------------------------
# Test-set identity


def test_identity_is_stable_and_follows_the_split_and_the_data():
    first = identify_test_set(manifest(seed=0))
    assert first == identify_test_set(manifest(seed=0).sample(frac=1.0, random_state=1))  # row order is irrelevant
    assert first.data.startswith("index-sha256:") and first.sequences == int((manifest()["split"] == "test").sum())
    moved = manifest()
    moved.loc[moved["split"] == "train", "split"] = "test"  # another split of the same data
    other_split = identify_test_set(moved)
    assert other_split.data == first.data and other_split.test_manifest != first.test_manifest
    assert identify_test_set(manifest(participants=7)).data != first.data
    with_dataset = identify_test_set(manifest(), dataset_id="d1")
    assert with_dataset.matches(first) and with_dataset.dataset_id == "d1"  # a re-registered copy is the same data


def test_identity_needs_the_manifest_columns():
    with pytest.raises(PromotionError, match="split"):
        identify_test_set(manifest().drop(columns=["split"]))


# ---------------------------------------------------------------------------------------------
# Per-sequence predictions and McNemar's test


def test_predictions_table_has_top1_and_topk_best_first():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    table = predictions_table(["a", "b"], np.array([1, 2]), scores, k=2)
    assert list(table.columns) == ["sequence_id", "label", "prediction", "top2"]
    assert table["prediction"].tolist() == [1, 0] and table["top2"].tolist() == ["1 2", "0 2"]
    with pytest.raises(PromotionError):
        predictions_table(["a"], np.array([1, 2]), scores)


def predictions(correct: list[bool], order: list[int] | None = None) -> pd.DataFrame:
    labels = np.arange(len(correct)) % 3
    table = pd.DataFrame({"sequence_id": range(len(correct)), "label": labels})
    table["prediction"] = np.where(correct, labels, (labels + 1) % 3)
    return table.iloc[order] if order else table


def test_mcnemar_counts_discordant_pairs_and_gives_the_exact_p_value():
    cand = predictions([True] * 9 + [False] * 1 + [True] * 5)
    prod = predictions([False] * 9 + [True] * 1 + [True] * 5, order=list(range(15))[::-1])  # order must not matter
    result = mcnemar(cand, prod)
    assert (result["candidate_only_right"], result["production_only_right"], result["both_right"]) == (9, 1, 5)
    assert result["p_value"] == pytest.approx(2 * (1 + 10) / 2**10)  # binomial tail of 1 out of 10
    same = mcnemar(cand, cand)
    assert same["p_value"] == 1.0 and same["candidate_only_right"] == same["production_only_right"] == 0


def test_mcnemar_refuses_different_sequences_or_labels():
    with pytest.raises(PromotionError, match="different sequences"):
        mcnemar(predictions([True] * 4), predictions([True] * 5))
    other_labels = predictions([True] * 4).assign(label=[2, 2, 2, 2])
    with pytest.raises(PromotionError, match="true labels"):
        mcnemar(predictions([True] * 4), other_labels)


# ---------------------------------------------------------------------------------------------
# The local production record and the pipeline's use of it


def metrics(top1: float, test_set: TestSet, pipeline_id: str) -> dict:
    return {"test_top1": top1, "test_top5": 0.9, "test_set": test_set.to_dict(), "pipeline_id": pipeline_id}


def test_promote_locally_updates_the_record_only_when_promoted(tmp_path):
    runs = tmp_path / "runs"
    assert promote_locally(metrics(0.5, SAME, "p1"), tmp_path / "b1", runs).case == NO_PRODUCTION
    assert production_metrics(runs)["test_set"] == SAME.to_dict()
    assert promote_locally(metrics(0.4, SAME, "p2"), tmp_path / "b2", runs).case == WORSE
    assert promote_locally(metrics(0.9, OTHER, "p3"), tmp_path / "b3", runs).case == OTHER_TEST_SET
    assert production_metrics(runs)["pipeline_id"] == "p1"
    assert promote_locally(metrics(0.6, SAME, "p4"), tmp_path / "b4", runs, test_predictions=tmp_path / "t.csv").promote
    record = production_metrics(runs)
    assert record["pipeline_id"] == "p4" and record["bundle"] == str((tmp_path / "b4").resolve())
    assert record["promotion"] == AT_LEAST_AS_GOOD and record["test_predictions"].endswith("t.csv")
    assert promote_locally(metrics(0.1, OTHER, "p5"), tmp_path / "b5", runs, force=True).case == FORCED
    assert production_metrics(runs)["pipeline_id"] == "p5"


@pytest.fixture
def evaluation_artifacts(tmp_path, monkeypatch):
    """Step 7's artifacts of fake runs, served where the pipeline reads them (orchestration/artifacts.py)."""
    runs: dict[str, dict[str, Path]] = {}

    def add(task_id: str, top1: float, test_set: TestSet) -> dict[str, Path]:
        folder = tmp_path / task_id
        (folder / "bundle").mkdir(parents=True)
        (folder / "bundle" / "model.tflite").write_bytes(task_id.encode())
        predictions([True, False]).to_csv(folder / "test_predictions.csv", index=False)
        (folder / "metrics.json").write_text(json.dumps(metrics(top1, test_set, "ignored")))
        runs[task_id] = {
            "bundle": Path(shutil.make_archive(str(folder / "bundle"), "zip", folder / "bundle")),  # a folder artifact
            "test_predictions": folder / "test_predictions.csv",
            "metrics": folder / "metrics.json",
        }
        return runs[task_id]

    monkeypatch.setattr(
        pipeline_from_tasks.artifacts, "artifact_local_copy", lambda task, name, extract=True: runs[task][name]
    )
    monkeypatch.setattr(
        pipeline_from_tasks.artifacts, "artifact_json", lambda task, name: json.loads(runs[task][name].read_text())
    )
    return add


def test_pipeline_keeps_each_run_and_says_which_case_applied(tmp_path, evaluation_artifacts):
    runs = tmp_path / "runs"
    evaluation_artifacts("eval-1", 0.5, SAME)
    evaluation_artifacts("eval-2", 0.9, OTHER)

    def keep(task_id: str, run: str, force: bool = False) -> dict:
        summary = {"evaluation_task_id": task_id, "pipeline_id": f"pipe-{run}"}
        path = pipeline_from_tasks._keep_bundle(summary, runs / run, force=force)
        assert Path(path).read_bytes() == task_id.encode() and (runs / run / "test_predictions.csv").is_file()
        return summary

    assert keep("eval-1", "r1")["promotion"]["case"] == NO_PRODUCTION
    refused = keep("eval-2", "r2")
    assert refused["promotion"]["case"] == OTHER_TEST_SET and not refused["promoted_to_production"]
    assert "not promoted [other_test_set]" in refused["promotion"]["summary"]
    assert production_metrics(runs)["pipeline_id"] == "pipe-r1"
    assert keep("eval-2", "r3", force=True)["promotion"]["case"] == FORCED
    record = production_metrics(runs)
    assert record["pipeline_id"] == "pipe-r3" and record["bundle"] == str((runs / "r3" / "bundle").resolve())


def test_with_a_server_the_summary_reports_step_7s_decision_and_leaves_the_local_record(tmp_path, evaluation_artifacts):
    runs = tmp_path / "runs"
    artifacts = evaluation_artifacts("eval-s", 0.5, SAME)
    decided = {**decide(contender(0.5), contender(0.7)).to_dict(), "model_id": "m1", "untagged": []}
    artifacts["promotion"] = tmp_path / "eval-s" / "promotion.json"
    artifacts["promotion"].write_text(json.dumps(decided))
    summary = {"evaluation_task_id": "eval-s", "pipeline_id": "pipe-s", "offline": False}
    pipeline_from_tasks._keep_bundle(summary, runs / "r1")
    assert summary["promotion"]["case"] == WORSE and not summary["promoted_to_production"]
    assert summary["promotion"]["summary"].startswith("bundle model m1 not promoted [worse]")
    assert production_metrics(runs) is None


def test_promote_flag_is_parsed():
    assert pipeline_from_tasks.parse_args(["--promote"]).promote
    assert not pipeline_from_tasks.parse_args([]).promote
