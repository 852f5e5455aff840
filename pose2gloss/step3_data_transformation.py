"""Step 3 - data transformation: every split through the one preprocessing definition.

Produces fixed-length arrays ``(n, max_len, features)`` and labels per split, ready for
training; the same :mod:`pose2gloss.features` code is later exported inside the TFLite model.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pose2gloss import tracking

DEFAULTS = {"augment_task_id": "", "max_len": 64, "motion": True, "chunk": 512}


def main(argv: list[str] | None = None) -> None:
    task, params = tracking.start_step("step3_data_transformation", DEFAULTS, argv)
    import numpy as np
    from tqdm import tqdm

    from pose2gloss.data import PackedSequences
    from pose2gloss.features import FeatureConfig, feature_statistics, preprocess_numpy

    if not params["augment_task_id"]:
        raise SystemExit("augment_task_id is required (the task id of step 2)")
    config = FeatureConfig(max_len=params["max_len"], motion=params["motion"])
    tracking.upload_json(task, "feature_config", config.to_dict())
    with tempfile.TemporaryDirectory() as tmp:
        for split in tqdm(("train", "val", "test"), desc="transform", unit="split"):
            packed = PackedSequences.load(tracking.artifact_local_copy(params["augment_task_id"], f"{split}_raw"))
            features = preprocess_numpy(packed.frames, packed.lengths, config, chunk=params["chunk"])
            stats = feature_statistics(features, packed.lengths, config)
            tracking.report_scalars(task, f"features/{split}", stats)
            print(split, stats, flush=True)
            path = Path(tmp) / f"{split}_features.npz"
            np.savez(path, x=features, y=packed.labels, lengths=packed.lengths)
            tracking.upload_file(task, f"{split}_features", path)


if __name__ == "__main__":
    main(sys.argv[1:])
