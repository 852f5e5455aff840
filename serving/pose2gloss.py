"""pose2gloss server: MediaPipe landmark sequences in, ASL glosses out (FastAPI + LiteRT).

Run it with ``uvicorn serving.pose2gloss:app`` or ``python serving/pose2gloss.py --help``.
Settings come from ``POSE2GLOSS_*`` variables (see ``serving/settings.py`` and ``serving/README.md``).

Endpoints: ``GET /health`` (alive), ``GET /ready`` (model loaded, with its metadata),
``GET /model`` (the model card and gloss list), ``POST /predict`` (one sequence as JSON, ``.npy``,
Kaggle parquet or a multipart upload), ``POST /predict/batch`` (JSON or ``.npz``),
``GET /drift`` (recent inputs against the training data), ``GET /metrics`` (Prometheus) and ``/docs``.
Each group is a router of :mod:`serving.routers`; this module builds the app around them.

The model is loaded once, in the lifespan. Decoding and inference run on a small pool of
threads of their own (one per core by default), each with its own LiteRT interpreter
(:class:`pose2gloss.bundle.tflite.TFLiteClassifier`), so the event loop stays free for I/O and
the number of interpreters stays bounded.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # `python serving/pose2gloss.py`: this folder would shadow the pose2gloss library
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import logging
import os
import socket
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry

from pose2gloss import __version__
from serving.decode import InputError
from serving.dependencies import API_KEY_HEADER
from serving.middleware import BodyLimitMiddleware, input_error, validation_error
from serving.model_source import ModelUnavailable, ServedModel, load_model
from serving.monitoring import InputMonitor, Metrics, instrument
from serving.routers import routers
from serving.schemas import bound_top_k_by_model
from serving.settings import Settings

log = logging.getLogger("uvicorn.error.pose2gloss")  # shown with uvicorn's own log lines

SUMMARY = "MediaPipe Holistic landmark sequences -> ASL glosses (isolated signs, Kaggle GISLR layout)."
DESCRIPTION = (
    "Send one sequence of MediaPipe Holistic landmarks (543 points per frame: face, left hand, pose, "
    "right hand; x, y, z image-normalised) and get the most likely glosses. JSON is simplest; `.npy` "
    "(float32, NaN for missing points) is ~40× cheaper to decode. The gloss names come with the model. "
    f"When `POSE2GLOSS_API_KEY` is set, `/predict*` need the `{API_KEY_HEADER}` header."
)


def create_app(settings: Settings | None = None, served: ServedModel | None = None) -> FastAPI:
    """Build the app; the model is loaded in the lifespan unless ``served`` is given."""
    settings = settings or Settings.from_env()
    settings.check()
    registry = CollectorRegistry(auto_describe=True)
    metrics = Metrics(registry)
    monitor = InputMonitor(registry, settings.drift_window, settings.drift_threshold, settings.drift_log)
    app = FastAPI(
        title="pose2gloss",
        version=__version__,
        summary=SUMMARY,
        description=DESCRIPTION,
        lifespan=partial(lifespan, served=served),
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.monitor = monitor
    app.state.model = None
    app.state.not_ready = "model not loaded yet"
    app.exception_handler(InputError)(input_error)
    app.exception_handler(RequestValidationError)(validation_error)
    for router in routers(settings):
        app.include_router(router)
    bound_top_k_by_model(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        on_reject=lambda: metrics.rejected.labels("too_large").inc(),
    )
    instrument(app, registry)  # last: /metrics ends the schema, its middleware wraps the body limit
    return app


@asynccontextmanager
async def lifespan(app: FastAPI, served: ServedModel | None = None) -> AsyncIterator[None]:
    """Load the model (unless ``served`` is given) and run the inference threads for the app's life.

    A model that cannot be loaded from ClearML leaves the app up but unready, with the reason;
    with no model anywhere, start-up fails.
    """
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    monitor: InputMonitor = app.state.monitor
    try:
        model = served or await run_in_threadpool(load_model, settings)
    except ModelUnavailable as err:  # up but unready: /ready says why, and so does the log
        log.error("not ready: %s", err)
        app.state.not_ready = str(err)
        model = None
    app.state.model = model
    app.state.executor = ThreadPoolExecutor(
        settings.inference_threads or os.cpu_count() or 1, thread_name_prefix="pose2gloss-infer"
    )
    metrics.ready.set(model is not None)
    if model is not None:
        metrics.model.labels(model.model_id, model.source).set(1)
        try:
            monitor.load(model.bundle.reference_path)
        except (OSError, ValueError, KeyError) as err:  # a bad reference costs the monitoring, not the serving
            monitor.unavailable = f"reference profile unreadable: {err}"
            log.error("drift monitoring off: %s", monitor.unavailable)
        log.info(
            "serving model %s (%d glosses) from %s: %s",
            model.model_id,
            len(model.signs),
            model.source,
            model.location,
        )
    yield
    metrics.ready.set(0)
    app.state.executor.shutdown(wait=True)
    app.state.model = None
    monitor.close()


app = create_app()


def main(argv: list[str] | None = None) -> int:
    """``python serving/pose2gloss.py``: start uvicorn; flags override the POSE2GLOSS_* variables."""
    defaults = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="bundle folder or .tflite file (POSE2GLOSS_MODEL)")
    parser.add_argument("--host", default=defaults.host, help="address to bind (POSE2GLOSS_HOST)")
    parser.add_argument("--port", type=int, default=defaults.port, help="port (POSE2GLOSS_PORT)")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="processes (POSE2GLOSS_WORKERS)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    if args.model:
        os.environ["POSE2GLOSS_MODEL"] = args.model  # read by the app in each worker process
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "serving.pose2gloss:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
    )
    if config.workers == 1:
        uvicorn.Server(config).run()
        return 0
    # uvicorn binds the shared socket of its workers with proto 0, so asyncio leaves Nagle on and
    # every keep-alive response waits ~40 ms for a delayed ACK (Kludex/uvicorn#3149). Bind it here.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.set_inheritable(True)
    log.warning("pose2gloss: %d workers on http://%s:%d", config.workers, args.host, args.port)
    Multiprocess(config, sockets=[sock]).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
