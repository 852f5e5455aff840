"""The server's non-responsive task watchdog: a running task that stops updating is force-stopped.

clearml-server (``bll/task/non_responsive_tasks_watchdog.py``) stops every ``in_progress`` task whose
``last_update`` is older than ``threshold_sec`` (7200 by default), with status reason and message
"Forced stop (non-responsive)". That is what a dead agent (e.g. a recycled Colab runtime) leaves behind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .store import Store, now

NONRESPONSIVE = "Forced stop (non-responsive)"
DEFAULT_THRESHOLD_S = 7200.0


def stop_nonresponsive(store: Store, threshold_s: float) -> list[str]:
    """Force-stop the running tasks not updated for ``threshold_s`` seconds; returns their ids."""
    cutoff = datetime.now(UTC) - timedelta(seconds=threshold_s)
    stopped = []
    with store.lock:
        for task in store.tasks.values():
            if task.get("status") != "in_progress" or datetime.fromisoformat(task["last_update"]) >= cutoff:
                continue
            stamp = now()
            task.update(
                status="stopped",
                status_reason=NONRESPONSIVE,
                status_message=NONRESPONSIVE,
                status_changed=stamp,
                last_update=stamp,
            )
            stopped.append(task["id"])
    return stopped
