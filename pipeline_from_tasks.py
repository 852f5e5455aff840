"""Run the pose2gloss pipeline: split -> augment -> transform -> {GISLR || ConvNeXtTiny} -> select -> HPO -> evaluate.

    python pipeline_from_tasks.py                       # the bundled sample, no server needed
    python pipeline_from_tasks.py --data-dir /data/asl-signs --full
    python pipeline_from_tasks.py --set train_gislr.epochs=30 --set data_splitting.seed=1

With no ClearML server configured, every step runs here through the ClearML SDK in offline
mode and each session is kept for ``clearml-task --import-offline-session``. With a server
(``clearml-init`` or CLEARML_API_* variables) the same steps go to ``--cpu-queue`` and
``--gpu-queue`` for agents, after a pre-flight of the queues and the repository
(``python -m pose2gloss.doctor`` runs it on its own). Exit code 0 only if every step ran and
succeeded; Ctrl-C or SIGTERM stops the steps and exits 130 or 143.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pose2gloss.orchestration import artifacts, console, tracking


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir",
        default="data/sample",
        help="local GISLR folder; only the default data/sample is generated when missing",
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
    parser.add_argument(
        "--time-limit-minutes",
        type=float,
        default=24 * 60,
        help="stop a server run (and fail it) after this long, e.g. when a step waits for an agent that died",
    )
    parser.add_argument("--offline", action="store_true", help="run offline even if a server is configured")
    parser.add_argument(
        "--set", action="append", default=[], metavar="STEP.PARAM=VALUE", help="override a step parameter"
    )
    parser.add_argument("--runs-dir", default="runs", help="where runs, offline sessions and logs are written")
    parser.add_argument(
        "--no-reuse", action="store_true", help="run the data steps even if an earlier run has their outputs"
    )
    parser.add_argument("--summary", default="", help="also write the run summary as JSON to this path")
    promotion = parser.add_mutually_exclusive_group()
    promotion.add_argument(
        "--promote",
        action="store_true",
        help="make this run production even if it is worse or was tested on other data than production",
    )
    promotion.add_argument(
        "--no-promote",
        action="store_true",
        help="decide and record whether this run would be promoted, but leave production alone (pull requests)",
    )
    parser.add_argument(
        "--tag", action="append", default=[], help="tag the pipeline run (repeatable), e.g. pr-12, sha-<commit>"
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
    args = parse_args(argv)  # before ClearML: decides offline or server, and where sessions go
    started = time.time()
    run_dir = Path(args.runs_dir) / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    if args.offline:
        os.environ["CLEARML_OFFLINE_MODE"] = "1"
    offline = tracking.configure_environment(cache_dir=run_dir / "clearml")
    console.install(run_dir / "logs" / "controller.log")  # chatter to the log file, progress to the terminal

    # Importing clearml patches argparse: parsed again, the arguments are recorded on the controller
    # task, and under an agent they are the task's (the ones given when it was enqueued).
    from clearml import Task

    args = parse_args(argv)
    remote = not Task.running_locally()

    from pose2gloss.orchestration import pipeline
    from pose2gloss.orchestration.datasets import local_data_root
    from pose2gloss.orchestration.reuse import StepCache, data_version

    pipeline_parameters: dict[str, str] = {}
    try:
        overrides = parse_sets(args.set)
        split = overrides.setdefault("data_splitting", {})
        if offline:
            if args.dataset_id:
                split.setdefault("dataset_id", args.dataset_id)
            else:  # only the sample is generated
                split["data_dir"] = str(local_data_root(split.get("data_dir", args.data_dir)))
            split.setdefault("data_version", data_version(split.get("data_dir", ""), split.get("dataset_id", "")))
        else:
            pipeline_parameters["dataset_id"] = _server_dataset(args, split, remote)
            # Step 1 reads the controller's parameter: a clone enqueued with another dataset id trains on it,
            # and ClearML's step cache (its key includes step 1's parameters) reuses data steps per dataset.
            split["dataset_id"] = "${pipeline.dataset_id}"
            split["data_version"] = "dataset:${pipeline.dataset_id}"
        if args.promote and not offline:  # with a server, step 7 applies the production tag
            overrides.setdefault("model_evaluation", {})["promote"] = True
        if args.no_promote and not offline:
            overrides.setdefault("model_evaluation", {})["apply_promotion"] = False
        steps = pipeline.build_steps(overrides, full=args.full)
    except (ValueError, FileNotFoundError, pipeline.PreflightError) as err:
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
        time_limit_minutes=args.time_limit_minutes,
        step_cache=StepCache(Path(args.runs_dir) / "step_cache.json"),
        reuse=not args.no_reuse,
        data_version=steps[0].parameters.get("data_version", ""),
        pipeline_parameters=pipeline_parameters,
        tags=args.tag,
    )
    if result is None:
        return 0
    summary = pipeline.summarise(result, run_dir, offline=offline, duration_s=time.time() - started)
    summary["tags"] = args.tag
    if summary["status"] == "completed":
        summary["tflite_path"] = _keep_bundle(summary, run_dir, force=args.promote, apply=not args.no_promote)
    print(pipeline.format_summary(summary))
    if "promotion" in summary:
        print(summary["promotion"]["summary"])
    if args.summary:
        Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary).write_text(json.dumps(summary, indent=2, default=str))
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if result.signum:
        return 128 + result.signum  # 130 after Ctrl-C, 143 after SIGTERM, as a shell reports them
    return 0 if summary["status"] == "completed" else 1


def _server_dataset(args: argparse.Namespace, split: dict[str, str], remote: bool) -> str:
    """The dataset version a server run trains on, registered only after the pre-flight passed.

    Agents cannot see this machine's folder, so a ``--data-dir`` is published as a dataset
    version first. On the agent that runs the controller, the id is the controller's own
    ``Args/dataset_id`` (the pipeline parameter it was enqueued or cloned with).
    """
    from pose2gloss.orchestration import pipeline, preflight
    from pose2gloss.orchestration.datasets import local_data_root, register_dataset

    if remote:
        if not args.dataset_id:
            raise ValueError("the pipeline controller runs on an agent without a dataset_id parameter")
        return args.dataset_id
    api = preflight.ClearmlServerApi()
    pipeline.preflight(args.cpu_queue, args.gpu_queue, args.controller_queue, api)  # before anything is registered
    if args.dataset_id or split.get("dataset_id"):
        return args.dataset_id or split["dataset_id"]
    return register_dataset(local_data_root(split.get("data_dir", args.data_dir)))


def _keep_bundle(summary: dict[str, Any], run_dir: Path, force: bool = False, apply: bool = True) -> str:
    """Put the bundle and test predictions in the run folder; promote the run if the check says so.

    Offline the check is applied to ``runs/production.json`` here; with a server step 7 applied it
    to the ``production`` tag. ``summary["promotion"]`` records the decision with its evidence.
    """
    from pose2gloss.bundle.files import MODEL_FILE
    from pose2gloss.evaluation.promotion import describe, promote_locally

    task_id = summary["evaluation_task_id"]
    bundle_dir = run_dir / "bundle"
    artifacts.unpack_folder_artifact(task_id, "bundle", bundle_dir)
    predictions = run_dir / "test_predictions.csv"
    artifacts.link_artifact(task_id, "test_predictions", predictions)
    if summary.get("offline") is False:  # with a server, step 7 decided and moved the production tag
        promotion = artifacts.artifact_json(task_id, "promotion")
        summary["promotion"] = {**promotion, "summary": f"bundle model {promotion['model_id']} {describe(promotion)}"}
    else:
        candidate = {**artifacts.artifact_json(task_id, "metrics"), "pipeline_id": summary["pipeline_id"]}
        decision = promote_locally(
            candidate, bundle_dir, run_dir.parent, test_predictions=predictions, force=force, apply=apply
        )
        record = {**decision.to_dict(), "applied": apply and decision.promote}
        summary["promotion"] = {**record, "summary": describe(record)}
    summary["promoted_to_production"] = summary["promotion"].get("applied", summary["promotion"]["promote"])
    return str((bundle_dir / MODEL_FILE).resolve())


if __name__ == "__main__":
    sys.exit(main())
