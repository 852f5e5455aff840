import optuna
import pytest

from pose2gloss import hpo
from pose2gloss.step4_model_training import DEFAULTS as TRAINING_DEFAULTS
from pose2gloss.step4_model_training import OBJECTIVES as TRAINING_OBJECTIVES


@pytest.mark.parametrize("model_name", ["GISLR", "ConvNeXtTiny"])
def test_space_names_are_training_parameters(model_name):
    names = [d.name for d in hpo.search_space(model_name)]
    assert {"batch_size", "learning_rate", "reduce_lr_patience"} <= set(names)
    assert ("conv1d_dropout" in names) == (model_name == "GISLR")
    assert set(names) <= set(TRAINING_DEFAULTS)


def test_objectives_match_what_training_reports():
    assert [name for name, _ in hpo.OBJECTIVES] == list(TRAINING_OBJECTIVES)
    assert dict(hpo.OBJECTIVES) == {"val_loss": "min", "val_accuracy": "max"}


def test_clearml_ranges_use_the_general_section():
    ranges = hpo.clearml_parameters(hpo.search_space("GISLR"))
    assert sorted(r.name for r in ranges) == sorted(f"General/{d.name}" for d in hpo.search_space("GISLR"))


def test_clearml_optimizer_configuration(monkeypatch):
    captured = {}

    class FakeOptimizer:
        def __init__(self, **kwargs):
            captured.update(kwargs)

    import clearml.automation

    monkeypatch.setattr(clearml.automation, "HyperParameterOptimizer", FakeOptimizer)
    hpo.clearml_optimizer("base", "GISLR", queue="gpu", total_max_jobs=2, max_concurrent=2, max_iteration_per_job=12)
    from clearml.automation.optuna import OptimizerOptuna

    assert captured["base_task_id"] == "base" and captured["execution_queue"] == "gpu"
    assert captured["optimizer_class"] is OptimizerOptuna
    assert captured["objective_metric_title"] == ["val_loss", "val_accuracy"]
    assert captured["objective_metric_series"] == ["val_loss", "val_accuracy"]
    assert captured["objective_metric_sign"] == ["min", "max"]
    assert captured["total_max_jobs"] == 2 and captured["max_number_of_concurrent_tasks"] == 2
    assert captured["max_iteration_per_job"] == 12


def test_local_study_records_every_trial_including_failures():
    calls = []

    def run_trial(values):
        calls.append(values)
        if len(calls) == 2:
            raise RuntimeError("trial crashed")
        return {"task_id": f"t{len(calls)}", "val_loss": values["learning_rate"], "val_accuracy": 0.5}

    records = hpo.run_local_study("GISLR", run_trial, n_trials=3, n_jobs=1, seed=0)
    assert [r["trial"] for r in records] == [0, 1, 2]
    assert "error" in records[1] and "val_accuracy" not in records[1]
    assert records[0]["task_id"] == "t1" and set(records[0]["params"]) == {d.name for d in hpo.search_space("GISLR")}
    for record in records:
        assert 3e-4 <= record["params"]["learning_rate"] <= 5e-3


def test_optuna_suggest_covers_every_kind():
    trial = optuna.trial.FixedTrial(
        {"batch_size": 64, "learning_rate": 1e-3, "reduce_lr_patience": 3, "conv1d_dropout": 0.1, "last_dropout": 0.2}
    )
    assert hpo.suggest(trial, hpo.search_space("GISLR"))["batch_size"] == 64
