import numpy as np
import pytest

from pose2gloss.features import FeatureConfig
from pose2gloss.train import TrainConfig, evaluate_model, load_trained, save_trained, train
from tests.test_models import SHAPE, tiny_batch

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
    recomputed = evaluate_model(result.model, *tiny_batch(seed=1), prefix="val_")
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
