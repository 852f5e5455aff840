"""Run the pose2gloss pipeline: split -> augment -> transform -> {GISLR || ConvNeXtTiny} -> select -> HPO -> evaluate.

    python pipeline_from_tasks.py                       # the bundled sample, no server needed
    python pipeline_from_tasks.py --data-dir /data/asl-signs --full
    python pipeline_from_tasks.py --set train_gislr.epochs=30 --set data_splitting.seed=1

With no ClearML server configured, every step runs here through the ClearML SDK in offline
mode and each session is kept for ``clearml-task --import-offline-session``. With a server
(``clearml-init`` or CLEARML_API_* variables) the same steps go to ``--cpu-queue`` and
``--gpu-queue`` for agents. Exit code 0 only if every step ran and succeeded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pose2gloss import tracking


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir", default="data/sample", help="local GISLR folder (generated if it is the sample and missing)"
    )
    parser.add_argument("--dataset-id", default="", help="ClearML Dataset id (server); overrides --data-dir")
    parser.add_argument(
        "--full", action="store_true", help="full-size presets (epochs, HPO jobs) instead of the sample's"
    )
    parser.add_argument("--cpu-queue", default="cpu", help="queue for data, selection and evaluation steps (server)")
    parser.add_argument("--gpu-queue", default="gpu", help="queue for training and HPO trials (server)")
    parser.add_argument(
        "--controller-queue", default="", help="enqueue the controller itself, e.g. on 'services' (server)"
    )
    parser.add_argument("--offline", action="store_true", help="run offline even if a server is configured")
    parser.add_argument(
        "--set", action="append", default=[], metavar="STEP.PARAM=VALUE", help="override a step parameter"
    )
    parser.add_argument("--runs-dir", default="runs", help="where runs, offline sessions and logs are written")
    parser.add_argument("--summary", default="", help="also write the run summary as JSON to this path")
    parser.add_argument(
        "--promote",
        action="store_true",
        help="make this run production even if it is worse or was tested on other data than production",
    )
    return parser.parse_args(argv)


def parse_sets(items: list[str]) -> dict[str, dict[str, str]]:
    overrides: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        step, dot, param = key.partition(".")
        if not (sep and dot and step and param):
            raise SystemExit(f"--set expects STEP.PARAM=VALUE, got {item!r}")
        overrides.setdefault(step, {})[param] = value
    return overrides


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    run_dir = Path(args.runs_dir) / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    if args.offline:
        os.environ["CLEARML_OFFLINE_MODE"] = "1"
    offline = tracking.configure_environment(cache_dir=run_dir / "clearml")

    from pose2gloss import pipeline
    from pose2gloss.datasets import SAMPLE_DIR, register_dataset, resolve_data_root

    overrides = parse_sets(args.set)
    split = overrides.setdefault("data_splitting", {})
    if args.dataset_id:
        split.setdefault("dataset_id", args.dataset_id)
    elif offline:
        split.setdefault("data_dir", str(Path(args.data_dir).resolve()))
    else:  # agents cannot see this machine's folder: publish it as a dataset version first
        root = resolve_data_root("", args.data_dir, generate_if_missing=Path(args.data_dir) == SAMPLE_DIR)
        split.setdefault("dataset_id", register_dataset(root))
    try:
        steps = pipeline.build_steps(overrides, full=args.full)
    except ValueError as err:
        raise SystemExit(str(err)) from err

    print(
        f"pose2gloss pipeline ({'offline, local' if offline else 'ClearML server'}): run folder {run_dir}", flush=True
    )
    result = pipeline.run_pipeline(
        steps,
        offline=offline,
        cpu_queue=args.cpu_queue,
        gpu_queue=args.gpu_queue,
        controller_queue=args.controller_queue or None,
        log_dir=run_dir / "logs",
    )
    if result is None:
        print(f"controller enqueued on '{args.controller_queue}'; follow it in the ClearML web UI")
        return 0
    summary = pipeline.summarise(result, run_dir, offline=offline, duration_s=time.time() - started)
    if summary["status"] == "completed":
        summary["tflite_path"] = _keep_bundle(summary, run_dir, force=args.promote)
    print(pipeline.format_summary(summary))
    if "promotion" in summary:
        print(summary["promotion"]["summary"])
    if args.summary:
        Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary).write_text(json.dumps(summary, indent=2, default=str))
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return 0 if summary["status"] == "completed" else 1


def _keep_bundle(summary: dict[str, Any], run_dir: Path, force: bool = False) -> str:
    """Copy the bundle and test predictions into the run folder; promote the run if the check says so.

    ``summary["promotion"]`` records the decision with its evidence (see :mod:`pose2gloss.promotion`).
    """
    from pose2gloss.bundle import MODEL_FILE
    from pose2gloss.promotion import describe, promote_locally

    task_id = summary["evaluation_task_id"]
    bundle_dir = run_dir / "bundle"
    shutil.copytree(tracking.artifact_local_copy(task_id, "bundle"), bundle_dir, dirs_exist_ok=True)
    predictions = run_dir / "test_predictions.csv"
    shutil.copyfile(tracking.artifact_local_copy(task_id, "test_predictions"), predictions)
    candidate = {**tracking.artifact_json(task_id, "metrics"), "pipeline_id": summary["pipeline_id"]}
    decision = promote_locally(candidate, bundle_dir, run_dir.parent, test_predictions=predictions, force=force)
    summary["promotion"] = {**decision.to_dict(), "summary": describe(decision)}
    summary["promoted_to_production"] = decision.promote
    return str((bundle_dir / MODEL_FILE).resolve())


if __name__ == "__main__":
    sys.exit(main())
