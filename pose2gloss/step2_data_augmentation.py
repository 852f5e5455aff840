"""Step 2 - data augmentation: every split read once, the training split augmented, as landmark shards.

Outputs ``<split>_points`` for train, val and test: shards of the model landmarks (see
:mod:`pose2gloss.data.stream`), written and uploaded one shard at a time. Augmentation acts on
the model landmarks of each sequence as it is read, still in image coordinates, so step 3
applies the one preprocessing definition to everything. The policy is uploaded as ``augment_policy``
and previewed; with ``multiplier`` 0 the shards hold only unaugmented points and training applies
the same policy online, a fresh variant every epoch (step 4's ``online_augment``).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import tempfile

from pose2gloss.data.augment import AugmentConfig
from pose2gloss.orchestration import artifacts, tracking

DEFAULTS = {
    "split_task_id": "",
    "multiplier": 1,
    "seed": 0,
    "workers": 2,
    "chunk": 128,
    "shard_size": 1024,
    **AugmentConfig().to_dict(),
}


def main(argv: list[str] | None = None) -> None:
    task, params = tracking.start_step("step2_data_augmentation", DEFAULTS, argv)
    import pandas as pd

    from pose2gloss.data.augment_preview import augmentation_preview
    from pose2gloss.data.gislr import load_points
    from pose2gloss.data.shards import write_split
    from pose2gloss.data.stream import augmented_copy, point_blocks, to_raw, worker_pool
    from pose2gloss.orchestration.datasets import resolve_data_root

    if not params["split_task_id"]:
        raise SystemExit("split_task_id is required (the task id of step 1)")
    if params["multiplier"] < 0:
        raise SystemExit(f"multiplier must be >= 0, got {params['multiplier']}")
    source = artifacts.artifact_json(params["split_task_id"], "source")
    root = resolve_data_root(source["dataset_id"], source["data_dir"])
    manifest = pd.read_csv(artifacts.artifact_local_copy(params["split_task_id"], "manifest"))
    config = AugmentConfig(**{k: params[k] for k in AugmentConfig().to_dict()})
    artifacts.upload_json(
        task, "augment_policy", {"multiplier": params["multiplier"], "seed": params["seed"], **config.to_dict()}
    )

    pool = worker_pool(params["workers"])
    with tempfile.TemporaryDirectory() as tmp, pool or contextlib.nullcontext():
        for split in ("train", "val", "test"):
            rows = manifest[manifest["split"] == split]
            if split == "train":  # shards of mixed signers and signs: training shuffles within shards
                rows = rows.sample(frac=1.0, random_state=params["seed"])
            multiplier = params["multiplier"] if split == "train" else 0
            if split == "train" and len(rows):
                first = load_points(root / rows["path"].iloc[0])
                # the policy's effect is previewed even when training applies it online (multiplier 0)
                copy = to_raw(augmented_copy(first, 1, 0, params["seed"], config))
                figure = augmentation_preview(to_raw(first), copy)
                task.get_logger().report_matplotlib_figure("Augmentation", "preview", figure=figure, report_image=True)
            blocks = point_blocks(
                [str(root / p) for p in rows["path"]],
                rows["label"].to_numpy(),
                {"sequence_id": rows["sequence_id"].to_numpy(), "participant_id": rows["participant_id"].to_numpy()},
                multiplier=multiplier,
                seed=params["seed"],
                augment=config,
                chunk=params["chunk"],
                pool=pool,
                in_flight=2 * params["workers"],
            )
            index = artifacts.upload_split(
                task,
                f"{split}_points",
                functools.partial(write_split, blocks, tmp, split, params["shard_size"]),
            )
            frames = sum(s["rows"] for s in index["shards"])
            print(
                f"{split}: {index['sequences']} sequences, {frames} frames, {len(index['shards'])} shards", flush=True
            )
            artifacts.report_single_values(task, {f"{split}_sequences": index["sequences"]})


if __name__ == "__main__":
    main(sys.argv[1:])
