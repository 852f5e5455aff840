"""``python -m tests.clearml_standin --dir DIR --queues cpu,gpu,services``: server, files server and agents.

Writes ``DIR/clearml.env`` (CLEARML_* settings for clients) and ``DIR/clearml.conf``, then ``DIR/ready`` once
every agent polls its queue; runs until SIGTERM or Ctrl-C, then stops the agents and their tasks and exits 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

from .agents import Agent, client_conf, start_agent
from .api import ApiServer
from .files import FilesServer
from .store import Store
from .watchdog import DEFAULT_THRESHOLD_S, stop_nonresponsive

log = logging.getLogger("clearml_standin")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.clearml_standin", description=__doc__)
    parser.add_argument("--dir", required=True, type=Path, help="run folder (config, files, agents, logs)")
    parser.add_argument("--queues", default="", help="comma-separated queues, one agent each")
    parser.add_argument("--port", type=int, default=0, help="API port (0: any free one)")
    parser.add_argument("--files-port", type=int, default=0, help="files server port (0: any free one)")
    parser.add_argument("--ready-timeout", type=float, default=120.0, help="seconds to wait for the agents")
    parser.add_argument(
        "--nonresponsive-after",
        type=float,
        default=DEFAULT_THRESHOLD_S,
        help="seconds without an update after which a running task is force-stopped, as the server's watchdog does",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def _serve(server: ApiServer | FilesServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name=type(server).__name__, daemon=True)
    thread.start()
    return thread


def _wait_ready(store: Store, queues: list[str], agents: list[Agent], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for agent in agents:
            if agent.process.poll() is not None:
                raise RuntimeError(f"agent for {agent.queue} exited ({agent.process.returncode}); see {agent.log_path}")
        with store.lock:
            polled = {store.queues[q]["name"] for q in store.polled_queues if q in store.queues}
        if set(queues) <= polled:
            return
        time.sleep(0.2)
    raise RuntimeError(f"agents not polling after {timeout}s: {sorted(set(queues) - polled)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir: Path = args.dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "ready").unlink(missing_ok=True)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=[logging.FileHandler(run_dir / "standin.log"), logging.StreamHandler(sys.stderr)],
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    store = Store()
    key, secret = "standin-" + secrets.token_hex(6), secrets.token_hex(16)
    store.credentials[key] = secret
    files = FilesServer(run_dir / "files", args.files_port)
    api = ApiServer(store, args.port, files_host=files.url)
    threads = [_serve(files), _serve(api)]
    client = client_conf(api.url, files.url, key, secret, run_dir / "cache")
    (run_dir / "clearml.conf").write_text(client)
    env = {
        "CLEARML_API_HOST": api.url,
        "CLEARML_WEB_HOST": api.url,
        "CLEARML_FILES_HOST": files.url,
        "CLEARML_API_ACCESS_KEY": key,
        "CLEARML_API_SECRET_KEY": secret,
    }
    (run_dir / "clearml.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    log.info("API %s, files %s, run dir %s", api.url, files.url, run_dir)

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    from .queues import create_queue

    with store.lock:
        for name in queues:
            create_queue(store, name)
    agents: list[Agent] = []
    code = 0
    try:
        agents = [start_agent(run_dir, name, client) for name in queues]
        _wait_ready(store, queues, agents, args.ready_timeout)
        (run_dir / "ready").write_text(json.dumps({"pid": __import__("os").getpid(), **env}))
        log.info("ready: agents polling %s", queues)
        watch_every = min(60.0, max(0.5, args.nonresponsive_after / 4))
        while not stop.wait(watch_every):
            for task_id in stop_nonresponsive(store, args.nonresponsive_after):
                log.info("task %s force-stopped: no update for %.0fs", task_id, args.nonresponsive_after)
    except RuntimeError as err:
        log.error("%s", err)
        code = 1
    finally:
        log.info("stopping %d agent(s)", len(agents))
        for agent in agents:
            agent.stop()
        api.shutdown()
        files.shutdown()
        for thread in threads:
            thread.join(5)
        (run_dir / "calls.json").write_text(json.dumps(api.calls, indent=1, sort_keys=True))
        log.info("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
