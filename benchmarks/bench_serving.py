"""Serving latency and throughput, side by side, in one short run.

Rows: the bare LiteRT invoke; input decoding (JSON and .npy); the app in-process (ASGI, no
network); the real uvicorn server over loopback HTTP with JSON and with .npy bodies, at a few
concurrency levels. Each row gives p50/p99 latency, requests/s and errors, and the run ends with
the goals of the serving issue checked against the numbers:

* HTTP p50 (one client) <= 2 x (bare invoke + input decode), per body form;
* >= 200 requests/s with HTTP p99 < 50 ms (.npy body) at some concurrency level, and 0 errors in every row.
  On 2 cores more clients than that only queue: at c clients p99 is about c / throughput (Little's law).

Usage (a few seconds per row; the server and the client share this machine's cores)::

    python benchmarks/bench_serving.py                      # model: runs/production.json, else a fresh GISLR model
    python benchmarks/bench_serving.py --model runs/bundle --seconds 3 --concurrency 1 4 16 --out bench.json
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import orjson  # noqa: E402

from pose2gloss.bundle.files import production_bundle_dir  # noqa: E402
from serving.decode import Limits, decode_json, decode_npy  # noqa: E402

FRAMES = 64


@dataclass
class Row:
    what: str
    form: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def summarise(what: str, form: str, concurrency: int, latencies: list[float], errors: int, seconds: float) -> Row:
    ms = np.asarray(latencies) * 1000.0 if latencies else np.asarray([np.nan])
    return Row(
        what,
        form,
        concurrency,
        len(latencies),
        errors,
        seconds,
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 99)),
    )


def time_calls(fn: Callable[[], object], seconds: float) -> list[float]:
    for _ in range(5):
        fn()
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        latencies.append(time.perf_counter() - start)
    return latencies


# ---------------------------------------------------------------------------------------------
# Inputs and model


def sample_sequence() -> np.ndarray:
    """A 64-frame synthetic GISLR sequence (real value ranges, missing hands as NaN)."""
    from pose2gloss.data.gislr import load_sequence
    from pose2gloss.data.synthetic import generate_sample

    with tempfile.TemporaryDirectory() as tmp:
        generate_sample(tmp, n_signs=1, n_participants=1, sequences_per_sign=1, seed=0)
        sequence = load_sequence(next(Path(tmp).rglob("*.parquet")))
    index = np.linspace(0, len(sequence) - 1, FRAMES).round().astype(int)
    return np.ascontiguousarray(sequence[index])


def find_or_build_model(model: str | None, workdir: Path) -> Path:
    if model:
        return Path(model)
    pointed = production_bundle_dir(ROOT / "runs")
    if pointed is not None and pointed.is_dir():
        return pointed
    print("no --model and no runs/production.json: exporting an untrained GISLR model with default parameters")
    import keras

    from pose2gloss.bundle.export import export_bundle
    from pose2gloss.data.signs import GISLR_SIGNS
    from pose2gloss.preprocessing.features import FeatureConfig
    from pose2gloss.training.registry import build_model

    features = FeatureConfig()
    keras.utils.set_random_seed(0)
    net = build_model("GISLR", (features.max_len, features.n_features), len(GISLR_SIGNS))
    return export_bundle(
        net,
        features,
        workdir / "bundle",
        {s: i for i, s in enumerate(GISLR_SIGNS)},
        {"model_id": "bench-untrained-gislr"},
    )


# ---------------------------------------------------------------------------------------------
# In-process: the ASGI app without a network


def bench_in_process(
    bundle: Path, bodies: dict[str, tuple[bytes, str]], seconds: float, levels: list[int]
) -> list[Row]:
    import httpx

    from serving.model_source import load_path
    from serving.pose2gloss import create_app
    from serving.settings import Settings

    app = create_app(Settings(model=str(bundle)), served=load_path(bundle, "bench"))

    async def load(client, body: bytes, headers: dict[str, str], level: int) -> tuple[list[float], int, float]:
        latencies: list[float] = []
        failures = [0]
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.post("/predict", content=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                failures[0] += response.status_code != 200

        for _ in range(3):
            await client.post("/predict", content=body, headers=headers)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(level)))
        return latencies, failures[0], time.perf_counter() - started

    async def run() -> list[Row]:
        rows = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for form, (body, content_type) in bodies.items():
                    for level in levels:
                        latencies, errors, elapsed = await load(client, body, {"content-type": content_type}, level)
                        rows.append(summarise("app in-process", form, level, latencies, errors, elapsed))
        return rows

    return asyncio.run(run())


# ---------------------------------------------------------------------------------------------
# Over HTTP: a real uvicorn process, clients on raw keep-alive connections (light on CPU)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(bundle: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "POSE2GLOSS_MODEL": str(bundle), "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        str(ROOT / "serving" / "pose2gloss.py"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"uvicorn exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/ready")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("uvicorn did not become ready")


def http_load(
    port: int, body: bytes, content_type: str, concurrency: int, seconds: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)
    stop = [0.0]

    def worker() -> None:
        nonlocal errors
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": content_type}
        mine, bad = [], 0
        for _ in range(3):  # warm up the connection and the server thread's interpreter
            connection.request("POST", "/predict", body, headers)
            connection.getresponse().read()
        barrier.wait()
        while time.perf_counter() < stop[0]:
            start = time.perf_counter()
            try:
                connection.request("POST", "/predict", body, headers)
                response = connection.getresponse()
                response.read()
                bad += response.status != 200
            except OSError:
                bad += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    stop[0] = time.perf_counter() + 3600
    barrier.wait()
    started = time.perf_counter()
    stop[0] = started + seconds
    for thread in threads:
        thread.join()
    return latencies, errors, time.perf_counter() - started


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="bundle folder (default: runs/production.json, else a fresh GISLR model)")
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each row")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        bundle = find_or_build_model(args.model, Path(tmp))
        from pose2gloss.bundle.tflite import TFLiteClassifier

        sequence = sample_sequence()
        json_body = orjson.dumps({"landmarks": np.where(np.isnan(sequence), None, sequence).tolist()})
        buffer = io.BytesIO()
        np.save(buffer, sequence)
        npy_body = buffer.getvalue()
        bodies = {"json": (json_body, "application/json"), "npy": (npy_body, "application/x-npy")}
        limits = Limits()
        print(
            f"model {bundle}; {FRAMES} frames: JSON body {len(json_body) / 1e6:.2f} MB, .npy body "
            f"{len(npy_body) / 1e6:.2f} MB; {os.cpu_count()} CPUs",
            flush=True,
        )

        classifier = TFLiteClassifier(bundle / "model.tflite")
        rows = [
            summarise(
                "bare invoke",
                "-",
                1,
                lat := time_calls(lambda: classifier.predict(sequence), args.seconds),
                0,
                sum(lat),
            )
        ]
        decoders = {"json": lambda: decode_json(json_body, limits), "npy": lambda: decode_npy(npy_body, limits)}
        for form, decode in decoders.items():
            lat = time_calls(decode, args.seconds)
            rows.append(summarise("decode", form, 1, lat, 0, sum(lat)))
        rows += bench_in_process(bundle, bodies, args.seconds, [1, 4])

        port = free_port()
        server = start_server(bundle, port, args.workers)
        try:
            for form, (body, content_type) in bodies.items():
                for level in args.concurrency:
                    latencies, errors, elapsed = http_load(port, body, content_type, level, args.seconds)
                    rows.append(
                        summarise(f"uvicorn HTTP (workers={args.workers})", form, level, latencies, errors, elapsed)
                    )
                    print(f"  {form} c={level}: done", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=20)

    print()
    print("| what | body | concurrency | requests | errors | req/s | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.what} | {row.form} | {row.concurrency} | {row.requests} | {row.errors} | {row.rps:.0f} | "
            f"{row.p50_ms:.2f} | {row.p99_ms:.2f} |"
        )
    print()
    ok = report_goals(rows)
    if args.out:
        args.out.write_text(json.dumps([{**asdict(r), "rps": r.rps} for r in rows], indent=2))
    return 0 if ok else 1


def report_goals(rows: list[Row]) -> bool:
    def find(what: str, form: str, level: int | None = None) -> Row:
        return next(
            r for r in rows if r.what.startswith(what) and r.form == form and (level is None or r.concurrency == level)
        )

    invoke = find("bare invoke", "-").p50_ms
    results = []
    for form in ("json", "npy"):
        budget = 2 * (invoke + find("decode", form).p50_ms)
        http1 = find("uvicorn", form, 1).p50_ms
        results.append(
            (f"HTTP p50 {form}, 1 client: {http1:.2f} ms <= 2 x (invoke + decode) = {budget:.2f} ms", http1 <= budget)
        )
    errors = sum(r.errors for r in rows)
    results.append((f"{errors} errors in all rows", errors == 0))
    good = [
        r.concurrency
        for r in rows
        if r.what.startswith("uvicorn") and r.form == "npy" and r.rps >= 200 and r.p99_ms < 50
    ]
    results.append((f"npy: >= 200 req/s with p99 < 50 ms at concurrency {good or 'none'}", bool(good)))
    for text, passed in results:
        print(f"{'PASS' if passed else 'MISS'}  {text}")
    return all(passed for _, passed in results)


if __name__ == "__main__":
    raise SystemExit(main())
