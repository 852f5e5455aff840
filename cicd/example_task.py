"""A tiny ClearML task that reports iterations: proof that an agent can run this repository's code.

CI launches it on the agent queue with ``clearml-task`` and watches it with
``check_remotely_runnable.py``. It imports the project's package, so a failure to install or
import the repository on the agent (a common remote-execution fault) shows up here, in seconds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __name__ == "__main__":  # `python cicd/example_task.py`: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from clearml import Task

from pose2gloss.orchestration import tracking
from pose2gloss.preprocessing.landmarks import N_LANDMARKS


def main() -> None:
    tracking.configure_environment()
    task = Task.init(project_name=tracking.PROJECT, task_name="remote-runnable-check", task_type=Task.TaskTypes.qc)
    params = task.connect({"iterations": 5, "seconds_per_iteration": 1.0})
    logger = task.get_logger()
    for iteration in range(1, int(params["iterations"]) + 1):
        logger.report_scalar("remote check", "landmarks per frame", value=N_LANDMARKS, iteration=iteration)
        print(f"iteration {iteration}/{params['iterations']}", flush=True)
        time.sleep(float(params["seconds_per_iteration"]))
    task.close()


if __name__ == "__main__":
    main()
