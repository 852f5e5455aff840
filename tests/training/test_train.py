import numpy as np
import pytest

from pose2gloss.preprocessing.features import FeatureConfig
from pose2gloss.training.config import TrainConfig
from pose2gloss.training.train import evaluate_model, load_trained, save_trained, train
from tests.training.test_registry import SHAPE, tiny_batch

SMALL = {"dim": 32, "num_blocks": 1, "conv1d_dropout": 0.0, "last_dropout": 0.0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    checkpoint = tmp_path_factory.mktemp("ckpt") / "best.weights.h5"
    result = train(
        "GISLR",
        tiny_batch(seed=0),
        tiny_batch(seed=1),
        4,
        config=TrainConfig(batch_size=8, learning_rate=3e-3, epochs=8, reduce_lr_patience=2, early_stopping_patience=4),
        params=SMALL,
        checkpoint_path=checkpoint,
    )
    return result, checkpoint


def test_train_returns_metrics_of_the_best_epoch(trained):
    result, checkpoint = trained
    assert checkpoint.is_file()
    assert set(result.metrics) >= {"val_loss", "val_accuracy", "val_top5", "best_epoch"}
    best = int(result.metrics["best_epoch"])
    assert result.metrics["val_accuracy"] == pytest.approx(max(result.history["val_accuracy"]), abs=1e-6)
    assert result.history["val_accuracy"][best - 1] == max(result.history["val_accuracy"])
    assert result.metrics["val_accuracy"] > 0.5  # 4 classes: chance is 0.25
    recomputed = evaluate_model(result.model, tiny_batch(seed=1), prefix="val_")
    assert recomputed["val_loss"] == pytest.approx(result.metrics["val_loss"], rel=1e-5)


def test_save_and_load_roundtrip(trained, tmp_path):
    result, _ = trained
    features = FeatureConfig()
    save_trained(
        tmp_path,
        result.model,
        model_name="GISLR",
        params=result.params,
        features=features,
        num_classes=4,
        metrics=result.metrics,
    )
    model, card = load_trained(tmp_path)
    x, _ = tiny_batch(seed=2)
    np.testing.assert_allclose(model.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-6)
    assert card["model_name"] == "GISLR" and card["metrics"]["val_accuracy"] == result.metrics["val_accuracy"]
    assert tuple(model.input_shape[1:]) == SHAPE


def test_train_rejects_bad_config_and_empty_data(tmp_path):
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(learning_rate=0)
    x, y = tiny_batch()
    with pytest.raises(ValueError, match="need training and validation"):
        train("GISLR", (x, y), (x[:0], y[:0]), 4, checkpoint_path=tmp_path / "w.weights.h5")


def stored(x, y, directory, shard_size):
    """Features as step 3 stores them (float16 rows without padding) and as they read back."""
    from pose2gloss.data.shards import Block, ShardedSplit, unpad_features, write_split

    x = x.astype(np.float16).astype(np.float32)
    lengths = np.full(len(y), SHAPE[0] - 3)
    x[:, SHAPE[0] - 3 :] = 0  # the padding rows of shorter sequences
    data, rows = unpad_features(x, lengths)
    index = write_split([Block(data.astype(np.float16), rows, lengths, y)], directory, "split", shard_size)
    return x, ShardedSplit.from_directory(directory, index)


def test_training_from_shards_matches_training_from_memory(tmp_path):
    from pose2gloss.training.batches import ArrayFeatures, ShardFeatures

    (x_train, y_train), (x_val, y_val) = tiny_batch(seed=0), tiny_batch(seed=1)
    x_train, train_split = stored(x_train, y_train, tmp_path / "train", 5)
    x_val, val_split = stored(x_val, y_val, tmp_path / "val", 7)
    config = TrainConfig(batch_size=4, learning_rate=3e-3, epochs=3)
    runs = [
        train(
            "GISLR", train_data, val_data, 4, config=config, params=SMALL, checkpoint_path=tmp_path / f"{i}.weights.h5"
        )
        for i, (train_data, val_data) in enumerate(
            [
                (ShardFeatures(train_split, *SHAPE), ShardFeatures(val_split, *SHAPE)),
                (ArrayFeatures(x_train, y_train, block_size=5), (x_val, y_val)),
            ]
        )
    ]
    assert runs[0].history == runs[1].history
    # the same model; evaluation batches differ (blocks of 7 or 16), which moves float sums in the last digits
    assert runs[0].metrics == pytest.approx(runs[1].metrics, rel=1e-6)


def test_a_subset_of_shards_reads_the_chosen_samples(tmp_path):
    from pose2gloss.training.batches import ShardFeatures, batches, subset

    x, y = tiny_batch(seed=2)
    x, split = stored(x, y, tmp_path, 3)
    keep = subset(len(y), 7, seed=1)
    source = ShardFeatures(split, *SHAPE, keep=keep)
    got = list(batches(source, batch_size=2))
    assert len(source) == 7 and [len(b[1]) for b in got] == [2, 2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), x[keep])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y[keep])
    assert subset(10, 0, seed=0) is None and subset(10, 10, seed=0) is None


def test_warmup_cosine_rises_then_decays():
    from pose2gloss.training.train import WarmupCosine

    schedule = WarmupCosine(1e-3, total_steps=100, warmup_steps=10)
    rates = [float(schedule(step)) for step in (0, 5, 10, 55, 100)]
    assert rates[0] == 0.0 and rates[1] == pytest.approx(5e-4) and rates[2] == pytest.approx(1e-3)
    assert rates[3] == pytest.approx(5e-4, rel=1e-3) and rates[4] == pytest.approx(0.0, abs=1e-9)
    onecycle = WarmupCosine(1e-3, total_steps=100, warmup_steps=10, start=1 / 25, end=1e-4)
    assert float(onecycle(0)) == pytest.approx(4e-5) and float(onecycle(100)) == pytest.approx(1e-7)


def test_the_recipe_runs_its_fixed_epochs_and_keeps_the_best(tmp_path):
    """Cosine schedule, AdamW, label smoothing, late dropout, drop path and AWP from an epoch on."""
    config = TrainConfig(
        batch_size=8,
        learning_rate=3e-3,
        epochs=5,
        early_stopping_patience=1,  # ignored: the recipe runs every epoch
        schedule="cosine",
        warmup=0.2,
        weight_decay=0.05,
        label_smoothing=0.1,
        late_dropout_start=2,
        awp=0.2,
        awp_start=3,
    )
    import keras

    params = {**SMALL, "drop_path": 0.1, "late_dropout": 0.5}
    switches = []

    class Watch(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                late = self.model.get_layer("late_dropout").active.numpy()
                switches.append((float(late), float(self.model.awp_scale.numpy())))

    result = train(
        "GISLR", tiny_batch(seed=0), tiny_batch(seed=1), 4, config=config, params=params,
        checkpoint_path=tmp_path / "best.weights.h5", callbacks=[Watch()],
    )  # fmt: skip
    assert len(result.history["loss"]) == 5 and np.isfinite(result.history["loss"]).all()
    assert result.history["learning_rate"][-1] < result.history["learning_rate"][1]
    assert result.metrics["val_accuracy"] == pytest.approx(max(result.history["val_accuracy"]), abs=1e-6)
    assert switches == [(0.0, 0.0), (0.0, 0.0), (1.0, 0.0), (1.0, pytest.approx(0.2)), (1.0, pytest.approx(0.2))]
    assert result.model.count_params() == train_params_of_plain_model(params)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")


def train_params_of_plain_model(params):
    from pose2gloss.training.registry import build_model

    return build_model("GISLR", SHAPE, 4, params).count_params()
