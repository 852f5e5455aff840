"""End to end: a real uvicorn server scraped by Debian's Prometheus, with the shipped scrape config and alert rules.

In-distribution traffic keeps the drift score under the threshold and raises no alert; drifted
traffic (hands lost, the signer scaled, shifted and mirrored) crosses it within one window, and
Prometheus's own API reports the drift alert pending or firing. The rules are the shipped ones,
with the drift alert's ``for`` cut from 5m to a few seconds so that the test is quick.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from tests.monitor.test_monitor import keras_model  # noqa: F401 - the small model fixture
from tests.monitor_inputs import drifted, sample_sequences, write_monitored_bundle
from tests.monitoring.test_config import MONITORING
from tests.serving.test_pose2gloss import NPY, _free_port, _start, _stop, as_npy

pytestmark = pytest.mark.slow
WINDOW = 200
SCRAPE = "1s"


@pytest.fixture(scope="module")
def sequences(tmp_path_factory) -> list[np.ndarray]:
    from pose2gloss.data.synthetic import generate_sample

    root = generate_sample(tmp_path_factory.mktemp("sample"), n_signs=10, n_participants=6, sequences_per_sign=3)
    return sample_sequences(root)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, keras_model, sequences) -> Path:  # noqa: F811 - fixture imported above
    return write_monitored_bundle(tmp_path_factory.mktemp("stack") / "bundle", keras_model, sequences)


def prometheus_config(folder: Path, target: str) -> Path:
    """The shipped prometheus.yml and alerts.yml, scraping ``target`` every second, the drift alert's ``for`` short."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=SCRAPE, evaluation_interval=SCRAPE)
    config["scrape_configs"][0]["static_configs"][0]["targets"] = [target]
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    for rule in rules["groups"][0]["rules"]:
        if rule["alert"] == "Pose2glossInputDrift":
            assert rule["for"] == "5m"
            rule["for"] = "3s"
    (folder / "alerts.yml").write_text(yaml.safe_dump(rules))
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def query(prometheus: str, expr: str) -> list[dict]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def drift_alerts(prometheus: str) -> list[dict]:
    alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == "Pose2glossInputDrift"]


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")


def send(server: str, sequences: list[np.ndarray]) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        for sequence in sequences:
            assert http.post("/predict", content=as_npy(sequence), headers=NPY).status_code == 200


def test_prometheus_sees_drift_and_raises_the_alert(bundle, sequences, tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Debian's prometheus is not installed: run `make prometheus`")
    port, prom_port = _free_port(), _free_port()
    server = f"http://127.0.0.1:{port}"
    prometheus = f"http://127.0.0.1:{prom_port}"
    uvicorn = _start(
        [sys.executable, "-m", "uvicorn", "serving.pose2gloss:app", "--host", "127.0.0.1", "--port", str(port)],
        {"POSE2GLOSS_MODEL": str(bundle), "POSE2GLOSS_DRIFT_WINDOW": str(WINDOW)},
        port,
    )
    scraper = subprocess.Popen(
        [
            binary,
            f"--config.file={prometheus_config(tmp_path, f'127.0.0.1:{port}')}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    rng = np.random.default_rng(11)
    try:
        wait_for(lambda: _ready(prometheus), 60, "Prometheus to start")
        wait_for(lambda: query(prometheus, 'up{job="pose2gloss"} == 1'), 30, "the first scrape of the server")

        calm = [sequences[i] for i in rng.integers(len(sequences), size=WINDOW)]
        send(server, calm)
        state = httpx.get(f"{server}/drift").json()
        assert state["status"] == "ok" and state["score"] < state["threshold"], state
        scraped = wait_for(
            lambda: query(prometheus, "pose2gloss_input_drift_score") if _requests_seen(prometheus, WINDOW) else None,
            30,
            "a scrape of the full window",
        )
        assert float(scraped[0]["value"][1]) < 0.25
        assert query(prometheus, "pose2gloss_input_drift_score > pose2gloss_input_drift_threshold") == []
        time.sleep(4)  # longer than the test rule's `for`: a drift below the threshold raises nothing
        assert drift_alerts(prometheus) == []

        crossed_after = None
        with httpx.Client(base_url=server, timeout=30) as http:
            for n in range(1, WINDOW + 1):
                i = int(rng.integers(len(sequences)))
                body = as_npy(drifted(sequences[i], "all", rng))
                assert http.post("/predict", content=body, headers=NPY).status_code == 200
                if crossed_after is None and n % 10 == 0 and http.get("/drift").json()["status"] == "drift":
                    crossed_after = n
        assert crossed_after is not None and crossed_after <= WINDOW
        print(f"drift status after {crossed_after} drifted requests (checked every 10)")
        state = httpx.get(f"{server}/drift").json()
        assert state["score"] > state["threshold"] and state["reasons"], state

        def scraped_final_score() -> list[dict]:  # the latest scrape, once it is of the final window
            above = query(prometheus, "pose2gloss_input_drift_score > pose2gloss_input_drift_threshold")
            return above if above and float(above[0]["value"][1]) == pytest.approx(state["score"], rel=1e-6) else []

        wait_for(scraped_final_score, 30, "Prometheus to scrape the drifted window's score, above the threshold")
        alert = wait_for(lambda: drift_alerts(prometheus), 30, "the drift alert")[0]
        assert alert["state"] in ("pending", "firing")
        firing = wait_for(
            lambda: [a for a in drift_alerts(prometheus) if a["state"] == "firing"], 30, "the alert to fire"
        )
        assert "unlike the training data" in firing[0]["annotations"]["summary"]
        groups = {
            r["metric"]["group"]: float(r["value"][1]) for r in query(prometheus, "pose2gloss_input_drift_group_score")
        }
        assert groups["hands"] > 0.25
    finally:
        scraper.terminate()
        try:
            prom_log, _ = scraper.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            scraper.kill()
            prom_log, _ = scraper.communicate()
        output = _stop(uvicorn)
    assert "Traceback" not in output, output
    assert "Evaluating rule failed" not in prom_log and "Error loading" not in prom_log, prom_log


def _ready(prometheus: str) -> bool:
    try:
        return httpx.get(f"{prometheus}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _requests_seen(prometheus: str, n: int) -> bool:
    result = query(prometheus, "pose2gloss_input_drift_window_requests")
    return bool(result) and float(result[0]["value"][1]) >= n
