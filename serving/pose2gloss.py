"""pose2gloss server: MediaPipe landmark sequences in, ASL glosses out (FastAPI + LiteRT).

Run it with ``uvicorn serving.pose2gloss:app`` or ``python serving/pose2gloss.py --help``.
Settings come from ``POSE2GLOSS_*`` variables (see ``serving/settings.py`` and ``serving/README.md``).

Endpoints: ``GET /health`` (alive), ``GET /ready`` (model loaded, with its metadata),
``GET /model`` (the model card and gloss list), ``POST /predict`` (one sequence as JSON, ``.npy``,
Kaggle parquet or a multipart upload), ``POST /predict/batch`` (JSON or ``.npz``),
``GET /drift`` (recent inputs against the training data), ``GET /metrics`` (Prometheus) and ``/docs``.

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
import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.security import APIKeyHeader
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pose2gloss import __version__
from pose2gloss.preprocessing.landmarks import N_COORDS, N_LANDMARKS
from serving.decode import Decoded, InputError, Limits, decode_json, decode_npy, decode_npz, decode_parquet, sniff_file
from serving.model_source import ModelUnavailable, ServedModel, load_model
from serving.monitoring import InputMonitor
from serving.settings import Settings

log = logging.getLogger("uvicorn.error.pose2gloss")  # shown with uvicorn's own log lines

API_KEY_HEADER = "X-API-Key"
JSON_TYPES = ("application/json",)
NPY_TYPES = ("application/x-npy", "application/octet-stream")
NPZ_TYPES = ("application/x-npz", "application/zip")
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")
MULTIPART = "multipart/form-data"


# ---------------------------------------------------------------------------------------------
# Response models (what /docs shows)


class Prediction(BaseModel):
    gloss: str = Field(examples=["hello"])
    score: float = Field(description="probability of the gloss", examples=[0.91])


class PredictResponse(BaseModel):
    model_id: str
    predictions: list[Prediction] = Field(description="top-k glosses, best first")
    frames: int = Field(description="frames received")
    inference_ms: float = Field(description="time in the interpreter")


class SequenceResult(BaseModel):
    predictions: list[Prediction]
    frames: int


class BatchResponse(BaseModel):
    model_id: str
    results: list[SequenceResult] = Field(description="one per sequence, in the order sent")
    inference_ms: float = Field(description="time in the interpreter for the whole batch")


class Ready(BaseModel):
    ready: bool
    model_id: str
    source: str = Field(description="POSE2GLOSS_MODEL, clearml or runs/production.json")
    location: str
    model_file: str
    created: str | None
    num_classes: int
    fallback_reason: str | None = Field(
        None, description="why the local model is served instead of ClearML's (POSE2GLOSS_MODEL_FALLBACK=local)"
    )


class NotReady(BaseModel):
    ready: bool = Field(examples=[False])
    reason: str = Field(examples=["ClearML model lookup failed: ConnectionError: ..."])


class Problem(BaseModel):
    detail: str = Field(examples=["landmarks[0]: expected 543 landmarks per frame, got 542"])


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "body cannot be parsed (empty, not JSON, corrupt file)"},
    401: {"model": Problem, "description": "missing or wrong X-API-Key"},
    413: {"model": Problem, "description": "body larger than POSE2GLOSS_MAX_BODY_BYTES"},
    415: {"model": Problem, "description": "unsupported Content-Type"},
    422: {"model": Problem, "description": "parsed, but not a valid landmark sequence; the message says where"},
    503: {"model": Problem, "description": "no model loaded (GET /ready says why)"},
}


def _example_frame() -> list[list[float | None]]:
    """One plausible frame: a grid of points, the left hand missing (null)."""
    frame: list[list[float | None]] = []
    for i in range(N_LANDMARKS):
        if 468 <= i < 489:
            frame.append([None, None, None])
        else:
            frame.append([round(0.3 + 0.4 * (i % 23) / 23, 4), round(0.2 + 0.6 * (i // 23) / 24, 4), 0.0])
    return frame


def _landmarks_schema(limits: Limits) -> dict[str, Any]:
    """Exactly what the JSON decoder accepts, limits included; at least one point must be present."""
    coordinate = {"type": ["number", "null"], "minimum": -limits.max_abs_coord, "maximum": limits.max_abs_coord}
    present = {"type": "array", "contains": {"type": "array", "contains": {"type": "number"}}}
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": limits.max_frames,
        "contains": present,
        "description": f"frames × {N_LANDMARKS} landmarks × [x, y, z]; null for a missing point, not all missing",
        "items": {
            "type": "array",
            "minItems": N_LANDMARKS,
            "maxItems": N_LANDMARKS,
            "items": {"type": "array", "minItems": N_COORDS, "maxItems": N_COORDS, "items": coordinate},
        },
    }


def _binary(description: str) -> dict[str, Any]:
    return {"schema": {"type": "string", "format": "binary", "description": description}}


_TOP_K_SCHEMA = {
    "type": ["integer", "null"],
    "minimum": 1,
    "description": "number of glosses to return; null or absent: the query's top_k, else the server's default",
}


def _predict_body(limits: Limits) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["landmarks"],
                        "additionalProperties": False,
                        "properties": {"landmarks": _landmarks_schema(limits), "top_k": _TOP_K_SCHEMA},
                    },
                    "examples": {
                        "one frame": {
                            "summary": "one frame, left hand missing",
                            "value": {"landmarks": [_example_frame()], "top_k": 3},
                        }
                    },
                },
                "application/x-npy": _binary("numpy.save(f, float32 array (frames, 543, 3)), NaN = missing"),
                "application/vnd.apache.parquet": _binary("one Kaggle GISLR sequence file"),
                MULTIPART: {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": ".npy, .parquet or .json file",
                            }
                        },
                    }
                },
            },
        }
    }


def _batch_body(limits: Limits) -> dict[str, Any]:
    item = {
        "type": "object",
        "required": ["landmarks"],
        "additionalProperties": False,
        "properties": {"landmarks": _landmarks_schema(limits)},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["sequences"],
                        "additionalProperties": False,
                        "properties": {
                            "sequences": {"type": "array", "minItems": 1, "maxItems": limits.max_batch, "items": item},
                            "top_k": _TOP_K_SCHEMA,
                        },
                    },
                    "examples": {
                        "two sequences": {
                            "value": {
                                "sequences": [{"landmarks": [_example_frame()]}, {"landmarks": [_example_frame()] * 2}],
                                "top_k": 2,
                            }
                        }
                    },
                },
                "application/x-npz": _binary("numpy.savez(f, *arrays): each (frames, 543, 3)"),
            },
        }
    }


# ---------------------------------------------------------------------------------------------
# Metrics


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


# ---------------------------------------------------------------------------------------------
# Request-size limit


class BodyLimitMiddleware:
    """Answer 413 to bodies over ``max_bytes``, by Content-Length or by counting a streamed body.

    A Content-Length check alone is bypassed by chunked uploads, so this also wraps ``receive``
    and stops reading at the limit. (FastAPI 0.165's own ``max_body_size`` does both too, but for
    an over-long Content-Length it replaces whatever response the app sends with a plain-text
    "Content Too Large"; this keeps every error in the same JSON ``{"detail": ...}`` form and
    answers before reading a byte of the body.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int, on_reject: Callable[[], None] = lambda: None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except InputError as err:  # raised while reading, outside a route's exception handlers
            if started or err.status != 413:
                raise
            await self._reject(scope, send)

    def _error(self) -> InputError:
        return InputError(f"body larger than {self.max_bytes} bytes (POSE2GLOSS_MAX_BODY_BYTES)", 413, "too_large")

    async def _reject(self, scope: Scope, send: Send) -> None:
        self.on_reject()
        response = JSONResponse({"detail": self._error().message}, status_code=413, headers={"Connection": "close"})
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


# ---------------------------------------------------------------------------------------------
# The app


def create_app(settings: Settings | None = None, served: ServedModel | None = None) -> FastAPI:
    """Build the app; the model is loaded in the lifespan unless ``served`` is given."""
    settings = settings or Settings.from_env()
    settings.check()
    limits = Limits(settings.max_frames, settings.max_batch, settings.max_abs_coord, settings.max_body_bytes)
    registry = CollectorRegistry(auto_describe=True)
    metrics = Metrics(registry)
    monitor = InputMonitor(registry, settings.drift_window, settings.drift_threshold, settings.drift_log)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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

    app = FastAPI(
        title="pose2gloss",
        version=__version__,
        summary="MediaPipe Holistic landmark sequences -> ASL glosses (isolated signs, Kaggle GISLR layout).",
        description=(
            "Send one sequence of MediaPipe Holistic landmarks (543 points per frame: face, left hand, pose, "
            "right hand; x, y, z image-normalised) and get the most likely glosses. JSON is simplest; `.npy` "
            "(float32, NaN for missing points) is ~40× cheaper to decode. The gloss names come with the model. "
            f"When `POSE2GLOSS_API_KEY` is set, `/predict*` need the `{API_KEY_HEADER}` header."
        ),
        lifespan=lifespan,
    )
    app.state.model = None
    app.state.not_ready = "model not loaded yet"
    app.state.settings = settings

    def current_model(request: Request) -> ServedModel:
        model = request.app.state.model
        if model is None:
            raise InputError(f"not ready: {request.app.state.not_ready}", 503, "not_ready")
        return model

    @app.exception_handler(InputError)
    async def input_error(request: Request, err: InputError) -> JSONResponse:
        metrics.rejected.labels(err.reason).inc()
        headers = {"WWW-Authenticate": "ApiKey"} if err.status == 401 else None
        return JSONResponse({"detail": err.message}, status_code=err.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        metrics.rejected.labels("parameter").inc()
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    # The key is declared in the OpenAPI schema (as required) only when one is configured.
    key_check = [Depends(require_api_key)] if settings.api_key else []
    error_responses = {code: doc for code, doc in ERROR_RESPONSES.items() if code != 401 or settings.api_key}

    def top_predictions(model: ServedModel, scores: np.ndarray, k: int) -> list[Prediction]:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)  # the model's probabilities, served as they are
        if not np.isfinite(scores).all():
            raise RuntimeError(f"model {model.model_id} produced non-finite scores")
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        metrics.predictions.labels(model.signs[best[0]]).inc()
        return [Prediction(gloss=model.signs[i], score=float(scores[i])) for i in best]

    def run(model: ServedModel, sequences: list[np.ndarray], k: int) -> tuple[list[SequenceResult], float]:
        """Predict each sequence and add its profile to the drift window (tens of microseconds, on this thread)."""
        results, total = [], 0.0
        for sequence in sequences:
            start = time.perf_counter()
            scores = model.classifier.predict(sequence)
            elapsed = time.perf_counter() - start
            metrics.inference.observe(elapsed)
            total += elapsed
            predictions = top_predictions(model, scores, k)
            monitor.observe(sequence, predictions[0].score)
            results.append(SequenceResult(predictions=predictions, frames=len(sequence)))
        return results, total * 1000.0

    def pick_top_k(model: ServedModel, body_k: int | None, query_k: int | None) -> int:
        """The body's ``top_k``, else the query's, else the default; a bad query value is refused either way."""
        if query_k is not None:
            _check_k(query_k, model)
        return _check_k(body_k or query_k or settings.top_k, model)

    async def read_body(request: Request, kinds: tuple[tuple[str, ...], ...]) -> tuple[str, bytes]:
        """The media type (checked against ``kinds`` before reading) and the body bytes."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        accepted = [t for group in kinds for t in group]
        if media not in accepted:
            shown = f"Content-Type {media!r}" if media else "no Content-Type"
            raise InputError(f"{shown} not supported; send one of {accepted}", 415, "content_type")
        if media == MULTIPART:
            form = await request.form(max_files=1, max_fields=4)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InputError('multipart body needs one file field named "file"', 422, "field")
            return media, await upload.read()
        return media, await request.body()

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/health", tags=["probes"], summary="Liveness: the process answers")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["probes"],
        summary="Readiness: the model is loaded",
        response_model=Ready,
        responses={503: {"model": NotReady, "description": "no model loaded, and why"}},
    )
    def ready(request: Request) -> Ready | JSONResponse:
        model = request.app.state.model
        if model is None:
            return JSONResponse({"ready": False, "reason": request.app.state.not_ready}, status_code=503)
        return Ready(
            ready=True,
            model_id=model.model_id,
            source=model.source,
            location=model.location,
            model_file=model.model_file.name,
            created=model.created,
            num_classes=len(model.signs),
            fallback_reason=model.fallback_reason,
        )

    @app.get(
        "/drift",
        tags=["probes"],
        summary="Recent inputs against the training data (PSI per feature group)",
        response_model=dict[str, Any],
    )
    def drift() -> dict[str, Any]:
        """The last POSE2GLOSS_DRIFT_WINDOW requests' profiles compared with the bundle's reference.

        ``status``: ``ok``, ``drift`` (score above threshold; ``reasons`` says what differs),
        ``collecting`` (fewer than ``min_requests`` so far) or ``unavailable`` (no reference).
        """
        return monitor.report()

    @app.get(
        "/model",
        tags=["probes"],
        summary="The served model's card and gloss list",
        responses={503: ERROR_RESPONSES[503]},
    )
    def model_card(request: Request) -> dict[str, Any]:
        model = current_model(request)
        return {"model_id": model.model_id, "source": model.source, "card": model.bundle.card, "signs": model.signs}

    @app.post(
        "/predict",
        tags=["predict"],
        summary="Glosses for one landmark sequence",
        response_model=PredictResponse,
        responses=error_responses,
        openapi_extra=_predict_body(limits),
        dependencies=key_check,
    )
    async def predict(
        request: Request, top_k: Annotated[int | None, Query(ge=1, description="glosses to return")] = None
    ) -> PredictResponse:
        model = current_model(request)
        media, body = await read_body(request, (JSON_TYPES, NPY_TYPES, PARQUET_TYPES, (MULTIPART,)))

        def work() -> PredictResponse:
            start = time.perf_counter()
            if media in JSON_TYPES:
                decoded = decode_json(body, limits)
            elif media in NPY_TYPES:
                decoded = Decoded([decode_npy(body, limits)])
            elif media in PARQUET_TYPES:
                decoded = Decoded([decode_parquet(body, limits)])
            else:
                found = sniff_file(body, limits)
                decoded = found if isinstance(found, Decoded) else Decoded([found])
            metrics.decode.labels(media.split("/")[-1]).observe(time.perf_counter() - start)
            k = pick_top_k(model, decoded.top_k, top_k)
            results, ms = run(model, decoded.sequences, k)
            return PredictResponse(
                model_id=model.model_id,
                predictions=results[0].predictions,
                frames=results[0].frames,
                inference_ms=round(ms, 3),
            )

        return await asyncio.get_running_loop().run_in_executor(request.app.state.executor, work)

    @app.post(
        "/predict/batch",
        tags=["predict"],
        summary="Glosses for several sequences",
        response_model=BatchResponse,
        responses=error_responses,
        openapi_extra=_batch_body(limits),
        dependencies=key_check,
    )
    async def predict_batch(
        request: Request, top_k: Annotated[int | None, Query(ge=1, description="glosses per sequence")] = None
    ) -> BatchResponse:
        model = current_model(request)
        media, body = await read_body(request, (JSON_TYPES, NPZ_TYPES))

        def work() -> BatchResponse:
            start = time.perf_counter()
            decoded = decode_json(body, limits, batch=True) if media in JSON_TYPES else decode_npz(body, limits)
            metrics.decode.labels(media.split("/")[-1]).observe(time.perf_counter() - start)
            k = pick_top_k(model, decoded.top_k, top_k)
            results, ms = run(model, decoded.sequences, k)
            return BatchResponse(model_id=model.model_id, results=results, inference_ms=round(ms, 3))

        return await asyncio.get_running_loop().run_in_executor(request.app.state.executor, work)

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, with ``top_k`` bounded by the loaded model's number of glosses."""
        schema = default_openapi()
        if app.state.model is not None:
            _bound_top_k(schema["paths"], len(app.state.model.signs))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        on_reject=lambda: metrics.rejected.labels("too_large").inc(),
    )
    Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"], registry=registry).instrument(
        app,
        latency_highr_buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        latency_lowr_buckets=(0.01, 0.1, 1),
    ).expose(
        app, include_in_schema=True, tags=["probes"], summary="Prometheus metrics", response_class=PlainTextResponse
    )
    return app


