"""Is this repository's code runnable on a ClearML agent? Watch a launched task until it reports iterations.

    clearml-task --project pose2gloss --name remote-runnable-check --script cicd/example_task.py \\
        --queue cpu --repo ... --commit "$SHA" | tee clearml-task.log
    python cicd/check_remotely_runnable.py --from-output clearml-task.log    # or: ... TASK_ID
    python cicd/check_remotely_runnable.py --offline                        # no server: run the task here

Exit codes: 0 the task reported iterations (success; it is then stopped); 1 it failed, was
stopped, or finished without iterations; 2 timeout (e.g. no agent listens on the queue);
3 no task id (``clearml-task`` did not create and enqueue one: its own error is shown).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # `python cicd/check_remotely_runnable.py`: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

SUCCESS, FAILED, TIMEOUT, NO_TASK = 0, 1, 2, 3
FAILED_STATUSES = ("failed", "stopped", "closed")
FINISHED_STATUSES = ("completed", "published")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# What `clearml-task` prints (clearml/cli/task/__main__.py): "New task created id=<id>", then, with
# --queue, "Task id=<id> sent for execution on queue <queue>"; on any exception "Error: <message>".
CREATED = re.compile(r"^New (?:task|pipeline) created id=([0-9A-Za-z_-]+)\s*$", re.MULTILINE)
SENT = re.compile(r"^(?:Task|Pipeline) id=([0-9A-Za-z_-]+) sent for execution on queue (.+?)\s*$", re.MULTILINE)
ERROR = re.compile(r"^Error: (.+)$", re.MULTILINE)


class LaunchError(ValueError):
    """``clearml-task`` output without one created and enqueued task."""


def parse_task_id(output: str) -> str:
    """The id of the task that ``clearml-task`` created and enqueued, from its console output."""
    text = ANSI.sub("", output).replace("\r\n", "\n")
    errors = ERROR.findall(text)
    if errors:
        raise LaunchError(f"clearml-task failed: {errors[-1].strip()}")
    if "User aborted" in text:
        raise LaunchError("clearml-task was interrupted before it enqueued a task")
    created = set(CREATED.findall(text))
    if not created:
        raise LaunchError("no 'New task created id=...' line in the clearml-task output")
    if len(created) > 1:
        raise LaunchError(f"several tasks created: {sorted(created)}; launch one at a time")
    (task_id,) = created
    sent = SENT.findall(text)
    if not sent:
        raise LaunchError(f"task {task_id} was created but not enqueued (clearml-task needs --queue)")
    if {s[0] for s in sent} != {task_id}:
        raise LaunchError(f"created task {task_id} but enqueued {sorted({s[0] for s in sent})}")
    return task_id


class TaskProbe(Protocol):
    """What the watcher asks about a task: its status, its last reported iteration, why it ended."""

    def status(self) -> str: ...
    def last_iteration(self) -> int: ...
    def message(self) -> str: ...
    def stop(self) -> None: ...
    def cancel(self, reason: str) -> None: ...


@dataclass(frozen=True)
class Outcome:
    code: int
    message: str


def watch(
    probe: TaskProbe,
    timeout_s: float,
    interval_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> Outcome:
    """Poll until the task reports an iteration (success), ends without one (failure) or time runs out."""
    start = clock()
    seen = None
    while True:
        status, iteration = probe.status(), probe.last_iteration()
        if (status, iteration) != seen:
            log(f"[{clock() - start:5.0f}s] status {status}, last iteration {iteration}")
            seen = (status, iteration)
        if iteration > 0:
            probe.stop()
            return Outcome(SUCCESS, f"the task reported iteration {iteration} while {status}: runnable remotely")
        if status in FAILED_STATUSES:
            return Outcome(
                FAILED, f"the task {status} before reporting an iteration: {probe.message() or 'no message'}"
            )
        if status in FINISHED_STATUSES:
            return Outcome(FAILED, f"the task {status} without reporting any iteration")
        if clock() - start >= timeout_s:
            hint = " (is an agent listening on its queue?)" if status == "queued" else ""
            said = f"no iteration within {timeout_s:.0f}s; the task was still {status}{hint}"
            probe.cancel(said)  # never leave it on the queue for an agent to pick up later
            return Outcome(TIMEOUT, f"{said}; it is cancelled")
        sleep(interval_s)


class ServerProbe:
    """A task on the ClearML server."""

    def __init__(self, task_id: str) -> None:
        from clearml import Task

        self.task = Task.get_task(task_id=task_id)
        self._message = ""

    def status(self) -> str:
        status, message = self.task.get_status_message()
        self._message = message or ""
        return str(status)

    def last_iteration(self) -> int:
        return int(self.task.get_last_iteration() or 0)

    def message(self) -> str:
        return self._message

    def stop(self) -> None:
        self.task.mark_stopped(force=True, status_message="remote-runnable check passed")

    def cancel(self, reason: str) -> None:
        """Take a queued task off its queue, or stop a running one."""
        from clearml import Task

        if str(self.task.get_status()) == "queued":
            Task.dequeue(self.task)
        self.task.mark_stopped(force=True, status_message=f"remote-runnable check timed out: {reason}")


class OfflineProbe:
    """The example task run here as a subprocess in offline mode, standing in for an agent.

    Its status comes from the process; its iterations from the scalars its offline session records.
    """

    def __init__(self, cache_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        from pose2gloss.orchestration import tracking

        self.cache_dir = cache_dir
        env = {**tracking.child_environment(), "CLEARML_OFFLINE_MODE": "1", "CLEARML_CACHE_DIR": str(cache_dir)}
        env.setdefault("CLEARML_CONFIG_FILE", str(tracking.LOCAL_CONFIG))
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("example_task.py"))],
            env={**env, **(extra_env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def status(self) -> str:
        code = self.process.poll()
        return "in_progress" if code is None else "completed" if code == 0 else "failed"

    def last_iteration(self) -> int:
        last = 0
        for metrics in (self.cache_dir / "offline").glob("*/metrics.jsonl"):
            for line in metrics.read_text().splitlines():
                events = json.loads(line) if line.strip() else []
                for event in events if isinstance(events, list) else [events]:
                    if event.get("type") == "training_stats_scalar":
                        last = max(last, int(event.get("iter", 0)))
        return last

    def message(self) -> str:
        if self.process.poll() is None or self.process.stdout is None:
            return ""
        return f"exit code {self.process.returncode}: " + self.process.stdout.read()[-800:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=30)

    def cancel(self, reason: str) -> None:
        self.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task_id", nargs="?", default="", help="the task to watch")
    parser.add_argument("--from-output", default="", help="a file with clearml-task's output ('-': stdin)")
    parser.add_argument("--offline", action="store_true", help="no server: run cicd/example_task.py here")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the first iteration")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between polls")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.offline:
        with tempfile.TemporaryDirectory(prefix="remote-check-") as tmp:
            outcome = watch(OfflineProbe(Path(tmp)), args.timeout, min(args.interval, 1.0))
    else:
        task_id = args.task_id
        if args.from_output:
            text = sys.stdin.read() if args.from_output == "-" else Path(args.from_output).read_text()
            try:
                task_id = parse_task_id(text)
            except LaunchError as err:
                print(f"remote-runnable check: {err}", file=sys.stderr)
                return NO_TASK
        if not task_id:
            print("remote-runnable check: give a TASK_ID, --from-output or --offline", file=sys.stderr)
            return NO_TASK
        print(f"watching task {task_id} for up to {args.timeout:.0f}s", flush=True)
        outcome = watch(ServerProbe(task_id), args.timeout, args.interval)
    print(f"remote-runnable check: {outcome.message}", file=sys.stderr if outcome.code else sys.stdout)
    return outcome.code


if __name__ == "__main__":
    sys.exit(main())
