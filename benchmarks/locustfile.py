"""Locust load test for a running pose2gloss server: valid requests mixed with corrupted ones.

Start a server, then run Locust headless against it (loopback only; the run always ends)::

    POSE2GLOSS_MODEL=path/to/bundle python serving/pose2gloss.py --port 8000 &
    locust -f benchmarks/locustfile.py --headless -u 8 -r 8 -t 15s --host http://127.0.0.1:8000 \\
        --bad-share 0.3 --json-share 0.1 --csv /tmp/pose2gloss-load

(``locust`` is pinned in requirements.txt; on its own: ``pip install locust==2.46.6``.)

Each simulated client sends one 64-frame sequence per request: as ``.npy`` or, for
``--json-share`` of them, as JSON. A ``--bad-share`` of requests are corrupted in one of many
ways (see ``BAD_BODIES``) and must get a 4xx with a JSON ``detail``; anything else (a 5xx, a
2xx, a dropped connection) counts as a failure. At the end a summary gives, separately for
valid and corrupted requests, the counts, failures and latency percentiles, and the process
exits non-zero when a valid request failed or a corrupted one was not refused cleanly.
Without ``-t/--run-time`` the run is limited to 30 s.
"""

from __future__ import annotations

import io
import ipaddress
import random
import sys
from urllib.parse import urlparse

import numpy as np
import orjson
from locust import FastHttpUser, between, events, task

FRAMES = 64
DEFAULT_RUN_TIME_S = 30
VALID = "valid"
BAD = "corrupted"


def _sequence(rng: np.random.Generator, frames: int = FRAMES) -> np.ndarray:
    sequence = rng.random((frames, 543, 3), dtype=np.float32)
    sequence[:, 468:489] = np.nan  # left hand not seen
    return sequence


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _json(array: np.ndarray) -> bytes:
    return orjson.dumps({"landmarks": np.where(np.isnan(array), None, array).tolist()})


RNG = np.random.default_rng(0)
SEQUENCE = _sequence(RNG)
NPY_BODY = _npy(SEQUENCE)
JSON_BODY = _json(SEQUENCE)
_frame = [[0.5, 0.5, 0.0]] * 543
JSON_TYPE, NPY_TYPE = "application/json", "application/x-npy"

