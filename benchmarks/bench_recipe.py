"""What one epoch of the ``--full`` recipe costs: measured FLOPs of the model, measured CPU time
of the online augmentation, and the data size of GISLR, turned into a time per epoch on a GPU.

    python benchmarks/bench_recipe.py [--sustained-tflops 2.5 4.0] [--train-sequences 66134]

The model FLOPs are counted by TensorFlow's profiler on the frozen forward graph (a
multiply-add is 2 FLOPs); a training step costs about 3 forward passes (forward, and the
backward pass at twice the forward), and AWP adds one more forward and backward pass. The
GPU time assumes a sustained throughput (``--sustained-tflops``; a Colab T4 peaks at 8.1
TFLOPS in FP32, and small convolutions and attention reach a fraction of it): it is an
estimate, not a measurement. The CPU side (augmenting and preprocessing every training
sequence afresh) is measured here, per core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import tensorflow as tf

from pose2gloss.data.augment import AugmentConfig, augment_sequence
from pose2gloss.orchestration.pipeline.dag import FULL_PRESET
from pose2gloss.preprocessing.features import N_MODEL_LANDMARKS, FeatureConfig, preprocess_numpy
from pose2gloss.training.registry import build_model

GISLR_SEQUENCES = 94_477
TRAIN_SHARE = 0.7  # step 1's default split: 15% validation, 15% test
GISLR_MEAN_FRAMES = 38  # an assumed typical GISLR sequence length (the augmentation cost grows with it)


def forward_flops(model: tf.keras.Model, shape: tuple[int, int]) -> int:
    """FLOPs of one forward pass on one sequence, counted on the frozen inference graph."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda x: model(x, training=False))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(tf.TensorSpec([1, *shape], tf.float32)))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops)


def augment_seconds(features: FeatureConfig, n: int = 256) -> float:
    """CPU seconds (one core) to augment and preprocess one training sequence of GISLR's mean length."""
    rng = np.random.default_rng(0)
    points = [
        (0.5 + 0.1 * rng.standard_normal((GISLR_MEAN_FRAMES, N_MODEL_LANDMARKS, 2))).astype(np.float32)
        for _ in range(n)
    ]
    config = AugmentConfig()
    preprocess_numpy(np.concatenate(points[:8]), np.full(8, GISLR_MEAN_FRAMES), features)  # compile once
    start = time.process_time()
    augmented = [augment_sequence(p, np.random.default_rng(i), config) for i, p in enumerate(points)]
    for first in range(0, n, 64):
        batch = augmented[first : first + 64]
        preprocess_numpy(np.concatenate(batch), np.array([len(b) for b in batch]), features)
    return (time.process_time() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sustained-tflops", type=float, nargs="+", default=[2.5, 4.0])
    parser.add_argument("--train-sequences", type=int, default=round(GISLR_SEQUENCES * TRAIN_SHARE))
    args = parser.parse_args()
    full = FULL_PRESET["train_gislr"]
    features = FeatureConfig(max_len=FULL_PRESET["data_transformation"]["max_len"])
    params = {k: full[k] for k in ("dim", "conv1d_dropout", "last_dropout", "late_dropout", "drop_path")}
    model = build_model("GISLR", (features.max_len, features.n_features), 250, params)
    flops = forward_flops(model, (features.max_len, features.n_features))
    step = 3 * flops
    awp_step = 2 * step
    epochs, awp_start = full["epochs"], full["awp_start"]
    mean_step = (awp_start * step + (epochs - awp_start) * awp_step) / epochs
    print(f"GISLR --full: dim {params['dim']}, max_len {features.max_len}, {model.count_params():,} parameters")
    print(f"forward: {flops / 1e9:.2f} GFLOPs per sequence (the whole padded window is computed)")
    print(
        f"training: {step / 1e9:.2f} GFLOPs per sequence, {awp_step / 1e9:.2f} with AWP "
        f"(from epoch {awp_start} of {epochs}); {args.train_sequences:,} training sequences per epoch"
    )
    per_epoch = mean_step * args.train_sequences
    print(f"per epoch (mean over the run): {per_epoch / 1e15:.1f} PFLOPs")
    for tflops in args.sustained_tflops:
        seconds = per_epoch / (tflops * 1e12)
        print(
            f"  at {tflops:.1f} TFLOPS sustained: {seconds / 60:.1f} min per epoch, "
            f"{seconds * epochs / 3600:.1f} h for {epochs} epochs"
        )
    cpu = augment_seconds(features)
    print(
        f"online augmentation + preprocessing: {cpu * 1e3:.2f} ms CPU per sequence, "
        f"{cpu * args.train_sequences / 60:.1f} core-minutes per epoch (overlaps the GPU in tf.data)"
    )


if __name__ == "__main__":
    main()
