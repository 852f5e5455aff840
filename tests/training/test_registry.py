import numpy as np
import pytest

from pose2gloss.preprocessing.features import FeatureConfig
from pose2gloss.training.registry import MODELS, build_model, model_params

SHAPE = (FeatureConfig().max_len, FeatureConfig().n_features)


def tiny_batch(n_classes=4, per_class=4, seed=0):
    """Noisy copies of fixed class prototypes; ``seed`` changes only the noise."""
    prototypes = np.random.default_rng(100).normal(size=(n_classes, *SHAPE)).astype(np.float32)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    x = prototypes[labels] + 0.1 * rng.normal(size=(len(labels), *SHAPE)).astype(np.float32)
    return x, labels


def test_registry_names_and_parameters():
    assert set(MODELS) == {"GISLR", "ConvNeXtTiny"}
    assert model_params("GISLR", {"conv1d_dropout": 0.5})["conv1d_dropout"] == 0.5
    with pytest.raises(ValueError, match="unknown parameters"):
        model_params("GISLR", {"dropout": 0.5})
    with pytest.raises(ValueError, match="unknown model"):
        build_model("ResNet", SHAPE, 3)


@pytest.mark.parametrize("name", ["GISLR", "ConvNeXtTiny"])
def test_models_output_probabilities(name):
    model = build_model(name, SHAPE, 7)
    scores = model(np.zeros((2, *SHAPE), np.float32)).numpy()
    assert scores.shape == (2, 7)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)


def test_gislr_stays_small():
    assert build_model("GISLR", SHAPE, 250).count_params() < 2_000_000  # well under 40 MB as FP32 TFLite


def overfit(name, params, epochs):
    import keras

    keras.utils.set_random_seed(0)
    x, y = tiny_batch()
    model = build_model(name, SHAPE, 4, params)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    return history.history


def test_gislr_overfits_a_tiny_batch():
    history = overfit("GISLR", {"dim": 64, "num_blocks": 1, "conv1d_dropout": 0.0, "last_dropout": 0.0}, 25)
    assert history["accuracy"][-1] == 1.0
    assert history["loss"][-1] < history["loss"][0] / 5


@pytest.mark.slow
def test_convnext_overfits_a_tiny_batch():
    history = overfit("ConvNeXtTiny", {"last_dropout": 0.0}, 30)
    assert history["accuracy"][-1] == 1.0
    assert history["loss"][-1] < history["loss"][0] / 2


def test_gislr_output_does_not_depend_on_the_padding_after_the_sign():
    """The same weights on the same frames padded to 32 or 96: masked ECA, attention, BN and pooling, causal conv."""
    import keras

    keras.utils.set_random_seed(1)
    n_features = FeatureConfig().n_features
    params = {"dim": 32, "num_blocks": 1, "kernel_size": 5}
    short, long = build_model("GISLR", (32, n_features), 5, params), build_model("GISLR", (96, n_features), 5, params)
    long.set_weights(short.get_weights())
    frames = np.random.default_rng(2).normal(size=(2, 20, n_features)).astype(np.float32)
    padded = [np.pad(frames, [(0, 0), (0, n - 20), (0, 0)]) for n in (32, 96)]
    np.testing.assert_allclose(short(padded[0]).numpy(), long(padded[1]).numpy(), atol=1e-5)
    # without the mask the padding would count: the unmasked model differs (the test can fail)
    changed = padded[1].copy()
    changed[:, 30:] = 0.5
    assert not np.allclose(long(changed).numpy(), long(padded[1]).numpy(), atol=1e-3)


def test_late_dropout_acts_only_once_switched_on():
    from pose2gloss.models.gislr import LateDropout

    layer = LateDropout(0.5)
    x = np.ones((4, 64), np.float32)
    np.testing.assert_array_equal(layer(x, training=True).numpy(), x)
    layer.active.assign(1.0)
    dropped = layer(x, training=True).numpy()
    assert 0.2 < np.mean(dropped == 0) < 0.8
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
