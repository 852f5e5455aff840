"""Step 7 - evaluation of the final model on the held-out test split, and its export.

Reports top-1/top-5, per-class accuracy and a confusion matrix; exports the deployable bundle
(TFLite FP32 and FP16 with preprocessing inside, the sign map, a card, the reference profile of
the training inputs that the server measures drift against) only after the export
gates pass on the raw test sequences: outputs are probability distributions, FP32 picks Keras's
top-1 wherever Keras is not at a near-tie, FP16 agrees on at least 99%. Its ``metrics``
artifact (with the test set's identity) is what CI comments on pull requests and production
tagging compares; ``test_predictions`` (one row per test sequence) lets it run McNemar's
paired test against production. The test split is read a shard at a time.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pose2gloss.orchestration import artifacts, registry, tracking

DEFAULTS = {
    "hpo_task_id": "",
    "split_task_id": "",
    "augment_task_id": "",
    "transform_task_id": "",
    "promote": False,  # make this run production whatever the check says
    "apply_promotion": True,  # False (a pull request's run): decide and record, move no tag
}


def main(argv: list[str] | None = None) -> None:
    task, params = tracking.start_step("step7_model_evaluation", DEFAULTS, argv, task_type="testing")
    import numpy as np
    import pandas as pd

    from pose2gloss.bundle.export import export_bundle
    from pose2gloss.bundle.files import MODEL_FILE, MODEL_FP16_FILE, REFERENCE_FILE
    from pose2gloss.bundle.tflite import TFLiteClassifier
    from pose2gloss.data.stream import to_raw
    from pose2gloss.evaluation.metrics import (
        confusion_figure,
        confusion_matrix,
        export_gates,
        failed_gates_message,
        per_class_accuracy,
        tflite_agreement,
    )
    from pose2gloss.evaluation.promotion import identify_test_set, predictions_table
    from pose2gloss.monitor.profile import ReferenceBuilder, write_reference
    from pose2gloss.preprocessing.features import FeatureConfig, preprocess_numpy
    from pose2gloss.training.train import EVAL_BATCH, ScoreTotals

    missing = [k for k, v in params.items() if not v and k not in ("promote", "apply_promotion")]
    if missing:
        raise SystemExit(f"required parameters missing: {missing}")
    verdict = artifacts.artifact_json(params["hpo_task_id"], "hpo_result")
    sign_map = artifacts.artifact_json(params["split_task_id"], "sign_map")
    names = {i: s for s, i in sign_map.items()}
    model, card = artifacts.trained_model(verdict["best_task_id"])
    features = FeatureConfig(**card["features"])
    test_points = artifacts.sharded_split(params["augment_task_id"], "test_points")
    source = artifacts.artifact_json(params["split_task_id"], "source")
    manifest = pd.read_csv(artifacts.artifact_local_copy(params["split_task_id"], "manifest"))
    test_set = identify_test_set(manifest, source.get("dataset_id", ""))

    def keras_scores(block) -> np.ndarray:
        x = preprocess_numpy(block.data, block.lengths, features)
        return model.predict(x, batch_size=EVAL_BATCH, verbose=0)

    totals, tables, reference = ScoreTotals(), [], ReferenceBuilder()
    for block in test_points:  # a shard at a time
        scores = keras_scores(block)
        totals.add(scores, block.labels)
        reference.add_scores(scores)  # top-1 scores on unseen signers: what serving should see
        tables.append(predictions_table(block.meta["sequence_id"], block.labels, scores))
    result = totals.result()
    metrics = {"top1": result["accuracy"], "top5": result["top5"], "n": totals.n}
    table = pd.concat(tables, ignore_index=True)
    y_test, predictions = table["label"].to_numpy(), table["prediction"].to_numpy()
    per_class = per_class_accuracy(predictions, y_test)
    with tempfile.TemporaryDirectory() as tmp:  # per-sequence, for McNemar's test against production
        table_path = Path(tmp) / "test_predictions.csv"
        table.to_csv(table_path, index=False)
        artifacts.upload_moving(task, "test_predictions", table_path)
    classes = sorted(per_class)
    logger = task.get_logger()
    logger.report_matplotlib_figure(
        "Confusion matrix",
        "test",
        figure=confusion_figure(confusion_matrix(predictions, y_test, classes), [names[c] for c in classes]),
        report_image=True,
    )
    logger.report_table(
        "Per-class accuracy",
        "test",
        table_plot=pd.DataFrame({"sign": [names[c] for c in classes], "accuracy": [per_class[c] for c in classes]}),
    )
    artifacts.report_scalars(task, "test", {"top1": metrics["top1"], "top5": metrics["top5"]})
    artifacts.report_single_values(task, {"test_top1": metrics["top1"], "test_top5": metrics["top5"]})

    for block in artifacts.sharded_split(params["augment_task_id"], "train_points"):  # the drift reference
        reference.add_block(block)

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bundle").mkdir()  # the reference is checksummed in the card with the model files
        write_reference(
            reference.result(inputs="train originals", top1_score="test"), Path(tmp) / "bundle" / REFERENCE_FILE
        )
        bundle_dir = export_bundle(
            model,
            features,
            Path(tmp) / "bundle",
            sign_map,
            {
                "model_name": card["model_name"],
                "model_id": f"{card['model_name']}-{verdict['best_task_id']}",
                "params": card["params"],
                "training_task_id": verdict["best_task_id"],
                "evaluation_task_id": task.id,
                "metrics": {"test_top1": metrics["top1"], "test_top5": metrics["top5"], **verdict["metrics"]},
                "test_set": test_set.to_dict(),
            },
        )
        # The exported models on the same test landmarks, as served raw [frames, 543, 3] arrays. The
        # gates compare whole score matrices: n_test x classes floats, a few tens of MB for GISLR.
        files = {"fp32": MODEL_FILE, "fp16": MODEL_FP16_FILE}
        classifiers = {label: TFLiteClassifier(bundle_dir / name) for label, name in files.items()}
        keras_parts, tflite_parts = [], {label: [] for label in files}
        for block in test_points:
            keras_parts.append(keras_scores(block))
            for label, classifier in classifiers.items():
                tflite_parts[label].append(
                    np.stack([classifier.predict(to_raw(block.item(i))) for i in range(len(block))])
                )
        scores = np.concatenate(keras_parts)
        tflite_scores = {label: np.concatenate(parts) for label, parts in tflite_parts.items()}
        exported = {}
        for label, name in files.items():
            exported[label] = {
                **tflite_agreement(tflite_scores[label], scores),
                "bytes": (bundle_dir / name).stat().st_size,
            }
            artifacts.report_single_values(task, {f"tflite_{label}_{k}": v for k, v in exported[label].items()})
        print(f"TFLite vs Keras on {len(y_test)} test sequences: {exported}", flush=True)
        gates = export_gates(scores, tflite_scores["fp32"], tflite_scores["fp16"])
        for gate in gates:
            print(f"gate {gate.name}: {'passed' if gate.passed else 'FAILED'} - {gate.reason}", flush=True)
        artifacts.upload_json(task, "export_gates", {gate.name: gate.to_dict() for gate in gates})
        if not all(gate.passed for gate in gates):
            row_ids = dict(enumerate(table["sequence_id"].tolist()))
            raise SystemExit(f"exported model not published:\n{failed_gates_message(gates, row_ids)}")
        artifacts.upload_file(task, "bundle", bundle_dir)

    report = {
        "test_top1": metrics["top1"],
        "test_top5": metrics["top5"],
        "n_test": int(metrics["n"]),
        "test_set": test_set.to_dict(),
        "model_name": card["model_name"],
        "model_id": f"{card['model_name']}-{verdict['best_task_id']}",
        "training_task_id": verdict["best_task_id"],
        "source": verdict["source"],
        "val_accuracy": verdict["metrics"].get("val_accuracy"),
        "per_class_accuracy": {names[c]: acc for c, acc in per_class.items()},
        "tflite": exported,
        "export_gates": {gate.name: gate.reason for gate in gates},
    }
    artifacts.upload_json(task, "metrics", report)
    print(f"test top-1 {metrics['top1']:.4f}, top-5 {metrics['top5']:.4f} ({card['model_name']})", flush=True)
    if not task.is_offline():
        _publish_and_promote(task, report, force=params["promote"], apply=params["apply_promotion"])


def _publish_and_promote(task, report: dict, *, force: bool, apply: bool = True) -> None:
    """With a server: publish the bundle as the model the server loads, and move the ``production`` tag
    to it if the promotion check passes (same test set, at least as good; or ``promote``).

    With ``apply`` false (a pull request's run) the decision is computed and recorded, and no tag moves:
    production changes only when the change is merged (``cicd/production_tagging.py``).
    """
    from pose2gloss.evaluation.promotion import Contender, decide, describe

    record = {k: v for k, v in report.items() if k != "per_class_accuracy"}
    model_id = registry.publish_bundle(task, artifacts.artifact_local_copy(task.id, "bundle"), record)
    current = registry.production_bundle()
    decision = decide(
        Contender.from_record(record, name=model_id),
        Contender.from_record(current[1], name=current[0]) if current else None,
        force=force,
    )
    applied = apply and decision.promote
    untagged = registry.move_production_tag(model_id) if applied else []
    record = {**decision.to_dict(), "applied": applied, "model_id": model_id, "untagged": untagged}
    artifacts.upload_json(task, "promotion", record)
    print(f"bundle model {model_id}: {describe(record)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
