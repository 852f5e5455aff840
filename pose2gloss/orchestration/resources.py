"""What a step cost: its peak memory and the bytes it left on disk.

Offline, a step's outputs are its session folder, the session zip and its artifact folder in
the run (see :func:`pose2gloss.orchestration.tracking.start_step`); model files (weights, exported models)
are counted apart from the data.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

MODEL_SUFFIXES = (".h5", ".tflite")
MODEL_ARTIFACTS = ("bundle",)


@dataclass(frozen=True)
class Stored:
    data_bytes: int = 0
    model_bytes: int = 0

    def __add__(self, other: Stored) -> Stored:
        return Stored(self.data_bytes + other.data_bytes, self.model_bytes + other.model_bytes)


def stored_offline(task_id: str, sessions_dir: Path) -> Stored:
    """Bytes that an offline task keeps: its session, the session's zip and its artifacts."""
    store = sessions_dir.parent / "artifacts"
    paths = [sessions_dir / task_id, sessions_dir / f"{task_id}.zip", *store.glob(f"*/*.{task_id}")]
    total = Stored()
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
        for file in files:
            size = file.stat().st_size
            total += Stored(0, size) if is_model_file(file) else Stored(size)
    return total


def is_model_file(path: Path) -> bool:
    """Weights, exported models and the exported bundle (an archive of them)."""
    return path.suffix in MODEL_SUFFIXES or any(f"/artifacts/{a}/" in path.as_posix() for a in MODEL_ARTIFACTS)


def peak_rss_bytes() -> int:
    """The largest resident set of this process and of its finished children (Linux: KiB units)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * 1024


def wait_with_usage(pid: int) -> tuple[int, int] | None:
    """Reap child ``pid`` if it ended: ``(exit code, peak RSS bytes of it and its descendants)``."""
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024
