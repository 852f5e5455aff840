"""Input drift: sequence profiles, the streaming reference, PSI, the server's /drift and metrics, the offline report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pose2gloss.bundle.files import read_bundle
from pose2gloss.data.shards import Block
from pose2gloss.monitor.__main__ import main as monitor_main
from pose2gloss.monitor.drift import DriftMonitor, coarse_edges, compare_with_reference, psi
from pose2gloss.monitor.profile import (
    FEATURE_NAMES,
    INPUT_GROUPS,
    ReferenceBuilder,
    raw_profile,
    read_reference,
    sequence_profile,
)
from pose2gloss.preprocessing.landmarks import LEFT_HAND, RIGHT_HAND, model_points
from serving.model_source import load_path
from serving.pose2gloss import create_app
from serving.settings import Settings
from tests.monitor_inputs import DRIFTS, drifted, reference_of, sample_sequences, write_monitored_bundle
from tests.serving.test_pose2gloss import N_CLASSES, NPY, as_npy

COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}


@pytest.fixture(scope="module")
def sequences(tmp_path_factory) -> list[np.ndarray]:
    from pose2gloss.data.synthetic import generate_sample

    root = generate_sample(tmp_path_factory.mktemp("sample"), n_signs=10, n_participants=6, sequences_per_sign=3)
    return sample_sequences(root)


@pytest.fixture(scope="module")
def reference(sequences) -> dict:
    return reference_of(sequences, np.random.default_rng(1).uniform(0.2, 0.9, len(sequences)))


def window_of(sequences, n: int, rng, kind: str | None = None) -> np.ndarray:
    picks = rng.integers(len(sequences), size=n)
    rows = [raw_profile(drifted(sequences[i], kind, rng) if kind else sequences[i]) for i in picks]
    return np.column_stack([np.stack(rows), rng.uniform(0.2, 0.9, n)])


# ---------------------------------------------------------------------------------------------
# Profiles


def test_profile_counts_missing_parts_and_places_hands_relative_to_the_shoulders():
    frames = 10
    sequence = np.full((frames, 543, 3), 0.5, np.float32)
    sequence[:, 489 + 11, :2] = [0.6, 0.5]  # the signer's left shoulder (image right)
    sequence[:, 489 + 12, :2] = [0.4, 0.5]
    sequence[:, LEFT_HAND, :2] = [0.7, 0.3]  # one shoulder width right of the midpoint, one up
    sequence[:3, LEFT_HAND] = np.nan
    sequence[:, RIGHT_HAND] = np.nan
    sequence[7:, RIGHT_HAND] = 0.45
    sequence[1, :468] = np.nan  # the face lost once
    p = dict(zip(FEATURE_NAMES, raw_profile(sequence), strict=False))
    assert p["length"] == frames
    assert p["left_hand_missing"] == pytest.approx(0.3) and p["right_hand_missing"] == pytest.approx(0.7)
    assert p["no_hand"] == pytest.approx(0.3)  # frames 0-2 have neither hand (the right one shows from 7 on)
    assert p["lips_missing"] == pytest.approx(0.1) and p["pose_missing"] == 0
    assert p["body_x"] == pytest.approx(0.5) and p["body_scale"] == pytest.approx(0.2)
    assert p["left_hand_x"] == pytest.approx(1.0) and p["left_hand_y"] == pytest.approx(-1.0)
    sequence[:, LEFT_HAND] = np.nan
    p = dict(zip(FEATURE_NAMES, raw_profile(sequence), strict=False))
    assert p["no_hand"] == pytest.approx(0.7) and math.isnan(p["left_hand_x"])


def test_profile_of_stored_points_matches_the_served_raw_sequence(sequences):
    for sequence in sequences[:20]:
        stored = model_points(sequence).astype(np.float16)  # what step 2's shards keep
        np.testing.assert_allclose(sequence_profile(stored), raw_profile(sequence), atol=5e-3, rtol=5e-3)


def test_hand_placement_ignores_framing_and_framing_sees_it(sequences):
    rng = np.random.default_rng(0)
    sequence = sequences[0]
    moved = drifted(sequence, "scaled_shifted", rng)
    a, b = raw_profile(sequence), raw_profile(moved)
    for name in ("left_hand_x", "right_hand_y", "right_hand_size", "right_hand_missing"):
        assert b[COLUMN[name]] == pytest.approx(a[COLUMN[name]], abs=1e-4, nan_ok=True)
    assert b[COLUMN["body_scale"]] == pytest.approx(0.6 * a[COLUMN["body_scale"]], rel=1e-4)
    mirrored = raw_profile(drifted(sequence, "mirrored", rng))
    assert mirrored[COLUMN["left_hand_missing"]] == a[COLUMN["right_hand_missing"]]


# ---------------------------------------------------------------------------------------------
# The reference


def test_reference_is_the_same_built_in_any_chunks_and_knows_its_quantiles(sequences):
    whole, chunked = ReferenceBuilder(), ReferenceBuilder()
    profiles = np.stack([raw_profile(s) for s in sequences])
    whole.add_profiles(profiles)
    for start in range(0, len(profiles), 7):
        chunked.add_profiles(profiles[start : start + 7])
    assert_same_reference(whole.result(), chunked.result())
    stored = whole.result()["features"]["body_scale"]
    values = profiles[:, COLUMN["body_scale"]]
    assert stored["mean"] == pytest.approx(values.mean()) and stored["n"] == len(values)
    widths = np.diff(stored["edges"]).max()
    for q, value in stored["quantiles"].items():
        assert abs(value - np.quantile(values, float(q))) <= widths


def test_reference_from_shards_keeps_originals_only(sequences):
    points = [model_points(s).astype(np.float16) for s in sequences[:4]]
    augmented = [p * 0.5 for p in points[:2]]  # copies that would shift the profile if counted
    block = Block(
        np.concatenate(points + augmented),
        [len(p) for p in points + augmented],
        [len(p) for p in points + augmented],
        np.zeros(6),
        {"copy": np.array([0, 0, 0, 0, 1, 1])},
    )
    builder = ReferenceBuilder()
    builder.add_block(block)
    expected = ReferenceBuilder()
    expected.add_profiles(np.stack([sequence_profile(p) for p in points]))
    assert builder.sequences == 4
    assert_same_reference(builder.result(), expected.result())


def test_reference_file_round_trip_and_refusal(reference, tmp_path):
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(reference))
    assert read_reference(path) == reference
    path.write_text(json.dumps({**reference, "format": "other"}))
    with pytest.raises(ValueError, match="not a reference profile"):
        read_reference(path)


# ---------------------------------------------------------------------------------------------
# PSI and the window


def test_psi_is_zero_for_equal_distributions_and_grows_with_the_shift():
    base = np.array([10, 20, 40, 20, 10])
    assert psi(base, base * 3) == pytest.approx(0.0)
    shifts = [psi(base, np.roll(base, k)) for k in (1, 2)]
    assert 0 < shifts[0] < shifts[1]
    assert psi(base, np.roll(base, 1)) == pytest.approx(psi(np.roll(base, 1), base))


def test_coarse_bins_hold_about_equal_reference_mass():
    counts = np.random.default_rng(0).multinomial(10_000, np.ones(100) / 100)
    cut = coarse_edges(counts, np.arange(99))
    masses = np.add.reduceat(counts, np.concatenate([[0], cut + 1])) / counts.sum()
    assert len(masses) == 10 and masses.min() > 0.08 and masses.max() < 0.12
    point_mass = np.zeros(100, int)
    point_mass[0], point_mass[50] = 9000, 1000  # e.g. "never missing" for 90% of sequences
    assert len(coarse_edges(point_mass, np.arange(99))) <= 2


def test_in_distribution_window_stays_under_the_threshold(sequences, reference):
    rng = np.random.default_rng(2)
    for _ in range(3):
        report = compare_with_reference(window_of(sequences, 200, rng), reference)
        assert report.status == "ok", report.to_dict()
        assert set(report.groups) == set(INPUT_GROUPS)


@pytest.mark.parametrize("kind", [*DRIFTS, "all"])
def test_each_kind_of_drift_crosses_the_threshold_and_is_explained(sequences, reference, kind):
    report = compare_with_reference(window_of(sequences, 200, np.random.default_rng(3), kind), reference)
    assert report.status == "drift" and report.score > report.threshold
    expected = {
        "hands_removed": "hands",
        "scaled_shifted": "framing",
        "mirrored": "right_hand",  # the dominant (right) hand is now seen as the left one
        "all": "hands",
    }[kind]
    assert report.groups[expected] > report.threshold
    words = {
        "hands_removed": "no hand visible",
        "scaled_shifted": "shoulders",
        "mirrored": "hand",
        "all": "no hand visible",
    }[kind]
    assert any(words in reason for reason in report.reasons), report.reasons


def test_monitor_keeps_a_window_of_profiles_and_says_when_it_has_too_few(sequences, reference):
    monitor = DriftMonitor(reference, window=200, threshold=0.25)
    assert monitor.report().status == "collecting" and monitor.report().score is None
    rng = np.random.default_rng(4)
    for row in window_of(sequences, 30, rng, "hands_removed"):
        monitor.add(row[:-1], row[-1])
    assert monitor.report().status == "collecting"  # fewer than min_requests (a quarter of the window)
    for row in window_of(sequences, 300, rng, "hands_removed"):
        monitor.add(row[:-1], row[-1])
    assert monitor.rows().shape == (200, len(FEATURE_NAMES)) and monitor.report().status == "drift"
    for row in window_of(sequences, 200, rng):  # one window of normal traffic replaces the drifted one
        monitor.add(row[:-1], row[-1])
    assert monitor.report().status == "ok"


# ---------------------------------------------------------------------------------------------
# The server


@pytest.fixture(scope="module")
def keras_model():
    """test_serving's small model, sized from the feature config."""
    import keras

    from pose2gloss.preprocessing.features import FeatureConfig
    from pose2gloss.training.registry import build_model

    keras.utils.set_random_seed(7)
    config = FeatureConfig()
    return build_model("GISLR", (config.max_len, config.n_features), N_CLASSES, {"dim": 32, "num_blocks": 1})


