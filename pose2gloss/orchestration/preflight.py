"""The pre-flight checks of a ClearML server run, shared by ``python -m pose2gloss.doctor`` and the pipeline.

Each check returns what is missing as sentences a user can act on; an empty list is a pass.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

from pose2gloss.orchestration import tracking

# ClearML stores ``git diff HEAD`` with the task, and replaces a larger one with a comment.
MAX_DIFF_BYTES = 500_000
PACKAGE_DIRS = ("pose2gloss", "serving", "cicd")
# clearml-agent rewrites an SSH origin to https, and authenticates a clone, only with both of these
# (or agent.git_user / agent.git_pass in its clearml.conf): clearml_agent/helper/repo.py, VCS._set_ssh_url.
AGENT_GIT_VARIABLES = ("CLEARML_AGENT_GIT_USER", "CLEARML_AGENT_GIT_PASS")
TOKEN_ADVICE = (
    "give the agents credentials: set CLEARML_AGENT_GIT_USER (your user name) and CLEARML_AGENT_GIT_PASS "
    "(a fine-grained personal access token with read-only Contents access to this repository) where every agent "
    "runs, e.g. in the Colab cell, and here for this check"
)
_SCP_LIKE = re.compile(r"^[\w.-]+@(?P<host>[^:/]+):(?P<path>.+)$")
Visibility = Literal["public", "private", "unknown"]


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
        problems += check_agent_clone(origin_url(root))
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


def origin_url(root: Path) -> str:
    """The URL a task records for its code: ``git ls-remote --get-url``, as ClearML's GitDetector asks it."""
    return _git(root, "ls-remote", "--get-url").strip()


def github_repository(url: str) -> str | None:
    """``owner/name`` of a github.com URL (https, ssh:// or scp-like ``git@github.com:owner/name``), else None."""
    scp = _SCP_LIKE.match(url)
    host, path = (scp["host"], scp["path"]) if scp else (urlsplit(url).hostname or "", urlsplit(url).path)
    if host.lower() != "github.com":
        return None
    parts = path.strip("/").removesuffix(".git").split("/")
    return "/".join(parts[:2]) if len(parts) >= 2 and all(parts[:2]) else None


def github_visibility(repository: str, timeout: float = 10) -> Visibility:
    """Whether anyone can clone ``owner/name``: GitHub answers an anonymous ``GET /repos`` only for public ones."""
    request = urllib.request.Request(
        f"https://api.github.com/repos/{repository}", headers={"Accept": "application/vnd.github+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - GitHub's API
            return "private" if json.load(answer).get("private", True) else "public"
    except urllib.error.HTTPError as err:
        return "private" if err.code == 404 else "unknown"  # 404: private or gone; 403/429: rate-limited
    except (OSError, ValueError):
        return "unknown"


def agents_have_git_credentials(environ: Mapping[str, str] = os.environ) -> bool:
    """Both of clearml-agent's git variables are set here, or in the ClearML configuration agents read."""
    if all(environ.get(name) for name in AGENT_GIT_VARIABLES):
        return True
    from clearml.config import config_obj

    return bool(config_obj.get("agent.git_user", None) and config_obj.get("agent.git_pass", None))


def check_agent_clone(
    url: str,
    *,
    has_credentials: Callable[[], bool] = agents_have_git_credentials,
    visibility: Callable[[str], Visibility] = github_visibility,
) -> list[str]:
    """An agent on a fresh runtime (Colab: no SSH key) can clone ``url``, the origin a task records.

    An SSH origin needs credentials (the agent then clones it over https); so does a private
    GitHub repository, and one whose visibility cannot be told is treated as private.
    """
    scheme = urlsplit(url).scheme
    ssh = scheme in ("ssh", "git+ssh") or (not scheme and _SCP_LIKE.match(url) is not None)
    repository = github_repository(url)
    if not ssh and repository is None:
        return []  # a local path or another host: agents on this machine, or a host this check cannot ask
    if has_credentials():
        return []
    if ssh:
        return [f"the origin {url} is an SSH URL and a Colab agent has no SSH key: {TOKEN_ADVICE}"]
    seen = visibility(repository)
    if seen == "public":
        return []
    told = "is private" if seen == "private" else "may be private (GitHub did not say)"
    return [f"the GitHub repository {repository} {told}, and agents would clone it without credentials: {TOKEN_ADVICE}"]


def files_server_warnings(host: str, gpu_queue: str) -> list[str]:
    """A files server only this machine or its network reaches strands a GPU agent on Colab (not a failure)."""
    name = urlsplit(host).hostname or ""
    try:
        address = ipaddress.ip_address(socket.gethostbyname(name)) if name else None
    except (OSError, ValueError):  # a host that does not resolve: check_files_server reports it as unreachable
        return []
    if address is None or not (address.is_loopback or address.is_private or address.is_link_local):
        return []
    where = "this machine" if address.is_loopback else "a private network"
    return [
        f"the files server {host} is on {where} ({address}): an agent of '{gpu_queue}' on Colab cannot upload "
        "or download artifacts there; use a files server or output_uri (S3, GCS, Azure) it can reach"
    ]


def files_server_host() -> str:
    """The files server the SDK uploads artifacts and models to."""
    from clearml.backend_api.session import Session

    return Session.get_files_server_host()


def check_credentials() -> list[str]:
    if not tracking.server_configured():
        return ["no ClearML server configured: run clearml-init or set CLEARML_API_HOST, CLEARML_API_ACCESS_KEY, "
                "CLEARML_API_SECRET_KEY"]  # fmt: skip
    return []


def check_files_server() -> list[str]:
    """The files server (``output_uri``) must answer, or artifacts and models cannot be uploaded."""
    host = files_server_host()
    try:
        urllib.request.urlopen(host, timeout=10)  # noqa: S310 - the configured ClearML files server
    except Exception as err:  # any answer proves reachability; HTTP errors have a code
        if not getattr(err, "code", None):
            return [f"files server {host} is not reachable: {err}"]
    return []
