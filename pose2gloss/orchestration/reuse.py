"""Reuse of the data steps (split, augment, transform) when data, code and parameters are the same.

A data step's key hashes its module, its parameters (a reference to a parent step replaced by
the parent's key), the data version (a ClearML dataset id, or the folder's content fingerprint:
the index, the sign map and every file's size) and the package's source. ClearML's own step
caching ignores data changes, so with a server the data version is a parameter of step 1 and
``cache_executed_step`` does the rest; offline, :class:`StepCache` keeps key -> task in
``runs/step_cache.json`` and a run links the sessions it reuses into its own folder.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

DATA_STEPS = ("data_splitting", "data_augmentation", "data_transformation")
PACKAGE_DIR = Path(__file__).resolve().parents[1]
_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_]+)\.id\}")


class StepLike(Protocol):
    name: str
    module: str
    parameters: Mapping[str, Any]


def data_version(root: str | Path, dataset_id: str = "") -> str:
    """The version of a GISLR folder: its dataset id, or the content fingerprint its dataset version is tagged with."""
    if dataset_id:
        return f"dataset:{dataset_id}"
    from pose2gloss.orchestration.datasets import fingerprint

    return f"content-sha256:{fingerprint(root)}"


def code_version(package: Path = PACKAGE_DIR) -> str:
    """A hash of the package's Python source: changed code is never served from an old run."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def step_keys(steps: Sequence[StepLike], data: str, code: str) -> dict[str, str]:
    """The reuse key of every data step, in DAG order."""
    keys: dict[str, str] = {}
    for step in steps:
        if step.name not in DATA_STEPS:
            continue
        params = {k: _REFERENCE.sub(lambda m: f"key:{keys[m.group(1)]}", str(v)) for k, v in step.parameters.items()}
        payload = {"module": step.module, "params": params, "data": data, "code": code}
        keys[step.name] = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return keys


@dataclass(frozen=True)
class StepCache:
    """Offline: which finished task holds the outputs of a data-step key, and in which sessions folder."""

    path: Path

    def _entries(self) -> dict[str, dict[str, str]]:
        return json.loads(self.path.read_text()) if self.path.is_file() else {}

    def lookup(self, keys: Mapping[str, str]) -> dict[str, dict[str, str]]:
        """Reusable steps: the longest prefix of the data steps whose tasks are still on disk."""
        entries, found = self._entries(), {}
        for name in DATA_STEPS:
            entry = entries.get(keys.get(name, ""))
            if entry is None or not (Path(entry["sessions_dir"]) / entry["task_id"] / "task.json").is_file():
                break
            found[name] = entry
        return found

    def record(self, keys: Mapping[str, str], task_ids: Mapping[str, str], sessions_dir: Path) -> None:
        entries = self._entries()
        for name, task_id in task_ids.items():
            if name in keys:
                entries[keys[name]] = {"step": name, "task_id": task_id, "sessions_dir": str(sessions_dir.resolve())}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(entries, indent=2, sort_keys=True))
        temporary.replace(self.path)


def link_sessions(reused: Mapping[str, Mapping[str, str]], sessions_dir: Path) -> None:
    """Make reused tasks readable from this run's sessions folder (a link, not a copy)."""
    sessions_dir.mkdir(parents=True, exist_ok=True)
    for entry in reused.values():
        source = Path(entry["sessions_dir"]) / entry["task_id"]
        target = sessions_dir / entry["task_id"]
        if source.resolve() != target.resolve() and not target.exists():
            target.symlink_to(source.resolve(), target_is_directory=True)


def substitute(parameters: Mapping[str, Any], task_ids: Mapping[str, str]) -> dict[str, Any]:
    """Replace ``${step.id}`` references to reused steps by their task ids."""
    return {
        k: _REFERENCE.sub(lambda m: task_ids.get(m.group(1), m.group(0)), v) if isinstance(v, str) else v
        for k, v in parameters.items()
    }
