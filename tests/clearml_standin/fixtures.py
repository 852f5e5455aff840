"""Pytest fixtures and helpers: a running stand-in (server, files server, agents) and a ``file://`` git origin.

Use in a test module or conftest.py::

    pytest_plugins = ["tests.clearml_standin.fixtures"]

    @pytest.mark.slow
    def test_x(clearml_standin):
        subprocess.run([...], env=clearml_standin.subprocess_env(), check=True)

The session fixture ``clearml_standin`` starts agents on the queues cpu, gpu and services.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QUEUES = ("cpu", "gpu", "services")


@dataclass
class StandIn:
    """A running stand-in: its run folder, the CLEARML_* settings for clients, and its process."""

    dir: Path
    env: dict[str, str]
    process: subprocess.Popen

    def subprocess_env(self, **extra: str) -> dict[str, str]:
        """This process's environment without ClearML settings (no offline mode), pointed at the stand-in."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML_", "TRAINS_"))}
        return {**base, **self.env, **extra}

    def log(self) -> str:
        """The stand-in's log and each agent's log (the agents' last lines)."""
        parts = [_read(self.dir / "standin.out")]
        for agent_log in sorted((self.dir / "agents").glob("*.log")):
            parts.append(f"--- {agent_log.name} ---\n" + _read(agent_log)[-6000:])
        return "\n".join(parts)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the stand-in (it stops its agents) and wait; SIGKILL its group after ``timeout``."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(5)
        return self.process.returncode


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def start_standin(run_dir: Path, queues: tuple[str, ...] = QUEUES, timeout: float = 120.0, *extra_args: str) -> StandIn:
    """Start ``python -m tests.clearml_standin`` in ``run_dir`` and wait for ``ready`` (fails with its log)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML_", "TRAINS_"))}
    cmd = [sys.executable, "-m", "tests.clearml_standin", "--dir", str(run_dir), "--queues", ",".join(queues)]
    cmd += extra_args
    with open(run_dir / "standin.out", "ab") as out:
        process = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )
    standin = StandIn(dir=run_dir, env={}, process=process)
    deadline = time.monotonic() + timeout
    while not (run_dir / "ready").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            standin.stop()
            code = process.returncode
            pytest.fail(f"ClearML stand-in not ready after {timeout:.0f}s (exit {code}):\n{standin.log()}")
        time.sleep(0.2)
    lines = (run_dir / "clearml.env").read_text().splitlines()
    standin.env = dict(line.split("=", 1) for line in lines if "=" in line)
    standin.env["CLEARML_CONFIG_FILE"] = str(run_dir / "clearml.conf")
    return standin


def make_git_origin(dest: Path, repo: Path = REPO, ref: str = "HEAD", branch: str = "main") -> tuple[Path, Path]:
    """A bare ``file://`` origin holding ``ref`` of ``repo`` as ``branch``, and a working clone of it.

    Only committed content travels (uncommitted changes are not in ``ref``). Run task scripts from the
    returned working clone: ClearML records its origin URL and commit, which the agents then clone.
    """
    origin, work = dest / "origin.git", dest / "work"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run(["git", "-C", str(repo), "push", "-q", str(origin), f"{ref}:refs/heads/{branch}"], check=True)
    subprocess.run(["git", "-C", str(origin), "symbolic-ref", "HEAD", f"refs/heads/{branch}"], check=True)
    subprocess.run(["git", "clone", "-q", origin.as_uri(), str(work)], check=True)
    return origin, work


_shared: list[StandIn] = []  # one stand-in per session, even if the fixture is imported in several places
_users = [0]


@pytest.fixture(scope="session")
def clearml_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """A stand-in ClearML server with agents on the queues cpu, gpu and services, for the whole session."""
    if not shutil.which("git"):
        pytest.skip("git is needed by the agents")
    if not _shared:
        _shared.append(start_standin(tmp_path_factory.mktemp("clearml-standin")))
    _users[0] += 1
    try:
        yield _shared[0]
    finally:
        _users[0] -= 1
        if not _users[0]:
            standin = _shared.pop()
            code = standin.stop()
            assert code == 0, f"ClearML stand-in exited {code}:\n{standin.log()}"
