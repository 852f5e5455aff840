"""Step 4 - model training: one script for every registered model (``model_name``).

Training data is step 3's feature shards, or, with ``online_augment``, step 2's landmark
shards augmented afresh each epoch with step 2's recorded policy and preprocessed on the fly
(:class:`pose2gloss.training.batches.AugmentedPoints`). The training recipe's parameters are
:class:`pose2gloss.training.config.TrainConfig`'s.

The pipeline runs it twice in parallel branches (GISLR and ConvNeXtTiny), and the HPO step
runs it once per trial. After every epoch it reports ``val_loss`` and ``val_accuracy`` of the
best epoch so far: those are the optimiser's objectives, and ClearML's optimiser polls for them
from the first epoch on. It logs the devices it trains on; ``require_gpu`` (set on the GPU
queue) fails the step at once when TensorFlow sees no GPU.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pose2gloss.orchestration import artifacts, registry, tracking
from pose2gloss.training.config import TrainConfig, all_model_parameters

DEFAULTS = {
    "split_task_id": "",
    "transform_task_id": "",
    "augment_task_id": "",  # step 2: its landmark shards and policy, for online augmentation
    "online_augment": False,  # a fresh variant of every training sequence each epoch (tf.data), not stored copies
    "model_name": "GISLR",
    "max_train_samples": 0,
    "require_gpu": False,
    # The recipe (TrainConfig): "plateau", or "cosine"/"onecycle" over fixed epochs, with its regularisers.
    **TrainConfig().to_dict(),
    # Model parameters; each model takes the ones it knows (MODEL_DEFAULTS).
    **all_model_parameters(),
}
OBJECTIVES = ("val_loss", "val_accuracy")  # scalar title == series, as the HPO step expects


def main(argv: list[str] | None = None) -> None:
    task, params = tracking.start_step("step4_model_training", DEFAULTS, argv, task_type="training", gpu=True)
    import keras
    import tensorflow as tf

    from pose2gloss.orchestration.hpo import BestEpoch
    from pose2gloss.preprocessing.features import FeatureConfig
    from pose2gloss.training.registry import MODELS
    from pose2gloss.training.train import CARD_FILE, WEIGHTS_FILE, save_trained, train

    gpus = tf.config.list_physical_devices("GPU")
    print(f"TensorFlow {tf.__version__} devices: {[d.name for d in tf.config.list_physical_devices()]}", flush=True)
    if params["require_gpu"] and not gpus:
        raise SystemExit(
            f"require_gpu is set but TensorFlow {tf.__version__} sees no GPU on this machine; "
            "the agent must install the task's tensorflow[and-cuda] (or run with require_gpu=false)"
        )
    for required in ("split_task_id", "transform_task_id"):
        if not params[required]:
            raise SystemExit(f"{required} is required")
    name = params["model_name"]
    if name not in MODELS:
        raise SystemExit(f"unknown model_name '{name}'; choose one of {sorted(MODELS)}")
    task.add_tags([name])
    model_params = {k: params[k] for k in MODELS[name].defaults}
    config = TrainConfig(**{k: params[k] for k in TrainConfig().to_dict()})
    num_classes = len(artifacts.artifact_json(params["split_task_id"], "sign_map"))
    features = FeatureConfig(**artifacts.artifact_json(params["transform_task_id"], "feature_config"))
    if params["online_augment"]:
        if not params["augment_task_id"]:
            raise SystemExit("online_augment needs augment_task_id (the task id of step 2)")
        train_data = _augmented(params["augment_task_id"], features, params["max_train_samples"], params["seed"])
    else:
        train_data = _features(
            params["transform_task_id"], "train", features, params["max_train_samples"], params["seed"]
        )
    val_data = _features(params["transform_task_id"], "val", features)

    logger = task.get_logger()
    best = BestEpoch()

    class ReportEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            for key, value in (logs or {}).items():
                metric = key.removeprefix("val_")
                logger.report_scalar(metric, "val" if key.startswith("val_") else "train", float(value), epoch + 1)
            for objective, value in best.update(logs or {}).items():
                logger.report_scalar(objective, objective, value, epoch + 1)

    with tempfile.TemporaryDirectory() as tmp:
        result = train(
            name,
            train_data,
            val_data,
            num_classes,
            config=config,
            params=model_params,
            checkpoint_path=Path(tmp) / "best.weights.h5",
            callbacks=[ReportEpoch()],
            verbose=2,
        )
        epochs_run = len(result.history["loss"])
        for objective in OBJECTIVES:
            logger.report_scalar(objective, objective, result.metrics[objective], epochs_run)
        artifacts.report_single_values(task, result.metrics)
        model_dir = save_trained(
            Path(tmp) / "model",
            result.model,
            model_name=name,
            params=result.params,
            features=features,
            num_classes=num_classes,
            metrics=result.metrics,
        )
        if not task.is_offline():
            registry.publish_output_model(task, model_dir / WEIGHTS_FILE, name)
        artifacts.upload_moving(task, "model", model_dir / WEIGHTS_FILE)
        artifacts.upload_moving(task, "model_card", model_dir / CARD_FILE)
        artifacts.upload_json(
            task, "metrics", {"task_id": task.id, "model_name": name, "params": params, **result.metrics}
        )
    print(f"{name}: {result.metrics}", flush=True)


def _features(transform_task_id: str, split: str, config, limit: int = 0, seed: int = 0):
    """Step 3's feature shards of ``split``, streamed; ``limit`` > 0 takes a seeded random subset."""
    from pose2gloss.training.batches import ShardFeatures, subset

    shards = artifacts.sharded_split(transform_task_id, f"{split}_features")
    return ShardFeatures(shards, config.max_len, config.n_features, keep=subset(len(shards), limit, seed))


def _augmented(augment_task_id: str, config, limit: int = 0, seed: int = 0):
    """Step 2's unaugmented training landmarks, augmented online with step 2's recorded policy."""
    from pose2gloss.data.augment import AugmentConfig
    from pose2gloss.training.batches import AugmentedPoints, subset

    policy = artifacts.artifact_json(augment_task_id, "augment_policy")
    augment = AugmentConfig(**{k: policy[k] for k in AugmentConfig().to_dict()})
    shards = artifacts.sharded_split(augment_task_id, "train_points")
    return AugmentedPoints(shards, config, augment, seed=policy["seed"], keep=subset(len(shards), limit, seed))


if __name__ == "__main__":
    main(sys.argv[1:])
