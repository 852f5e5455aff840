"""Export a trained model with its preprocessing to TFLite, Kaggle-style.

The file takes raw landmarks ``inputs: float32 [frames, 543, 3]`` (NaN for missing points)
and returns ``outputs: float32 [num_classes]`` through the ``serving_default`` signature, so
the server and the Kaggle harness feed it the same thing.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import keras
import tensorflow as tf

from pose2gloss.bundle import files as bundle
from pose2gloss.preprocessing.features import FeatureConfig, preprocess_sequence
from pose2gloss.preprocessing.landmarks import N_COORDS, N_LANDMARKS

Precision = Literal["fp32", "fp16"]
INPUT_NAME = "inputs"
OUTPUT_NAME = "outputs"
SIGNATURE = "serving_default"


def export_tflite(model: keras.Model, features: FeatureConfig, path: str | Path, precision: Precision = "fp32") -> Path:
    """Write ``model`` preceded by :func:`preprocess_sequence` as a TFLite file at ``path``."""
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision must be 'fp32' or 'fp16', got {precision!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        x = preprocess_sequence(inputs, features)[None]
        return {OUTPUT_NAME: model(x, training=False)[0]}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        SIGNATURE, serve, input_signature=[tf.TensorSpec([None, N_LANDMARKS, N_COORDS], tf.float32, name=INPUT_NAME)]
    )
    with tempfile.TemporaryDirectory() as saved_model:
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=[SIGNATURE])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if precision == "fp16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        path.write_bytes(converter.convert())
    return path


def export_bundle(
    model: keras.Model,
    features: FeatureConfig,
    directory: str | Path,
    sign_map: dict[str, int],
    card: dict[str, Any],
) -> Path:
    """Write the deployable bundle: FP32 and FP16 TFLite files, the sign map and the card."""
    directory = Path(directory)
    num_classes = int(model.output_shape[-1])
    if num_classes != len(sign_map):
        raise ValueError(f"model has {num_classes} outputs but the sign map has {len(sign_map)} signs")
    export_tflite(model, features, directory / bundle.MODEL_FILE, "fp32")
    export_tflite(model, features, directory / bundle.MODEL_FP16_FILE, "fp16")
    full_card = {
        "features": features.to_dict(),
        "num_classes": num_classes,
        "input": {"name": INPUT_NAME, "shape": [None, N_LANDMARKS, N_COORDS], "dtype": "float32"},
        "output": {"name": OUTPUT_NAME, "shape": [num_classes]},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **card,
    }
    return bundle.write_bundle(directory, sign_map, full_card)