# kind -> (content type, body); each must be answered with a 4xx
BAD_BODIES: dict[str, tuple[str, bytes]] = {
    "empty": (JSON_TYPE, b""),
    "not json": (JSON_TYPE, b"landmarks=[1,2,3]"),
    "truncated json": (JSON_TYPE, JSON_BODY[: len(JSON_BODY) // 2]),
    "wrong content type": ("text/plain", b"hello"),
    "zero frames": (JSON_TYPE, b'{"landmarks": []}'),
    "542 landmarks": (JSON_TYPE, orjson.dumps({"landmarks": [_frame[:-1]]})),
    "2 coordinates": (JSON_TYPE, orjson.dumps({"landmarks": [[[0.5, 0.5]] * 543]})),
    "string value": (JSON_TYPE, orjson.dumps({"landmarks": [[["x", 0.5, 0.5]] + _frame[1:]]})),
    "NaN literal": (JSON_TYPE, b'{"landmarks": [[[NaN, 1, 2]]]}'),
    "huge value": (JSON_TYPE, orjson.dumps({"landmarks": [[[1e30, 0.5, 0.5]] + _frame[1:]]})),
    "all missing": (JSON_TYPE, orjson.dumps({"landmarks": [[[None, None, None]] * 543]})),
    "unknown field": (JSON_TYPE, orjson.dumps({"landmarks": [_frame], "extra": 1})),
    "npy garbage": (NPY_TYPE, b"\x93NUMPY\x01\x00garbage"),
    "npy truncated": (NPY_TYPE, NPY_BODY[:-1000]),
    "npy int64": (NPY_TYPE, _npy(np.zeros((4, 543, 3), np.int64))),
    "npy wrong shape": (NPY_TYPE, _npy(np.zeros((4, 543, 2), np.float32))),
    "npy too many frames": (NPY_TYPE, _npy(np.zeros((1025, 543, 3), np.float32))),
    "npy infinity": (NPY_TYPE, _npy(np.where(np.isnan(SEQUENCE), np.nan, np.inf).astype(np.float32))),
    "parquet garbage": ("application/vnd.apache.parquet", b"PAR1" + bytes(200) + b"PAR1"),
}


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--bad-share", type=float, default=0.2, help="share of corrupted requests (0..1)")
    parser.add_argument("--json-share", type=float, default=0.2, help="share of valid requests sent as JSON")
    parser.add_argument("--api-key", default="", help="X-API-Key header, if the server wants one")


@events.init.add_listener
def _guard(environment, **_kwargs) -> None:
    """Loopback only, and never an unbounded run."""
    options = environment.parsed_options
    host = urlparse(environment.host or "").hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        sys.exit(
            f"locustfile: --host must be a loopback address such as http://127.0.0.1:8000, got {environment.host!r}"
        )
    if options is not None and not options.run_time:
        options.run_time = DEFAULT_RUN_TIME_S


class PredictUser(FastHttpUser):
    wait_time = between(0.0, 0.01)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.bad_share = getattr(options, "bad_share", 0.2)
        self.json_share = getattr(options, "json_share", 0.2)
        key = getattr(options, "api_key", "")
        self.auth = {"X-API-Key": key} if key else {}
        self.rng = random.Random()

    @task
    def predict(self) -> None:
        if self.rng.random() < self.bad_share:
            kind = self.rng.choice(list(BAD_BODIES))
            content_type, body = BAD_BODIES[kind]
            self._post(f"/predict [{BAD}]", content_type, body, expect_ok=False, kind=kind)
        elif self.rng.random() < self.json_share:
            self._post(f"/predict [{VALID} json]", JSON_TYPE, JSON_BODY, expect_ok=True)
        else:
            self._post(f"/predict [{VALID} npy]", NPY_TYPE, NPY_BODY, expect_ok=True)

    def _post(self, name: str, content_type: str, body: bytes, expect_ok: bool, kind: str = "") -> None:
        headers = {"Content-Type": content_type, **self.auth}
        with self.client.post("/predict", data=body, headers=headers, name=name, catch_response=True) as response:
            status = response.status_code or 0
            if expect_ok:
                if status != 200:
                    response.failure(f"valid request got {status}: {response.text[:200] if response.text else ''}")
                return
            try:
                detail = response.json().get("detail") if response.text else None
            except ValueError:
                detail = None
            if not (400 <= status < 500 and isinstance(detail, str)):
                response.failure(f"corrupted request ({kind}) got {status} instead of a 4xx with a detail")
            else:
                response.success()


@events.quitting.add_listener
def _summary(environment, **_kwargs) -> None:
    stats = environment.stats
    print("\npose2gloss load test summary")
    print(f"{'requests':<28}{'count':>8}{'fail':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    failed = 0
    for name, entry in sorted(stats.entries.items()):
        label = name[0]
        print(
            f"{label:<28}{entry.num_requests:>8}{entry.num_failures:>7}{entry.total_rps:>8.1f}"
            f"{entry.get_response_time_percentile(0.5):>9.0f}{entry.get_response_time_percentile(0.95):>9.0f}"
            f"{entry.get_response_time_percentile(0.99):>9.0f}{entry.max_response_time or 0:>9.0f}"
        )
        failed += entry.num_failures
    total = stats.total
    print(
        f"{'all':<28}{total.num_requests:>8}{total.num_failures:>7}{total.total_rps:>8.1f}"
        f"{total.get_response_time_percentile(0.5):>9.0f}{total.get_response_time_percentile(0.95):>9.0f}"
        f"{total.get_response_time_percentile(0.99):>9.0f}{total.max_response_time or 0:>9.0f}"
    )
    for error in stats.errors.values():
        print(f"  {error.occurrences} x {error.name}: {error.error}")
    if failed or total.num_requests == 0:
        environment.process_exit_code = 1
