"""Step 3 - data transformation: every split through the one preprocessing definition.

Reads step 2's landmark shards one at a time (the features of the next chunk are computed while
the last ones are written and uploaded) and writes ``<split>_features`` shards: the
fixed-length model input of :mod:`pose2gloss.preprocessing.features` without its all-zero padding rows
(see :mod:`pose2gloss.data.shards`); the same code is later exported inside the TFLite model.
"""

from __future__ import annotations

import functools
import sys
import tempfile

from pose2gloss.orchestration import artifacts, tracking

DEFAULTS = {"augment_task_id": "", "max_len": 64, "motion": True, "chunk": 256, "shard_size": 1024}


def main(argv: list[str] | None = None) -> None:
    task, params = tracking.start_step("step3_data_transformation", DEFAULTS, argv)
    from pose2gloss.data.background import prefetched
    from pose2gloss.data.shards import write_split
    from pose2gloss.data.transform import feature_blocks
    from pose2gloss.preprocessing.features import FeatureConfig, FeatureStatistics

    if not params["augment_task_id"]:
        raise SystemExit("augment_task_id is required (the task id of step 2)")
    config = FeatureConfig(max_len=params["max_len"], motion=params["motion"])
    artifacts.upload_json(task, "feature_config", config.to_dict())
    with tempfile.TemporaryDirectory() as tmp:
        for split in ("train", "val", "test"):
            points = artifacts.sharded_split(params["augment_task_id"], f"{split}_points")
            stats = FeatureStatistics(config)
            blocks = prefetched(feature_blocks(points, config, stats, chunk=params["chunk"]), depth=2)
            artifacts.upload_split(
                task,
                f"{split}_features",
                functools.partial(write_split, blocks, tmp, split, params["shard_size"]),
            )
            artifacts.report_scalars(task, f"features/{split}", stats.result())
            print(split, stats.result(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