@pytest.fixture(scope="module")
def monitored_bundle(tmp_path_factory, keras_model, sequences):
    return write_monitored_bundle(tmp_path_factory.mktemp("monitored") / "bundle", keras_model, sequences)


def test_bundle_card_checksums_the_reference(monitored_bundle):
    bundle = read_bundle(monitored_bundle, verify=True)
    assert bundle.reference_path is not None and "reference_profile.json" in bundle.card["files"]
    bundle.reference_path.write_text(bundle.reference_path.read_text().replace('"n":', '"n" :', 1))
    with pytest.raises(ValueError, match="checksum"):
        read_bundle(monitored_bundle, verify=True)
    bundle.reference_path.write_text(bundle.reference_path.read_text().replace('"n" :', '"n":', 1))


def test_server_reports_drift_on_drift_metrics_and_logs_profiles(monitored_bundle, sequences, tmp_path):
    log = tmp_path / "profiles.jsonl"
    settings = Settings(drift_window=200, drift_log=str(log))
    rng = np.random.default_rng(5)
    sent = []
    with TestClient(create_app(settings, served=load_path(monitored_bundle, "test"))) as client:
        assert client.get("/drift").json()["status"] == "collecting"
        for i in rng.integers(len(sequences), size=200):
            assert client.post("/predict", content=as_npy(sequences[i]), headers=NPY).status_code == 200
            sent.append(len(sequences[i]))
        calm = client.get("/drift").json()
        assert calm["status"] == "ok" and calm["requests"] == 200 and calm["reference"]["sequences"] == len(sequences)
        for i in rng.integers(len(sequences), size=100):  # half a window is enough
            body = as_npy(drifted(sequences[i], "all", rng))
            assert client.post("/predict", content=body, headers=NPY).status_code == 200
            sent.append(len(sequences[i]))
        drift = client.get("/drift").json()
        metrics = client.get("/metrics").text
    assert drift["status"] == "drift" and drift["drifted"] and drift["score"] > drift["threshold"]
    assert drift["reasons"] and drift["statistic"] == "psi"
    score = _sample(metrics, "pose2gloss_input_drift_score")
    assert score == pytest.approx(drift["score"]) and _sample(metrics, "pose2gloss_input_drift_threshold") == 0.25
    assert _sample(metrics, 'pose2gloss_input_drift_group_score{group="hands"}') == pytest.approx(
        drift["groups"]["hands"]
    )
    assert _sample(metrics, "pose2gloss_input_sequence_frames_count") == 300
    assert _sample(metrics, 'pose2gloss_input_missing_hand_ratio_count{hand="both"}') == 300
    assert _sample(metrics, "pose2gloss_prediction_top1_score_count") == 300
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 300 and set(lines[0]) == {"time", *FEATURE_NAMES}  # profiles, no landmarks
    assert [line["length"] for line in lines] == sent


