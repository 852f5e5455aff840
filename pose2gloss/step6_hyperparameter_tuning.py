"""Step 6 - hyper-parameter optimisation of the model that step 5 selected.

Multi-objective (minimise ``val_loss``, maximise ``val_accuracy``) over learning rate, weight
decay, drop rates, label smoothing and, for GISLR, its width (:func:`pose2gloss.orchestration.hpo.search_space`).
With a server, ClearML's ``HyperParameterOptimizer`` + ``OptimizerOptuna`` clones the winner's
training task onto ``execution_queue``; offline, an Optuna study runs the training step as
subprocesses. The best trial replaces the selected model only if its validation top-1 is
higher. If every trial fails, the step fails and prints each trial's error.

With a server the search is bounded in time, not iterations: ``time_limit_per_job_minutes``
stops a trial that is stuck (queued with no GPU agent, or on a runtime that died) and
``optimization_time_limit_minutes`` the whole search. Trials are counted from every job the
optimiser created, failed ones included.
"""

from __future__ import annotations

import sys

from pose2gloss.orchestration import artifacts, tracking

DEFAULTS = {
    "selection_task_id": "",
    "total_max_jobs": 2,
    "max_number_of_concurrent_tasks": 2,
    "execution_queue": "gpu",
    "time_limit_per_job_minutes": 120.0,
    "optimization_time_limit_minutes": 480.0,
    "poll_minutes": 0.5,  # how often the optimiser looks at each running trial (server)
    "seed": 0,
    # Epochs of each offline trial; 0: the selected model's. Lets a laptop run search the full
    # space (dim 192 included) within its time budget; agents always train the selected epochs.
    "trial_epochs": 0,
}


def main(argv: list[str] | None = None) -> None:
    task, params = tracking.start_step("step6_hyperparameter_tuning", DEFAULTS, argv, task_type="optimizer")
    import pandas as pd

    from pose2gloss.evaluation.selection import hpo_verdict
    from pose2gloss.orchestration import hpo

    if not params["selection_task_id"]:
        raise SystemExit("selection_task_id is required (the task id of step 5)")
    selection = artifacts.artifact_json(params["selection_task_id"], "selection")
    selection = {k: v for k, v in selection.items() if k != "candidates"}
    model_name = selection["model_name"]
    print(f"optimising {model_name} from task {selection['task_id']}", flush=True)
    if task.is_offline():
        mode = "optuna-offline"
        base = dict(selection["params"])
        if params["trial_epochs"] > 0:
            base["epochs"] = params["trial_epochs"]
            print(f"offline trials train {params['trial_epochs']} epochs", flush=True)
        trials = hpo.run_local_study(
            model_name,
            hpo.training_subprocess(base, cwd=tracking.REPO_ROOT),
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
            artifacts.report_scalars(
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
    artifacts.upload_json(task, "hpo_result", result)
    print(f"HPO ({mode}): {verdict['trials_finished']} trials finished, {verdict['trials_failed']} failed", flush=True)
    failure = hpo.failed_study_report(trials)
    if failure:
        raise SystemExit(failure)
    print(
        f"final model from {verdict['source']}: {verdict['best_task_id']} "
        f"val top-1 {verdict['metrics'].get('val_accuracy')}",
        flush=True,
    )


def _run_on_agents(selection: dict, params: dict) -> list[dict]:
    from clearml import Task

    from pose2gloss.orchestration import hpo

    optimizer = hpo.clearml_optimizer(
        selection["task_id"],
        selection["model_name"],
        queue=params["execution_queue"],
        total_max_jobs=params["total_max_jobs"],
        max_concurrent=params["max_number_of_concurrent_tasks"],
        time_limit_per_job_minutes=params["time_limit_per_job_minutes"],
        optimization_time_limit_minutes=params["optimization_time_limit_minutes"],
        poll_minutes=params["poll_minutes"],
    )
    optimizer.start()
    optimizer.wait()
    optimizer.stop()
    # Every created job, not get_top_experiments(), which leaves out the ones that failed.
    created = optimizer.get_optimizer().get_created_jobs_ids()
    return hpo.collect_trials(created, lambda task_id: Task.get_task(task_id=task_id))


if __name__ == "__main__":
    main(sys.argv[1:])
