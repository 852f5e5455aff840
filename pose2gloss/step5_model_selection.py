"""Step 5 - model selection: reload every trained model, evaluate on validation, keep the best.

Parents: the training branches. The winner (by top-1) is the base of the HPO step. Beside the
candidates, the bag-of-frames baseline (:mod:`pose2gloss.training.baseline`) is trained on the same
training split and measured on the same validation split; each candidate records whether it
beats it.
"""

from __future__ import annotations

import sys

from pose2gloss.orchestration import artifacts, tracking

DEFAULTS = {"training_task_ids": "", "transform_task_id": ""}


def main(argv: list[str] | None = None) -> None:
    task, params = tracking.start_step("step5_model_selection", DEFAULTS, argv, task_type="qc")
    import pandas as pd

    from pose2gloss.evaluation.selection import against_baseline, select_best
    from pose2gloss.preprocessing.features import FeatureConfig
    from pose2gloss.training import baseline
    from pose2gloss.training.batches import ShardFeatures
    from pose2gloss.training.train import evaluate_model

    task_ids = [t.strip() for t in str(params["training_task_ids"]).split(",") if t.strip()]
    if not task_ids or not params["transform_task_id"]:
        raise SystemExit("training_task_ids (comma-separated) and transform_task_id are required")
    config = FeatureConfig(**artifacts.artifact_json(params["transform_task_id"], "feature_config"))
    val_data = ShardFeatures(
        artifacts.sharded_split(params["transform_task_id"], "val_features"), config.max_len, config.n_features
    )
    train_data = ShardFeatures(
        artifacts.sharded_split(params["transform_task_id"], "train_features"), config.max_len, config.n_features
    )
    candidates = []
    for task_id in task_ids:
        model, card = artifacts.trained_model(task_id)
        trained = artifacts.artifact_json(task_id, "metrics")
        metrics = evaluate_model(model, val_data, prefix="val_")
        candidates.append(
            {"task_id": task_id, "model_name": card["model_name"], "params": trained["params"], **metrics}
        )
        print(f"{card['model_name']} ({task_id}): {metrics}", flush=True)
    num_classes = int(card["num_classes"])
    fitted = baseline.fit_baseline(train_data, num_classes)
    reference = {"model_name": baseline.NAME, **baseline.evaluate_baseline(fitted, val_data, prefix="val_")}
    print(f"baseline {baseline.NAME}: {reference}", flush=True)
    candidates = against_baseline(candidates, reference)
    best = select_best(candidates)
    columns = ("model_name", "task_id", "val_accuracy", "val_top5", "val_loss")
    table = pd.DataFrame([{k: c.get(k) for k in columns} for c in [*candidates, reference]])
    task.get_logger().report_table("Selection", "validation", table_plot=table)
    artifacts.report_single_values(task, {"best_val_accuracy": best["val_accuracy"]})
    artifacts.report_single_values(task, {"baseline_val_accuracy": reference["val_accuracy"]})
    artifacts.upload_json(task, "selection", {**best, "candidates": candidates, "baseline": reference})
    print(f"selected {best['model_name']} ({best['task_id']}) with val top-1 {best['val_accuracy']:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
