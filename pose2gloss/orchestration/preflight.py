"""The pre-flight checks of a ClearML server run, shared by ``python -m pose2gloss.doctor`` and the pipeline.

Each check returns what is missing as sentences a user can act on; an empty list is a pass.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pose2gloss.orchestration import tracking

# ClearML stores ``git diff HEAD`` with the task, and replaces a larger one with a comment.
MAX_DIFF_BYTES = 500_000
PACKAGE_DIRS = ("pose2gloss", "serving", "cicd")


def agent_command(queue: str, *, gpu_queue: str = "gpu", controller_queue: str = "") -> str:
    """The command that starts an agent serving ``queue``."""
    if queue == controller_queue:
        return f"clearml-agent daemon --services-mode --queue {queue}"
    if queue == gpu_queue:
        return f"clearml-agent daemon --queue {queue} --foreground   (in a Colab GPU runtime, see the README)"
    return f"clearml-agent daemon --queue {queue}"


class ServerApi(Protocol):
    """What the pre-flight asks a ClearML server."""

    def queue_names(self) -> set[str]: ...

    def workers_by_queue(self) -> Mapping[str, list[str]]: ...


@dataclass
class ClearmlServerApi:
    """:class:`ServerApi` over ClearML's REST client."""

    def _client(self):
        from clearml.backend_api.session.client import APIClient

        return APIClient()

    def queue_names(self) -> set[str]:
        return {q.name for q in self._client().queues.get_all(only_fields=["id", "name"])}

    def workers_by_queue(self) -> dict[str, list[str]]:
        client = self._client()
        names = {q.id: q.name for q in client.queues.get_all(only_fields=["id", "name"])}
        serving: dict[str, list[str]] = {}
        for worker in client.workers.get_all():
            for entry in worker.queues or []:
                name = getattr(entry, "name", None) or names.get(entry.id, entry.id)
                serving.setdefault(name, []).append(worker.id)
        return serving


def check_queues(api: ServerApi, *, cpu_queue: str, gpu_queue: str, controller_queue: str = "") -> list[str]:
    """Problems with the queues a run needs: missing, without a worker, or CPU and GPU on one agent only."""
    needed = [q for q in dict.fromkeys([cpu_queue, gpu_queue, controller_queue]) if q]
    existing = api.queue_names()
    workers = api.workers_by_queue()
    problems = []
    for queue in needed:
        command = agent_command(queue, gpu_queue=gpu_queue, controller_queue=controller_queue)
        if queue not in existing:
            problems.append(f"queue '{queue}' does not exist on the server; start an agent for it: {command}")
        elif not workers.get(queue):
            problems.append(f"queue '{queue}' has no worker; start one: {command}")
    if cpu_queue == gpu_queue:
        problems.append(
            f"the CPU and GPU queues are both '{cpu_queue}': step 6 would wait for its own trials on one agent; "
            "use separate queues served by separate agents"
        )
    else:
        gpu_only = set(workers.get(gpu_queue, [])) - set(workers.get(cpu_queue, []))
        if workers.get(gpu_queue) and not gpu_only:
            problems.append(
                f"every worker of '{gpu_queue}' also serves '{cpu_queue}': step 6 (on '{cpu_queue}') would wait "
                f"for its trials on the same agent; start a separate agent: "
                + agent_command(gpu_queue, gpu_queue=gpu_queue)
            )
    return problems


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {root}: {done.stderr.strip()}")
    return done.stdout


def check_repository(root: Path = tracking.REPO_ROOT, package_dirs: Iterable[str] = PACKAGE_DIRS) -> list[str]:
    """Problems that would leave an agent without this code: agents check out the commit, plus ClearML's diff."""
    try:
        _git(root, "rev-parse", "--is-inside-work-tree")
    except (RuntimeError, FileNotFoundError):
        return [f"{root} is not a git repository: agents check the code out from one"]
    problems = []
    if not _git(root, "remote").split():
        problems.append("the repository has no remote: push it somewhere agents can clone (git remote add ...)")
    else:
        head = _git(root, "rev-parse", "--short", "HEAD").strip()
        if not _git(root, "branch", "-r", "--contains", "HEAD").strip():
            problems.append(f"commit {head} is on no remote branch: git push it, agents check out the commit")
    untracked = [
        line
        for line in _git(root, "ls-files", "--others", "--exclude-standard", "--", *package_dirs).splitlines()
        if line.endswith(".py")
    ]
    if untracked:
        problems.append(f"untracked modules would be missing on the agent (git add and commit them): {untracked}")
    diff_bytes = len(_git(root, "diff", "HEAD").encode())
    if diff_bytes > MAX_DIFF_BYTES:
        problems.append(
            f"uncommitted changes are {diff_bytes // 1000} kB; ClearML stores at most {MAX_DIFF_BYTES // 1000} kB "
            "of diff with a task: commit and push them"
        )
    return problems


def check_credentials() -> list[str]:
    if not tracking.server_configured():
        return ["no ClearML server configured: run clearml-init or set CLEARML_API_HOST, CLEARML_API_ACCESS_KEY, "
                "CLEARML_API_SECRET_KEY"]  # fmt: skip
    return []


def check_files_server() -> list[str]:
    """The files server (``output_uri``) must answer, or artifacts and models cannot be uploaded."""
    import urllib.request

    from clearml.backend_api.session import Session

    host = Session.get_files_server_host()
    try:
        urllib.request.urlopen(host, timeout=10)  # noqa: S310 - the configured ClearML files server
    except Exception as err:  # any answer proves reachability; HTTP errors have a code
        if not getattr(err, "code", None):
            return [f"files server {host} is not reachable: {err}"]
    return []
