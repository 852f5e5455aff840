"""Real ``clearml-agent daemon`` processes, one per queue, running tasks in this project's Python.

Each agent gets its own clearml.conf and folders under ``<run dir>/agents/<queue>/``. With
``CLEARML_AGENT_SKIP_PYTHON_ENV_INSTALL=1`` and ``CLEARML_AGENT_SKIP_PIP_VENV_INSTALL=<python>`` the agent builds
no virtual environment: it clones the task's repository and runs the entry point with the given interpreter
(the checkout's root goes first on PYTHONPATH, so its code wins over an editable install).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

POLL_SECONDS = 0.5


def client_conf(api: str, files: str, key: str, secret: str, cache: Path) -> str:
    """A clearml.conf for SDK clients (and the sdk section agents hand their tasks)."""
    return f"""api {{
  api_server: "{api}"
  web_server: "{api}"
  files_server: "{files}"
  credentials {{ access_key: "{key}", secret_key: "{secret}" }}
}}
sdk {{
  development {{ report_use_subprocess: false, worker {{ ping_period_sec: 5 }} }}
  storage {{ cache {{ default_base_dir: "{cache}" }} }}
}}
"""


def worker_id(queue: str) -> str:
    """The agent's worker id: unique per stand-in, since an agent refuses to start beside a namesake."""
    return f"standin-{queue}-{os.getpid()}"


def agent_conf(client: str, home: Path, queue: str) -> str:
    """The agent's clearml.conf: the client part plus its own caches, all below ``home``."""
    return (
        client
        + f"""agent {{
  worker_id: "{worker_id(queue)}"
  worker_name: "{worker_id(queue)}"
  git_user: ""
  git_pass: ""
  venvs_dir: "{home / "venvs"}"
  vcs_cache {{ enabled: true, path: "{home / "vcs-cache"}" }}
  venvs_cache {{ path: "{home / "venvs-cache"}", max_entries: 0 }}
  pip_download_cache {{ enabled: false, path: "{home / "pip-cache"}" }}
  docker_pip_cache: "{home / "docker-pip-cache"}"
  docker_apt_cache: "{home / "docker-apt-cache"}"
  translate_ssh: false
  package_manager {{ type: pip }}
  python_binary: "{sys.executable}"
}}
"""
    )


def clean_env() -> dict[str, str]:
    """This process's environment without ClearML settings (a test run sets offline mode, for one)."""
    drop = ("CLEARML_", "TRAINS_", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@dataclass
class Agent:
    """One running agent daemon (its own process group) and its log."""

    queue: str
    process: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the agent's process group (the agent and the task it runs), then SIGKILL if need be."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # task subprocesses left behind in the group
            os.killpg(self.process.pid, signal.SIGKILL)


def start_agent(run_dir: Path, queue: str, client: str, python: str = sys.executable) -> Agent:
    """Start ``clearml-agent daemon --queue <queue>`` with its config and folders under ``run_dir``."""
    home = run_dir / "agents" / queue
    home.mkdir(parents=True, exist_ok=True)
    conf = home / "clearml.conf"
    conf.write_text(agent_conf(client, home, queue))
    env = {
        **clean_env(),
        "CLEARML_CONFIG_FILE": str(conf),
        "CLEARML_AGENT_SKIP_PYTHON_ENV_INSTALL": "1",
        "CLEARML_AGENT_SKIP_PIP_VENV_INSTALL": python,
        "CLEARML_AGENT_QUEUE_POLL_FREQ_SEC": str(POLL_SECONDS),
        "CLEARML_WORKER_ID": worker_id(queue),
        "CLEARML_AGENT_DISABLE_SSH_MOUNT": "1",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log_path = run_dir / "agents" / f"{queue}.log"
    with open(log_path, "ab") as log:
        cmd = [python, "-m", "clearml_agent", "daemon", "--queue", queue, "--foreground"]
        process = subprocess.Popen(
            cmd,
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Agent(queue=queue, process=process, log_path=log_path)
