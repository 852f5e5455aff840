"""Step 1 - data splitting: a participant-grouped train/val/test manifest of a GISLR folder.

With a ClearML server, ``dataset_id`` names a ClearML Dataset version (see
``pose2gloss.datasets``); otherwise ``data_dir`` is a local folder. Only the bundled sample
folder is generated when missing; any other folder must hold GISLR data. Data with too few
participants for a participant-grouped split fails here, with the count; ``split_by=sequence``
(stratified by sign) is the explicit alternative, recorded as not participant-independent.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pose2gloss.orchestration import artifacts, tracking

DEFAULTS = {
    "dataset_id": "",
    "data_dir": "data/sample",
    "generate_sample_if_missing": True,
    "val_fraction": 0.15,
    "test_fraction": 0.15,
    "seed": 0,
    "split_by": "participant",
    # Dataset id or content hash of the data (set by the pipeline): part of the data steps' reuse key.
    "data_version": "",
}


def main(argv: list[str] | None = None) -> None:
    task, params = tracking.start_step("step1_data_splitting", DEFAULTS, argv)
    from pose2gloss.data import load_sign_map, make_manifest, split_summary
    from pose2gloss.orchestration.datasets import resolve_data_root

    if not params["dataset_id"] and tracking.on_agent(task):
        raise SystemExit(
            f"data splitting runs on an agent, which cannot read data_dir={params['data_dir']!r} from the machine "
            "that started the run: register the data (python -m pose2gloss.datasets register --path ...) "
            "and pass its dataset_id"
        )
    try:
        root = resolve_data_root(
            params["dataset_id"], params["data_dir"], params["generate_sample_if_missing"], index_only=True
        )
        manifest = make_manifest(
            root,
            val_fraction=params["val_fraction"],
            test_fraction=params["test_fraction"],
            seed=params["seed"],
            split_by=params["split_by"],
        )
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"data splitting: {err}") from err
    summary = split_summary(manifest)
    print(summary.to_string())
    task.get_logger().report_table("Split", "sequences per split", table_plot=summary.reset_index())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.csv"
        manifest.to_csv(path, index=False)
        artifacts.upload_file(task, "manifest", path)
    artifacts.upload_json(task, "sign_map", load_sign_map(root))
    artifacts.upload_json(
        task,
        "source",
        {
            "dataset_id": params["dataset_id"],
            "data_dir": str(root),
            "sequences": len(manifest),
            "split_by": params["split_by"],
            "participant_independent": params["split_by"] == "participant",
            "per_split": {split: int(row["sequences"]) for split, row in summary.iterrows()},
            "data_version": params["data_version"],
        },
    )
    for split, row in summary.iterrows():
        artifacts.report_single_values(task, {f"{split}_sequences": row["sequences"]})


if __name__ == "__main__":
    main(sys.argv[1:])