def test_bundle_without_reference_serves_and_says_drift_is_unavailable(monitored_bundle, sequences, tmp_path):
    import shutil

    from pose2gloss.bundle.files import write_bundle

    old = shutil.copytree(monitored_bundle, tmp_path / "old")  # as exported before drift monitoring
    old_bundle = read_bundle(old)
    old_bundle.reference_path.unlink()
    card = {k: v for k, v in old_bundle.card.items() if k != "files"}
    write_bundle(old, json.loads((old / "sign_to_prediction_index_map.json").read_text()), card)
    with TestClient(create_app(Settings(), served=load_path(old, "test"))) as client:
        assert client.post("/predict", content=as_npy(sequences[0]), headers=NPY).status_code == 200
        drift = client.get("/drift").json()
        metrics = client.get("/metrics").text
    assert drift["status"] == "unavailable" and "no reference profile" in drift["reason"]
    assert "pose2gloss_input_drift_score " not in metrics
    assert _sample(metrics, "pose2gloss_input_drift_threshold") == 0.25


# ---------------------------------------------------------------------------------------------
# The offline report


def test_report_command_writes_html_and_exit_code_says_drift(monitored_bundle, sequences, tmp_path, capsys):
    rng = np.random.default_rng(6)
    log = tmp_path / "requests.jsonl"
    rows = window_of(sequences, 120, rng, "hands_removed")
    log.write_text(as_log(rows))
    out = tmp_path / "report.html"
    assert monitor_main(["report", "--requests", str(log), "--model", str(monitored_bundle), "--out", str(out)]) == 1
    page = out.read_text()
    assert "DRIFT" in page and page.count("<img") == len(FEATURE_NAMES) and "no hand visible" in page
    assert "drift: score" in capsys.readouterr().out
    calm = tmp_path / "calm.jsonl"
    rows = window_of(sequences, 120, rng)
    calm.write_text(as_log(rows))
    assert monitor_main(["report", "--requests", str(calm), "--model", str(monitored_bundle), "--out", str(out)]) == 0
    assert monitor_main(["report", "--requests", str(tmp_path / "none.jsonl"), "--model", str(monitored_bundle)]) == 2


