"""Step 2 - data augmentation: raw sequences of each split, the training split augmented.

Outputs packed raw landmarks (``train_raw``, ``val_raw``, ``test_raw``): augmentation acts on
raw landmarks so that step 3 applies the one preprocessing definition to everything.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pose2gloss import tracking
from pose2gloss.augment import AugmentConfig

DEFAULTS = {"split_task_id": "", "multiplier": 1, "seed": 0, "workers": 4, **AugmentConfig().to_dict()}


def main(argv: list[str] | None = None) -> None:
    task, params = tracking.start_step("step2_data_augmentation", DEFAULTS, argv)
    import pandas as pd

    from pose2gloss.augment import augment_packed
    from pose2gloss.data import PackedSequences, load_sequences
    from pose2gloss.datasets import resolve_data_root
    from pose2gloss.plots import augmentation_preview

    if not params["split_task_id"]:
        raise SystemExit("split_task_id is required (the task id of step 1)")
    source = tracking.artifact_json(params["split_task_id"], "source")
    root = resolve_data_root(source["dataset_id"], source["data_dir"])
    manifest = pd.read_csv(tracking.artifact_local_copy(params["split_task_id"], "manifest"))
    config = AugmentConfig(**{k: params[k] for k in AugmentConfig().to_dict()})

    with tempfile.TemporaryDirectory() as tmp:
        for split in ("train", "val", "test"):
            rows = manifest[manifest["split"] == split]
            sequences = load_sequences([root / p for p in rows["path"]], workers=params["workers"])
            packed = PackedSequences.from_sequences(
                sequences,
                rows["label"].to_numpy(),
                meta={
                    "sequence_id": rows["sequence_id"].to_numpy(),
                    "participant_id": rows["participant_id"].to_numpy(),
                },
            )
            if split == "train":
                augmented = augment_packed(packed, params["multiplier"], params["seed"], config)
                figure = augmentation_preview(
                    packed.sequence(0), augmented.sequence(len(packed)) if params["multiplier"] else None
                )
                task.get_logger().report_matplotlib_figure("Augmentation", "preview", figure=figure, report_image=True)
                packed = augmented
            print(f"{split}: {len(packed)} sequences, {len(packed.frames)} frames", flush=True)
            tracking.report_single_values(task, {f"{split}_sequences": len(packed)})
            tracking.upload_file(task, f"{split}_raw", packed.save(Path(tmp) / f"{split}_raw.npz"))


if __name__ == "__main__":
    main(sys.argv[1:])
