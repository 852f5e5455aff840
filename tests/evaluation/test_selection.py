import pytest

from pose2gloss.evaluation.selection import against_baseline, hpo_verdict, select_best


def candidate(task_id, accuracy, loss=1.0, **extra):
    return {
        "task_id": task_id,
        "model_name": extra.pop("model_name", "GISLR"),
        "params": {"lr": task_id},
        "val_accuracy": accuracy,
        "val_loss": loss,
        **extra,
    }


def test_select_best_by_top1_then_loss_then_order():
    assert select_best([candidate("a", 0.5), candidate("b", 0.7)])["task_id"] == "b"
    assert select_best([candidate("a", 0.7, 0.9), candidate("b", 0.7, 0.4)])["task_id"] == "b"
    assert select_best([candidate("a", 0.7, 0.4), candidate("b", 0.7, 0.4)])["task_id"] == "a"


def test_select_best_rejects_empty_and_incomplete():
    with pytest.raises(ValueError, match="no candidates"):
        select_best([])
    with pytest.raises(ValueError, match="lacks 'val_loss'"):
        select_best([{"task_id": "a", "val_accuracy": 0.3}])
    with pytest.raises(ValueError, match="non-finite"):
        select_best([candidate("a", float("nan"))])


def test_hpo_keeps_selection_unless_a_trial_is_strictly_better():
    selected = candidate("sel", 0.8)
    same = hpo_verdict(selected, [candidate("t0", 0.8, 0.1), candidate("t1", 0.6)])
    assert same["source"] == "selection" and same["best_task_id"] == "sel"
    better = hpo_verdict(selected, [candidate("t0", 0.85), candidate("t1", 0.9, params={"x": 1})])
    assert better["source"] == "hpo" and better["best_task_id"] == "t1"
    assert better["metrics"]["val_accuracy"] == 0.9


def test_hpo_ignores_failed_trials_and_counts_them():
    verdict = hpo_verdict(candidate("sel", 0.5), [{"trial": 0, "error": "boom"}, candidate("t1", 0.6)])
    assert verdict["trials_failed"] == 1 and verdict["trials_finished"] == 1
    assert verdict["best_task_id"] == "t1"
    all_failed = hpo_verdict(candidate("sel", 0.5), [{"trial": 0, "error": "boom"}])
    assert all_failed["source"] == "selection" and all_failed["best_trial"] is None


def test_a_candidate_beats_the_baseline_only_with_a_strictly_higher_top1():
    baseline = {"model_name": "bag-of-frames ridge", "val_accuracy": 0.4}
    marked = against_baseline([candidate("a", 0.41), candidate("b", 0.4), candidate("c", 0.2)], baseline)
    assert [c["beats_baseline"] for c in marked] == [True, False, False]
    assert marked[0]["val_loss"] == 1.0  # the rest of the record is kept
