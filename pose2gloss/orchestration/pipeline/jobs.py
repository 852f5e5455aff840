"""How a node's task is executed: a local subprocess without a server, a cloned task on an agent with one."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clearml import Task
from clearml.automation.job import ClearmlJob, LocalClearmlJob

from pose2gloss.orchestration import artifacts, tracking
from pose2gloss.orchestration.console import is_chatter
from pose2gloss.orchestration.resources import wait_with_usage

# Seconds a step gets to close its ClearML session after SIGTERM before it is killed.
ABORT_GRACE_S = 5.0

_RUNNING: set[OfflineStepJob] = set()


class OfflineStepJob(LocalClearmlJob):
    """A ``LocalClearmlJob`` whose status comes from its subprocess, for runs without a server.

    Offline, the base task itself runs (nothing can be cloned), so a task id names its node.
    Each step runs in its own process group, so an aborted run stops it and everything it
    started (e.g. HPO trials) at once.
    """

    log_dir: Path = Path("logs")
    node_names: Mapping[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exit_code: int | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.aborted = False
        self.peak_rss_bytes: int | None = None  # of the step process and its children
        self.node_name = self.node_names.get(self.task.id, self.task.name)
        self.log_path = self.log_dir / f"{self.node_name}.log"
        self._pump: threading.Thread | None = None
        self._output_closed_at: float | None = None
        # The controller's polling thread and an abort (pipe.stop) both ask for the status: one reaps.
        self._status_lock = threading.RLock()

    def launch(self, queue_name: str | None = None) -> bool:
        env = tracking.child_environment(self.task.id)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.started_at = time.time()
        self._job_process = subprocess.Popen(
            [sys.executable, *shlex.split(self.task.data.script.entry_point)],  # "-m pose2gloss.stepN_..."
            cwd=tracking.REPO_ROOT / (self.task.data.script.working_dir or "."),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        _RUNNING.add(self)
        console_line(f"[{self.node_name}] started (task {self.task.id}, log {self.log_path})")
        self._pump = threading.Thread(target=self._tee, daemon=True)
        self._pump.start()
        return True

    def _tee(self) -> None:
        """Copy the step's whole output to its log file; its own lines, prefixed, to the console."""
        assert self._job_process is not None and self._job_process.stdout is not None
        with self.log_path.open("w") as log:
            for line in self._job_process.stdout:
                log.write(line)
                log.flush()
                if not is_chatter(line):
                    console_line(f"[{self.node_name}] {line.rstrip()}")
        self._output_closed_at = time.time()  # the step has exited: its duration ends here, not at the next poll

    def terminate(self) -> None:
        """Stop the step's process group: SIGTERM (the step closes its session), then SIGKILL."""
        process = self._job_process
        if process is None or process.poll() is not None:
            return
        self.aborted = True
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=ABORT_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass

    def status(self, force: bool = False) -> str:
        with self._status_lock:
            process = self._job_process
            if process is not None:
                try:
                    ended = wait_with_usage(process.pid)
                except ChildProcessError:  # reaped by terminate(): no resource usage to read
                    ended = (process.wait(), None)
                if ended is None:
                    return Task.TaskStatusEnum.in_progress
                code, self.peak_rss_bytes = ended
                process.returncode = code
                if self._pump:
                    self._pump.join(timeout=10)
                self.ended_at = self._output_closed_at or time.time()  # None if the pump timed out
                self.exit_code, self._job_process = code, None
                _RUNNING.discard(self)
                outcome = "completed" if code == 0 else ("aborted" if self.aborted else f"FAILED (exit code {code})")
                console_line(f"[{self.node_name}] {outcome} in {self.elapsed():.1f}s")
            if self.exit_code is None:
                return Task.TaskStatusEnum.queued
            return Task.TaskStatusEnum.completed if self.exit_code == 0 else Task.TaskStatusEnum.failed

    def status_message(self) -> str:
        return f"exit code {self.exit_code}" if self.exit_code is not None else ""

    def elapsed(self) -> float:
        if self.started_at is None:
            return -1
        return (self.ended_at or time.time()) - self.started_at


def terminate_running_steps() -> list[str]:
    """Stop every running offline step (in parallel); returns their node names."""
    jobs = list(_RUNNING)
    threads = [threading.Thread(target=job.terminate) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [job.node_name for job in jobs]


_console_lock = threading.Lock()


def console_line(line: str) -> None:
    with _console_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


NONRESPONSIVE = "forced stop (non-responsive)"


class ServerStepJob(ClearmlJob):
    """A step on an agent. A task the server force-stopped as non-responsive (its agent died, e.g. a
    Colab runtime that was recycled) has failed: ClearML's controller would wait for it forever.

    The status message is read fresh from the server: the controller's batched status polls
    update the status alone, and the cached message would still be the one from before.
    """

    def is_stopped(self, aborted_nonresponsive_as_running: bool = False) -> bool:
        return super().is_stopped(aborted_nonresponsive_as_running=False)

    def is_failed(self) -> bool:
        return super().is_failed() or self.is_nonresponsive()

    def is_aborted(self) -> bool:
        return super().is_aborted() and not self.is_nonresponsive()

    def is_nonresponsive(self) -> bool:
        if self.status() != Task.TaskStatusEnum.stopped:
            return False
        _status, message = self.task.get_status_message()
        return str(message).strip().lower() == NONRESPONSIVE

    def failure(self, tail_lines: int = 15) -> str:
        """Why the step's task failed, as the server recorded it, with the end of its console log."""
        status, message = self.task.get_status_message()
        if self.is_nonresponsive():
            return f"its agent stopped responding: the server force-stopped task {self.task.id} ({message})"
        reason = self.task.data.status_reason if self.task.data else ""
        said = f"task {self.task.id} {status}: {message or reason or 'no message'}"
        lines = artifacts.console_tail(self.task, tail_lines)
        return said + ("\n" + "\n".join(lines) if lines else "")

    def duration(self) -> float | None:
        """Seconds the step's task ran, from the server's start and end times."""
        self.task.reload()
        started, ended = self.task.data.started, self.task.data.completed or self.task.data.last_update
        return (ended - started).total_seconds() if started and ended else None


def offline_job_class(log_dir: Path, node_names: Mapping[str, str]) -> type[OfflineStepJob]:
    """An :class:`OfflineStepJob` bound to this run's log folder and task-id -> node-name map."""
    return type("RunOfflineStepJob", (OfflineStepJob,), {"log_dir": log_dir, "node_names": dict(node_names)})
