"""Step 1 - data splitting: a participant-grouped train/val/test manifest of a GISLR folder.

With a ClearML server, ``dataset_id`` names a ClearML Dataset version (see
``pose2gloss.datasets``); otherwise ``data_dir`` is a local folder, and the bundled sample is
generated there first if it is missing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pose2gloss import tracking

DEFAULTS = {
    "dataset_id": "",
    "data_dir": "data/sample",
    "generate_sample_if_missing": True,
    "val_fraction": 0.15,
    "test_fraction": 0.15,
    "seed": 0,
}


def main(argv: list[str] | None = None) -> None:
    task, params = tracking.start_step("step1_data_splitting", DEFAULTS, argv)
    from pose2gloss.data import load_sign_map, make_manifest, split_summary
    from pose2gloss.datasets import resolve_data_root

    root = resolve_data_root(params["dataset_id"], params["data_dir"], params["generate_sample_if_missing"])
    manifest = make_manifest(
        root, val_fraction=params["val_fraction"], test_fraction=params["test_fraction"], seed=params["seed"]
    )
    summary = split_summary(manifest)
    print(summary.to_string())
    task.get_logger().report_table("Split", "sequences per split", table_plot=summary.reset_index())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.csv"
        manifest.to_csv(path, index=False)
        tracking.upload_file(task, "manifest", path)
    tracking.upload_json(task, "sign_map", load_sign_map(root))
    tracking.upload_json(
        task, "source", {"dataset_id": params["dataset_id"], "data_dir": str(root), "sequences": len(manifest)}
    )
    for split, row in summary.iterrows():
        tracking.report_single_values(task, {f"{split}_sequences": row["sequences"]})


if __name__ == "__main__":
    main(sys.argv[1:])
