"""Deploy check: start the server with the production model, wait until it is ready, predict once, stop it.

    python cicd/deploy_check.py                       # whatever the server finds (ClearML, runs/production.json)
    python cicd/deploy_check.py --require-clearml     # CI: it must come from ClearML (no local fallback)
    python cicd/deploy_check.py --model runs/<run>/bundle --sequence one.parquet
    python cicd/deploy_check.py --url http://127.0.0.1:8000  # a server already running (the deployed image)

The server decides where the model comes from (see serving/model_source.py); this script only
starts it on a free loopback port, polls ``/ready`` until it answers or ``--timeout`` passes (a
download from ClearML takes a while; the wait ends as soon as the server is ready), sends one
``/predict`` and reports both. Exit codes: 0 served a prediction; 1 the server exited, was not
ready in time, or the prediction failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # `python cicd/deploy_check.py`: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import io
import json
import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from cicd.github import write_step_summary

REPO = Path(__file__).resolve().parents[1]
TOP_K = 5  # glosses asked for (fewer if the model knows fewer)
CONTENT_TYPES = {".npy": "application/x-npy", ".parquet": "application/vnd.apache.parquet", ".json": "application/json"}


class DeployCheckFailed(RuntimeError):
    """The server did not come up, or did not answer a prediction; the message says what happened."""


@dataclass
class Report:
    url: str
    ready_after_s: float = 0.0
    ready: dict[str, Any] = field(default_factory=dict)
    prediction: dict[str, Any] = field(default_factory=dict)
    predict_ms: float = 0.0

    def markdown(self) -> str:
        top = self.prediction.get("predictions", [{}])[0]
        return (
            "### Deploy check\n\n"
            f"Server ready after {self.ready_after_s:.1f}s with model `{self.ready.get('model_id')}` "
            f"(source {self.ready.get('source')}, {self.ready.get('num_classes')} glosses). "
            f"One `/predict` of {self.prediction.get('frames')} frames in {self.predict_ms:.0f} ms: "
            f"top gloss `{top.get('gloss')}` with score {top.get('score', 0):.3f}.\n"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_sequence(frames: int = 40) -> tuple[bytes, str]:
    """A seeded landmark sequence in the served input format (.npy), the left hand missing."""
    sequence = np.random.default_rng(0).random((frames, 543, 3), dtype=np.float32)
    sequence[:, 468:489] = np.nan
    buffer = io.BytesIO()
    np.save(buffer, sequence)
    return buffer.getvalue(), CONTENT_TYPES[".npy"]


def wait_ready(
    url: str, process: subprocess.Popen | None, timeout_s: float, interval_s: float = 1.0
) -> tuple[dict, float]:
    """Poll ``/ready`` until it says ready; fail at once if the server ends or answers that it has no model."""
    start = time.monotonic()
    last = "no answer yet"
    while time.monotonic() - start < timeout_s:
        if process is not None and process.poll() is not None:
            raise DeployCheckFailed(f"the server exited with code {process.returncode} before it was ready")
        try:
            response = httpx.get(f"{url}/ready", timeout=5)
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            if response.status_code == 200 and body.get("ready"):
                return body, time.monotonic() - start
            if response.status_code == 503 and body.get("reason"):
                # The server answers only once its start-up has tried to load the model: this is final.
                raise DeployCheckFailed(f"the server started without a model: {body['reason']}")
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx.TransportError as err:
            last = f"{type(err).__name__}"
        time.sleep(interval_s)
    raise DeployCheckFailed(f"/ready did not answer ready within {timeout_s:.0f}s (last: {last})")


def probe(report: Report, process: subprocess.Popen | None, sequence: Path | None, timeout_s: float) -> Report:
    """Wait until the server at ``report.url`` is ready, then send one real ``/predict``."""
    if sequence is not None:
        body, content_type = sequence.read_bytes(), CONTENT_TYPES.get(sequence.suffix, "application/octet-stream")
    else:
        body, content_type = default_sequence()
    report.ready, report.ready_after_s = wait_ready(report.url, process, timeout_s)
    started = time.perf_counter()
    response = httpx.post(
        f"{report.url}/predict",
        content=body,
        headers={"content-type": content_type},
        params={"top_k": min(TOP_K, int(report.ready.get("num_classes") or TOP_K))},
        timeout=60,
    )
    report.predict_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise DeployCheckFailed(f"/predict answered HTTP {response.status_code}: {response.text[:300]}")
    report.prediction = response.json()
    return report


def check(
    *,
    model: str = "",
    runs_dir: str = "runs",
    require_clearml: bool = False,
    sequence: Path | None = None,
    timeout_s: float = 300.0,
    log_path: Path | None = None,
) -> Report:
    """Start the server, wait for readiness, predict once, and always stop it."""
    port = free_port()
    env = {**os.environ, "POSE2GLOSS_HOST": "127.0.0.1", "POSE2GLOSS_PORT": str(port), "POSE2GLOSS_RUNS_DIR": runs_dir}
    if model:
        env["POSE2GLOSS_MODEL"] = model
    if require_clearml:
        env["POSE2GLOSS_CLEARML"] = "on"
    report = Report(url=f"http://127.0.0.1:{port}")
    log_path = log_path or Path(tempfile.mkstemp(prefix="deploy-check-", suffix=".log")[1])
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "serving/pose2gloss.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            probe(report, process, sequence, timeout_s)
        except DeployCheckFailed as err:
            tail = log_path.read_text()[-2000:] if log_path.is_file() else ""
            raise DeployCheckFailed(f"{err}\n--- server log ({log_path}) ---\n{tail}") from None
        finally:
            stop(process)
    return report


def stop(process: subprocess.Popen, grace_s: float = 15.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="", help="check the server already running there (e.g. the deployed image)")
    parser.add_argument("--require-source", default="", help="with --url: the model must come from here (clearml)")
    parser.add_argument("--model", default="", help="serve this bundle folder instead of the production model")
    parser.add_argument("--runs-dir", default="runs", help="where runs/production.json is (offline)")
    parser.add_argument("--require-clearml", action="store_true", help="the model must come from ClearML")
    parser.add_argument("--sequence", type=Path, help="a .npy, .json or Kaggle .parquet sequence to predict")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for /ready")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.url:
            report = probe(Report(url=args.url.rstrip("/")), None, args.sequence, args.timeout)
            source = report.ready.get("source")
            if args.require_source and source != args.require_source:
                raise DeployCheckFailed(f"the server serves a model from {source!r}, not {args.require_source!r}")
        else:
            report = check(
                model=args.model,
                runs_dir=args.runs_dir,
                require_clearml=args.require_clearml,
                sequence=args.sequence,
                timeout_s=args.timeout,
            )
    except DeployCheckFailed as err:
        print(f"deploy check failed: {err}", file=sys.stderr)
        write_step_summary(f"### Deploy check\n\nFailed: {str(err).splitlines()[0]}\n")
        return 1
    print(json.dumps({"ready": report.ready, "prediction": report.prediction, "predict_ms": report.predict_ms}))
    print(report.markdown())
    write_step_summary(report.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