API_KEY = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="the server's POSE2GLOSS_API_KEY")


async def require_api_key(request: Request, key: Annotated[str | None, Security(API_KEY)] = None) -> None:
    """Refuse the request unless it carries the configured key (compared in constant time)."""
    expected = request.app.state.settings.api_key.encode()
    if expected and not (key and secrets.compare_digest(key.encode(), expected)):
        raise InputError(f"missing or wrong {API_KEY_HEADER} header", 401, "api_key")


def _bound_top_k(node: Any, maximum: int) -> None:
    """Give every ``top_k`` (query parameter or body field) under ``node`` its maximum."""
    if isinstance(node, list):
        for item in node:
            _bound_top_k(item, maximum)
        return
    if not isinstance(node, dict):
        return
    targets = [node["schema"]] if node.get("name") == "top_k" and "schema" in node else []
    targets += (
        [node["properties"]["top_k"]]
        if isinstance(node.get("properties"), dict) and "top_k" in node["properties"]
        else []
    )
    for target in targets:
        for option in [target, *target.get("anyOf", [])]:
            if "integer" in np.atleast_1d(option.get("type", [])):
                option["maximum"] = maximum
    for value in node.values():
        _bound_top_k(value, maximum)


def _check_k(k: int, model: ServedModel) -> int:
    if k > len(model.signs):
        raise InputError(f"top_k: {k} is more than the model's {len(model.signs)} glosses", reason="top_k")
    return k


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
