"""The shipped Prometheus configuration, alert rules and compose file, checked with Debian's promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess:
    """Run promtool (``make test`` installs Debian's prometheus package, which has it)."""
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed (make prometheus)")
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_alert_rules_are_valid_and_their_unit_tests_pass():
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0 and "SUCCESS: 4 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_prometheus_config_is_valid_and_loads_the_rules():
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "alerts.yml" in checked.stdout and "SUCCESS: 4 rules found" in checked.stdout


def test_alerts_cover_drift_errors_latency_and_readiness():
    rules = {r["alert"]: r for r in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]}
    assert set(rules) == {
        "Pose2glossInputDrift",
        "Pose2glossHighErrorRate",
        "Pose2glossSlowRequests",
        "Pose2glossNotReady",
    }
    drift = rules["Pose2glossInputDrift"]
    assert drift["for"] == "5m" and drift["expr"] == "pose2gloss_input_drift_score > pose2gloss_input_drift_threshold"
    assert "0.99" in rules["Pose2glossSlowRequests"]["expr"] and "5.." in rules["Pose2glossHighErrorRate"]["expr"]


def test_compose_runs_the_image_of_the_dockerfile_with_prometheus_and_grafana():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    assert {"server", "prometheus", "grafana"} <= set(compose)
    assert compose["server"]["build"] == "." and (ROOT / "Dockerfile").is_file()
    mounted = [v.split(":")[0] for service in ("prometheus", "grafana") for v in compose[service]["volumes"]]
    for source in mounted:
        assert (ROOT / source).exists(), source
    scrape = yaml.safe_load((MONITORING / "prometheus.yml").read_text())["scrape_configs"][0]
    assert scrape["static_configs"][0]["targets"] == ["server:8000"]  # the compose service name and port
    assert compose["prometheus"]["image"].endswith("v2.42.0")  # what the tests run
