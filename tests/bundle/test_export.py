import numpy as np
import pytest

from pose2gloss.bundle.export import export_bundle, export_tflite
from pose2gloss.bundle.files import BundleError, read_bundle
from pose2gloss.bundle.tflite import TFLiteClassifier
from pose2gloss.preprocessing.features import FeatureConfig, preprocess_sequence
from pose2gloss.training.registry import build_model
from tests.gislr_files import random_sequence

FEATURES = FeatureConfig()


@pytest.fixture(scope="module")
def model():
    return build_model("GISLR", (FEATURES.max_len, FEATURES.n_features), 5, {"dim": 32, "num_blocks": 1})


@pytest.fixture(scope="module")
def bundle_dir(model, tmp_path_factory):
    directory = tmp_path_factory.mktemp("bundle")
    signs = {s: i for i, s in enumerate(["TV", "after", "airplane", "all", "alligator"])}
    return export_bundle(model, FEATURES, directory, signs, {"model_name": "GISLR", "model_id": "unit"})


def keras_scores(model, sequence):
    return model(preprocess_sequence(sequence, FEATURES)[None]).numpy()[0]


@pytest.mark.parametrize("frames", [1, 7, 64, 200])
def test_tflite_matches_keras_on_raw_sequences(model, bundle_dir, frames):
    classifier = TFLiteClassifier(bundle_dir / "model.tflite")
    sequence = random_sequence(np.random.default_rng(frames), frames)
    scores = classifier.predict(sequence)
    assert scores.shape == (5,) and np.isfinite(scores).all()
    np.testing.assert_allclose(scores, keras_scores(model, sequence), atol=1e-5)


def test_fp16_is_smaller_and_agrees(model, bundle_dir):
    fp32, fp16 = bundle_dir / "model.tflite", bundle_dir / "model_fp16.tflite"
    assert fp16.stat().st_size < 0.7 * fp32.stat().st_size
    sequence = random_sequence(np.random.default_rng(0), 40)
    np.testing.assert_allclose(TFLiteClassifier(fp16).predict(sequence), keras_scores(model, sequence), atol=2e-3)


def test_kaggle_signature(bundle_dir):
    from ai_edge_litert.interpreter import Interpreter

    signatures = Interpreter(model_path=str(bundle_dir / "model.tflite")).get_signature_list()
    assert signatures == {"serving_default": {"inputs": ["inputs"], "outputs": ["outputs"]}}


def test_bundle_card_and_checksums(bundle_dir):
    bundle = read_bundle(bundle_dir)
    assert bundle.signs[:2] == ["TV", "after"] and bundle.card["num_classes"] == 5
    assert bundle.card["features"] == FEATURES.to_dict()
    tampered = bundle_dir / "sign_to_prediction_index_map.json"
    original = tampered.read_text()
    tampered.write_text(original.replace("TV", "XX"))
    try:
        with pytest.raises(BundleError, match="checksum"):
            read_bundle(bundle_dir)
    finally:
        tampered.write_text(original)


def test_export_rejects_mismatched_sign_map(model, tmp_path):
    with pytest.raises(ValueError, match="sign map has 2"):
        export_bundle(model, FEATURES, tmp_path, {"a": 0, "b": 1}, {})
    with pytest.raises(ValueError, match="precision"):
        export_tflite(model, FEATURES, tmp_path / "m.tflite", "int8")  # type: ignore[arg-type]


def test_frames_with_nothing_detected_before_or_after_leave_the_served_scores(model, bundle_dir):
    """A signer stepping out of view: empty frames prepended or appended move no probability by 0.02."""
    classifier = TFLiteClassifier(bundle_dir / "model.tflite")
    sequence = random_sequence(np.random.default_rng(9), 40)
    empty = np.full((10, 543, 3), np.nan, np.float32)
    scores = classifier.predict(sequence)
    for padded in (
        np.concatenate([empty, sequence]),
        np.concatenate([sequence, empty]),
        np.concatenate([empty, sequence, empty]),
    ):
        moved = classifier.predict(padded)
        assert moved.argmax() == scores.argmax() and np.abs(moved - scores).max() < 0.02
