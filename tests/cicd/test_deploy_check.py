"""The deploy check against a real uvicorn server serving a real exported bundle."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cicd import deploy_check
from pose2gloss.bundle.files import record_production

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    import keras

    from pose2gloss.bundle.export import export_bundle
    from pose2gloss.preprocessing.features import FeatureConfig
    from pose2gloss.training.registry import build_model

    keras.utils.set_random_seed(3)
    signs = ["hello", "thanks", "yes", "no"]
    model = build_model(
        "GISLR", (FeatureConfig().max_len, FeatureConfig().n_features), len(signs), {"dim": 16, "num_blocks": 1}
    )
    directory = tmp_path_factory.mktemp("bundle")
    return export_bundle(model, FeatureConfig(), directory, {s: i for i, s in enumerate(signs)}, {"model_id": "deploy"})


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_deploy_check_serves_the_production_record_and_stops_the_server(bundle_dir, tmp_path):
    record_production(bundle_dir, tmp_path / "runs", pipeline_id="p1")
    report = deploy_check.check(runs_dir=str(tmp_path / "runs"), timeout_s=120, log_path=tmp_path / "server.log")
    assert report.ready["ready"] and report.ready["model_id"] == "deploy"
    assert report.ready["source"] == "runs/production.json" and report.ready["num_classes"] == 4
    assert report.prediction["frames"] == 40 and report.prediction["predictions"][0]["gloss"] in {
        "hello",
        "thanks",
        "yes",
        "no",
    }
    assert "Server ready after" in report.markdown()
    port = int(report.url.rsplit(":", 1)[1])
    deadline = time.monotonic() + 10
    while not port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert port_is_free(port), "the server was left running"


@pytest.mark.slow
def test_deploy_check_fails_fast_with_the_server_log_when_there_is_no_model(tmp_path):
    started = time.monotonic()
    with pytest.raises(
        deploy_check.DeployCheckFailed, match=r"exited with code .* before it was ready(.|\n)*server log"
    ):
        deploy_check.check(model=str(tmp_path / "missing"), timeout_s=120, log_path=tmp_path / "server.log")
    assert time.monotonic() - started < 60  # it stops waiting when the server exits, not at the timeout


@pytest.mark.slow
def test_deploy_check_fails_fast_when_clearml_cannot_be_reached(tmp_path, monkeypatch):
    """A real server whose ClearML is unreachable starts unready within its ClearML timeout, and the check says why."""
    monkeypatch.setenv("CLEARML_API_HOST", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("CLEARML_API_ACCESS_KEY", "key")
    monkeypatch.setenv("CLEARML_API_SECRET_KEY", "secret")
    monkeypatch.delenv("CLEARML_OFFLINE_MODE", raising=False)
    monkeypatch.setenv("POSE2GLOSS_CLEARML_TIMEOUT", "5")
    started = time.monotonic()
    with pytest.raises(deploy_check.DeployCheckFailed, match="started without a model: ClearML model lookup failed"):
        deploy_check.check(
            runs_dir=str(tmp_path / "runs"), require_clearml=True, timeout_s=300, log_path=tmp_path / "server.log"
        )
    assert time.monotonic() - started < 120


def test_wait_ready_stops_at_the_first_unready_answer():
    """A server answers only after its start-up tried to load the model, so a 503 with a reason is final."""

    class Unready(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server hook's name)
            body = json.dumps({"ready": False, "reason": "ClearML lookup failed: connection refused"}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = time.monotonic()
        with pytest.raises(deploy_check.DeployCheckFailed, match="started without a model: ClearML lookup failed"):
            deploy_check.wait_ready(f"http://127.0.0.1:{server.server_address[1]}", process, timeout_s=30)
        assert time.monotonic() - started < 10
    finally:
        process.kill()
        server.shutdown()


@pytest.mark.slow
def test_deploy_check_command_line_with_an_explicit_bundle(bundle_dir, tmp_path):
    sequence = tmp_path / "one.npy"
    sequence.write_bytes(deploy_check.default_sequence(frames=12)[0])
    done = subprocess.run(
        [sys.executable, "cicd/deploy_check.py", "--model", str(bundle_dir), "--sequence", str(sequence)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "One `/predict` of 12 frames" in done.stdout and "source POSE2GLOSS_MODEL" in done.stdout