def as_log(rows: np.ndarray) -> str:
    """Profile rows as the server's POSE2GLOSS_DRIFT_LOG writes them (null for NaN)."""
    records = (
        {n: None if np.isnan(v) else v for n, v in zip(FEATURE_NAMES, row.tolist(), strict=True)} for row in rows
    )
    return "".join(json.dumps(record, allow_nan=False) + "\n" for record in records)


def assert_same_reference(a: dict, b: dict) -> None:
    """Equal counts; means equal but for the order floating-point sums were taken in."""
    assert a["sequences"] == b["sequences"] and a["features"].keys() == b["features"].keys()
    for name, item in a["features"].items():
        other = b["features"][name]
        assert item["counts"] == other["counts"] and item["quantiles"] == other["quantiles"], name
        assert item["mean"] == (other["mean"] if other["mean"] is None else pytest.approx(other["mean"], rel=1e-12))


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


# ---------------------------------------------------------------------------------------------
# The Grafana dashboard against what the server exports


def test_dashboard_queries_parse_and_name_only_exported_metrics(monitored_bundle, sequences, tmp_path):
    import re
    import shutil
    import subprocess

    from tests.monitoring.test_config import MONITORING

    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "pose2gloss.json").read_text())
    with TestClient(create_app(Settings(drift_window=10), served=load_path(monitored_bundle, "test"))) as client:
        for sequence in sequences[:10]:
            client.post("/predict", content=as_npy(sequence), headers=NPY)
        metrics = client.get("/metrics").text
    exported = {line.split()[2] for line in metrics.splitlines() if line.startswith("# TYPE ")}
    series = {re.split(r"[{ ]", line)[0] for line in metrics.splitlines() if line and not line.startswith("#")}

    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    assert len({p["title"] for p in panels}) == len(panels)  # no duplicated panels
    assert len(set(exprs)) == len(exprs) and len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "instance", "group"}
    assert all("$instance" in e for e in exprs) and any("$group" in e for e in exprs)
    for variable in dashboard["templating"]["list"][1:]:
        assert variable["definition"].split("(")[1].split(",")[0] in series

    named = {name for e in exprs for name in re.findall(r"\b(?:pose2gloss|http)_[a-z0-9_]+", e)}
    unknown = sorted(n for n in named if n not in series and n not in exported)
    assert not unknown, f"dashboard queries metrics the server does not export: {unknown}"
    for metric in ("input_drift_score", "input_drift_threshold", "input_drift_group_score"):
        assert any(f"pose2gloss_{metric}" in e for e in exprs)

    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed (make prometheus): queries not parsed")
    concrete = [e.replace("$__rate_interval", "1m").replace("$instance", ".*").replace("$group", ".*") for e in exprs]
    rules = {
        "groups": [
            {"name": "dashboard", "rules": [{"record": f"panel:{i}", "expr": e} for i, e in enumerate(concrete)]}
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    checked = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
