"""Load + preprocess throughput (sequences/s): the library path versus a naive per-row pandas one.

    python benchmarks/bench_transform.py [--data-dir data/sample] [--naive-sequences 20]

The library path reads each parquet file with pyarrow into a (frames, 543, 3) array (threads)
and preprocesses them in vectorised TensorFlow calls of 128 sequences while later files load.
The naive path is what a first notebook does: ``pandas.read_parquet`` and a Python loop over
rows, then one preprocessing call per sequence. Both produce the same features (checked).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pose2gloss.data import iter_sequences, load_index, load_sequences  # noqa: E402
from pose2gloss.orchestration.datasets import resolve_data_root  # noqa: E402
from pose2gloss.preprocessing.features import (  # noqa: E402
    FeatureConfig,
    preprocess_numpy,
    preprocess_sequence,
    preprocess_sequences,
)
from pose2gloss.preprocessing.landmarks import TYPE_OFFSETS  # noqa: E402


def naive_load(path: str) -> np.ndarray:
    frame = pd.read_parquet(path)
    frames = sorted(frame["frame"].unique())
    out = np.full((len(frames), 543, 3), np.nan, np.float32)
    slot = {f: i for i, f in enumerate(frames)}
    for _, row in frame.iterrows():
        out[slot[row["frame"]], TYPE_OFFSETS[row["type"]] + row["landmark_index"]] = (row["x"], row["y"], row["z"])
    return out


def library_path(paths: list[str], config: FeatureConfig, workers: int) -> np.ndarray:
    return preprocess_sequences(iter_sequences(paths, workers=workers), config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="data/sample")
    parser.add_argument("--naive-sequences", type=int, default=20, help="the naive path is slow: time a subset")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    root = resolve_data_root("", args.data_dir, generate_if_missing=True)
    paths = list(load_index(root)["path"])
    config = FeatureConfig()
    library_path(paths[:8], config, args.workers)  # trace the TF function and warm the file cache once

    def best_rate(fn) -> float:
        timings = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            timings.append(time.perf_counter() - start)
        return len(paths) / min(timings)

    sequences = load_sequences(paths, workers=args.workers)
    frames, lengths = np.concatenate(sequences), np.array([len(s) for s in sequences])
    load_rate = best_rate(lambda: load_sequences(paths, workers=args.workers))
    preprocess_rate = best_rate(lambda: preprocess_numpy(frames, lengths, config))
    library_rate = best_rate(lambda: library_path(paths, config, args.workers))
    features = library_path(paths, config, args.workers)

    subset = paths[: args.naive_sequences]
    start = time.perf_counter()
    naive = np.stack([preprocess_sequence(naive_load(p), config).numpy() for p in subset])
    naive_rate = len(subset) / (time.perf_counter() - start)
    np.testing.assert_allclose(naive, features[: len(subset)], atol=1e-4)

    print(
        f"data: {root} ({len(paths)} sequences), cores: {os.cpu_count()}, max_len {config.max_len}, "
        f"features {config.n_features}"
    )
    print(f"{'path':<48}{'sequences':>10}{'seq/s':>10}")
    print(f"{'  load only (pyarrow, threads)':<48}{len(paths):>10}{load_rate:>10.0f}")
    print(f"{'  preprocess only (vectorised TF, packed)':<48}{len(paths):>10}{preprocess_rate:>10.0f}")
    print(f"{'library: load + preprocess (streamed)':<48}{len(paths):>10}{library_rate:>10.0f}")
    print(f"{'naive: pandas iterrows + one call per sequence':<48}{len(subset):>10}{naive_rate:>10.1f}")
    print(f"speed-up: {library_rate / naive_rate:.0f}x (outputs agree to 1e-4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
