"""The bag-of-frames baseline on a GISLR-layout folder: validation and test top-1 of the split step 1 makes.

    python benchmarks/bench_baseline.py [--data-dir data/sample] [--max-len 48]

Step 5 reports the baseline on validation only (selection never looks at test); this prints both,
with the participant split and the features of the sample preset, so the sample's claim (order
in time is what separates its signs) can be checked on the held-out participants too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pose2gloss.data.gislr import load_index, load_points
from pose2gloss.data.split import split_by_participant
from pose2gloss.preprocessing.features import FeatureConfig, preprocess_numpy
from pose2gloss.training.baseline import evaluate_baseline, fit_baseline
from pose2gloss.training.batches import ArrayFeatures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data/sample"))
    parser.add_argument("--max-len", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0, help="step 1's split seed")
    args = parser.parse_args()
    index = split_by_participant(load_index(args.data_dir), seed=args.seed)
    config = FeatureConfig(max_len=args.max_len)
    data = {}
    for split in ("train", "val", "test"):
        rows = index[index["split"] == split]
        points = [load_points(path).astype(np.float32) for path in rows["path"]]
        lengths = np.array([len(p) for p in points])
        data[split] = ArrayFeatures(preprocess_numpy(np.concatenate(points), lengths, config), rows["label"].to_numpy())
    num_classes = int(index["label"].max()) + 1
    baseline = fit_baseline(data["train"], num_classes)
    for split in ("val", "test"):
        result = evaluate_baseline(baseline, data[split])
        print(f"{split}: top-1 {result['accuracy']:.3f}, top-5 {result['top5']:.3f} ({len(data[split])} sequences)")


if __name__ == "__main__":
    main()
