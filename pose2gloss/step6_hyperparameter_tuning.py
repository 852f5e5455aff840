"""Step 6 - hyper-parameter optimisation of the model that step 5 selected.

Multi-objective (minimise ``val_loss``, maximise ``val_accuracy``) over batch size, learning
rate, LR patience and, for GISLR, its dropouts. With a server, ClearML's
``HyperParameterOptimizer`` + ``OptimizerOptuna`` clones the winner's training task onto
``execution_queue``; offline, an Optuna study runs the training step as subprocesses. The best
trial replaces the selected model only if its validation top-1 is higher.
"""

from __future__ import annotations

import sys

from pose2gloss import tracking

DEFAULTS = {
    "selection_task_id": "",
    "total_max_jobs": 2,
    "max_number_of_concurrent_tasks": 2,
    "execution_queue": "gpu",
    "seed": 0,
}


def main(argv: list[str] | None = None) -> None:
    task, params = tracking.start_step("step6_hyperparameter_tuning", DEFAULTS, argv, task_type="optimizer")
    import pandas as pd

    from pose2gloss import hpo
    from pose2gloss.selection import hpo_verdict

    if not params["selection_task_id"]:
        raise SystemExit("selection_task_id is required (the task id of step 5)")
    selection = tracking.artifact_json(params["selection_task_id"], "selection")
    selection = {k: v for k, v in selection.items() if k != "candidates"}
    model_name = selection["model_name"]
    print(f"optimising {model_name} from task {selection['task_id']}", flush=True)
    if task.is_offline():
        mode = "optuna-offline"
        trials = hpo.run_local_study(
            model_name,
            hpo.training_subprocess(selection["params"], cwd=tracking.REPO_ROOT),
            n_trials=params["total_max_jobs"],
            n_jobs=params["max_number_of_concurrent_tasks"],
            seed=params["seed"],
        )
    else:
        mode = "clearml-hyperparameter-optimizer"
        trials = _run_on_agents(selection, params)

    verdict = hpo_verdict(selection, trials)
    for record in trials:
        if "val_accuracy" in record:
            tracking.report_scalars(
                task,
                "trials",
                {k: record[k] for k in ("val_accuracy", "val_loss")},
                iteration=int(record.get("trial", 0)),
            )
    table = pd.DataFrame(
        [
            {
                "trial": r.get("trial"),
                "task_id": r.get("task_id"),
                "val_accuracy": r.get("val_accuracy"),
                "val_loss": r.get("val_loss"),
                "error": r.get("error", "")[:200],
                **r.get("params", {}),
            }
            for r in trials
        ]
    )
    if len(table):
        task.get_logger().report_table("HPO", "trials", table_plot=table.astype(str))
    result = {
        **verdict,
        "mode": mode,
        "trials": trials,
        "search_space": [d.__dict__ for d in hpo.search_space(model_name)],
    }
    tracking.upload_json(task, "hpo_result", result)
    print(
        f"HPO ({mode}): {verdict['trials_finished']} trials finished, {verdict['trials_failed']} failed; "
        f"final model from {verdict['source']}: {verdict['best_task_id']} val top-1 "
        f"{verdict['metrics'].get('val_accuracy')}",
        flush=True,
    )


def _run_on_agents(selection: dict, params: dict) -> list[dict]:
    from clearml import Task

    from pose2gloss import hpo

    optimizer = hpo.clearml_optimizer(
        selection["task_id"],
        selection["model_name"],
        queue=params["execution_queue"],
        total_max_jobs=params["total_max_jobs"],
        max_concurrent=params["max_number_of_concurrent_tasks"],
        max_iteration_per_job=int(selection["params"].get("epochs", 100)),
    )
    optimizer.start()
    optimizer.wait()
    optimizer.stop()
    trials = []
    for number, job in enumerate(optimizer.get_top_experiments(top_k=params["total_max_jobs"])):
        try:
            record = hpo.trial_result(job.id)
        except (KeyError, FileNotFoundError) as err:
            trials.append({"trial": number, "task_id": job.id, "error": str(err)})
            continue
        trials.append({"trial": number, **record, "status": Task.get_task(task_id=job.id).status})
    return trials


if __name__ == "__main__":
    main(sys.argv[1:])
