"""What the server reports about itself: Prometheus metrics and input drift.

``Metrics`` are the server's own counters and histograms, ``instrument`` adds the HTTP ones
(prometheus-fastapi-instrumentator) and ``GET /metrics``; both share the app's registry with
:class:`InputMonitor`, which profiles the inputs.

Each request adds one profile row (see :mod:`pose2gloss.monitor.profile`; never the landmarks)
and a few histogram observations (tens of microseconds); the comparison (PSI,
:mod:`pose2gloss.monitor.drift`) runs only when ``/metrics`` is scraped or ``GET /drift`` is
asked, so ``/predict`` pays for the profile only.
``POSE2GLOSS_DRIFT_LOG`` additionally appends each profile as a JSON line, for the offline report
(``python -m pose2gloss.monitor report``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator

from pose2gloss.monitor.drift import DriftMonitor
from pose2gloss.monitor.profile import FEATURE_NAMES, INPUT_GROUPS, raw_profile, read_reference

log = logging.getLogger("uvicorn.error.pose2gloss")

_COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}
_LEFT, _RIGHT, _NONE = (_COLUMN[name] for name in ("left_hand_missing", "right_hand_missing", "no_hand"))
SHARE_BUCKETS = (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0)


class Metrics:
    """The server's own metrics, next to the HTTP ones of prometheus-fastapi-instrumentator."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.inference = Histogram(
            "pose2gloss_inference_seconds",
            "Time in the TFLite interpreter per sequence",
            registry=registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
        )
        self.decode = Histogram(
            "pose2gloss_decode_seconds",
            "Time to turn a request body into landmark arrays",
            ["format"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
        )
        self.predictions = Counter(
            "pose2gloss_predictions", "Top-1 predictions per gloss", ["gloss"], registry=registry
        )
        self.rejected = Counter(
            "pose2gloss_rejected_requests", "Requests refused with a 4xx, by reason", ["reason"], registry=registry
        )
        self.ready = Gauge(
            "pose2gloss_ready",
            "1 when a model is loaded and served, 0 when not (GET /ready says why)",
            registry=registry,
        )
        self.model = Gauge(
            "pose2gloss_model_info",
            "The served model (value 1)",
            ["model_id", "source"],
            registry=registry,
            multiprocess_mode="max",
        )


def instrument(app: FastAPI, registry: CollectorRegistry) -> None:
    """Measure every HTTP request and serve the registry at ``GET /metrics``.

    Call it after the routers are included: ``/metrics`` is added to the app, last in the schema,
    and the instrumentation middleware wraps every other one.
    """
    Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"], registry=registry).instrument(
        app,
        latency_highr_buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        latency_lowr_buckets=(0.01, 0.1, 1),
    ).expose(
        app, include_in_schema=True, tags=["probes"], summary="Prometheus metrics", response_class=PlainTextResponse
    )


class InputMonitor:
    """Per-request profiling for one app; ``drift`` is None when the bundle has no reference."""

    def __init__(self, registry: CollectorRegistry, window: int, threshold: float, log_path: str = "") -> None:
        self.window, self.threshold = window, threshold
        self.drift: DriftMonitor | None = None
        self.unavailable = "model not loaded yet"
        self.reference_info: dict[str, Any] = {}
        self._log = open(log_path, "a", buffering=1) if log_path else None  # noqa: SIM115 - open for the app's life
        self._log_lock = threading.Lock()
        self.frames = Histogram(
            "pose2gloss_input_sequence_frames",
            "Frames per received sequence",
            registry=registry,
            buckets=(8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024),
        )
        self.missing_hand = Histogram(
            "pose2gloss_input_missing_hand_ratio",
            "Share of a sequence's frames without the hand (left, right, or both: no hand at all)",
            ["hand"],
            registry=registry,
            buckets=SHARE_BUCKETS,
        )
        self._missing = {hand: self.missing_hand.labels(hand) for hand in ("left", "right", "both")}
        self.top1 = Histogram(
            "pose2gloss_prediction_top1_score",
            "Probability of the top-1 gloss per sequence",
            registry=registry,
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0),
        )
        registry.register(_DriftCollector(self))

    def load(self, reference_path: Path | None) -> None:
        """Start comparing with the served bundle's reference (checksummed with it); none: no drift."""
        if reference_path is None:
            self.unavailable = "the served bundle has no reference profile (exported before drift monitoring)"
            log.warning("drift monitoring off: %s", self.unavailable)
            return
        reference = read_reference(reference_path)
        self.drift = DriftMonitor(reference, self.window, self.threshold)
        self.reference_info = {"sequences": reference["sequences"], "source": reference.get("source", {})}

    def observe(self, sequence: np.ndarray, top1_score: float) -> None:
        """One served sequence: histograms, the window and the log get its profile, nothing else."""
        profile = raw_profile(sequence)
        self.frames.observe(len(sequence))
        self._missing["left"].observe(profile[_LEFT])
        self._missing["right"].observe(profile[_RIGHT])
        self._missing["both"].observe(profile[_NONE])
        self.top1.observe(top1_score)
        if self.drift is not None:
            self.drift.add(profile, top1_score)
        if self._log is not None:
            values = [None if v != v else v for v in [*profile.tolist(), top1_score]]  # NaN (a part never seen): null
            line = json.dumps({"time": round(time.time(), 3), **dict(zip(FEATURE_NAMES, values, strict=True))}) + "\n"
            with self._log_lock:
                self._log.write(line)

    def report(self) -> dict[str, Any]:
        """What ``GET /drift`` returns."""
        if self.drift is None:
            return {
                "statistic": "psi",
                "status": "unavailable",
                "drifted": False,
                "reason": self.unavailable,
                "threshold": self.threshold,
                "window": self.window,
            }
        return {**self.drift.report().to_dict(), "reference": self.reference_info}

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


class _DriftCollector(Collector):
    """Drift gauges computed at scrape time (nothing is computed per request)."""

    def __init__(self, monitor: InputMonitor) -> None:
        self.monitor = monitor

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # computed on collect; nothing to describe up front

    def collect(self) -> Iterator[GaugeMetricFamily]:
        monitor = self.monitor
        threshold = GaugeMetricFamily(
            "pose2gloss_input_drift_threshold",
            "PSI above which the inputs count as drifted (POSE2GLOSS_DRIFT_THRESHOLD)",
        )
        threshold.add_metric([], monitor.threshold)
        yield threshold
        window = GaugeMetricFamily("pose2gloss_input_drift_window_requests", "Sequences in the drift window")
        score = GaugeMetricFamily(
            "pose2gloss_input_drift_score",
            "Input drift: the largest per-group PSI over the window (NaN until the window has min_requests)",
        )
        groups = GaugeMetricFamily(
            "pose2gloss_input_drift_group_score", "PSI of each feature group's most drifted feature", labels=["group"]
        )
        prediction = GaugeMetricFamily(
            "pose2gloss_prediction_drift_score", "PSI of the top-1 score over the window against the test set's"
        )
        if monitor.drift is None:
            window.add_metric([], 0)
            yield window
            return
        report = monitor.drift.report()
        window.add_metric([], report.requests)
        score.add_metric([], _value(report.score))
        for group in INPUT_GROUPS:
            groups.add_metric([group], _value(report.groups.get(group)))
        prediction.add_metric([], _value(report.prediction["top1_score"]))
        yield from (window, score, groups, prediction)


def _value(x: float | None) -> float:
    return float("nan") if x is None else x
