"""Continuous training: re-run the production pipeline when a dataset version is tagged (e.g. ``stable``).

    python cicd/trigger.py --tag stable --queue services            # register and run the trigger here
    python cicd/trigger.py --tag stable --queue services --remote   # ... as a service on the 'services' agent
    python cicd/trigger.py --dry-run                                # show what would be registered

A ClearML ``TriggerScheduler`` watches the dataset project (``pose2gloss/gislr`` versions). When
a version gets the tag, it clones the pipeline tagged ``production`` and enqueues the clone with
the new version's id as the pipeline's dataset parameter (``${dataset.id}``, which ClearML
substitutes). The production pipeline must carry that parameter, or the clone would train on the
old data: this is checked before the trigger is registered. Needs a ClearML server; without one,
``--dry-run`` shows the plan.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # `python cicd/trigger.py`: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
from typing import Any

from cicd.runs import PRODUCTION_TAG, ServerRuns
from pose2gloss.orchestration import tracking
from pose2gloss.orchestration.datasets import DATASET_NAME, DATASET_PROJECT

DATASET_PARAMETER = "Args/dataset_id"  # pipeline_from_tasks.py --dataset-id, as the controller task records it


def trigger_arguments(
    pipeline_id: str, *, tag: str, queue: str, parameter: str = DATASET_PARAMETER, project: str = DATASET_PROJECT
) -> dict[str, Any]:
    """The keyword arguments of ``TriggerScheduler.add_dataset_trigger`` for re-running ``pipeline_id``."""
    return {
        "name": f"retrain-on-{tag}-dataset",
        "schedule_task_id": pipeline_id,
        "schedule_queue": queue,
        "trigger_project": project,
        "trigger_name": f"^{DATASET_NAME}$",
        "trigger_on_tags": [tag],
        "task_parameters": {parameter: "${dataset.id}"},
        "add_tag": f"retrained-on-{tag}",
        "single_instance": True,
    }


def check_parameter(pipeline: Any, parameter: str) -> None:
    """Refuse a pipeline that would ignore the dataset id (it must have recorded the parameter)."""
    parameters = pipeline.get_parameters() or {}
    if parameter not in parameters:
        known = ", ".join(sorted(parameters)) or "none"
        raise SystemExit(
            f"production pipeline {pipeline.id} has no parameter '{parameter}' (it has: {known}); a re-run "
            "could not be given the new dataset. Run the production pipeline with --dataset-id, or pass --parameter."
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default="stable", help="dataset version tag that triggers a re-run")
    parser.add_argument("--queue", default="services", help="queue the re-run pipeline controller is enqueued on")
    parser.add_argument("--pipeline-id", default="", help="pipeline to re-run (default: the one tagged production)")
    parser.add_argument("--parameter", default=DATASET_PARAMETER, help="the pipeline's dataset-id parameter")
    parser.add_argument("--poll-minutes", type=float, default=3.0, help="how often the scheduler looks")
    parser.add_argument("--remote", action="store_true", help="run the scheduler as a service on --queue")
    parser.add_argument("--dry-run", action="store_true", help="print what would be registered and stop")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = tracking.server_configured()
    pipeline_id = args.pipeline_id
    if server and not pipeline_id:
        production = ServerRuns().production()
        if production is None:
            raise SystemExit(f"no pipeline tagged '{PRODUCTION_TAG}' yet; run CI's production tagging first")
        check_parameter(production.extra["task"], args.parameter)
        pipeline_id = production.pipeline_id
    arguments = trigger_arguments(
        pipeline_id or "<pipeline tagged production>", tag=args.tag, queue=args.queue, parameter=args.parameter
    )
    print(f"dataset trigger: {arguments}")
    if args.dry_run or not server:
        if not server:
            print("no ClearML server configured: nothing registered (a TriggerScheduler needs a server)")
        return 0
    from clearml.automation import TriggerScheduler

    scheduler = TriggerScheduler(pooling_frequency_minutes=args.poll_minutes)
    scheduler.add_dataset_trigger(**arguments)
    if args.remote:
        scheduler.start_remotely(queue=args.queue)
    else:
        scheduler.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
