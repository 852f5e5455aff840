"""What routes need of the app, as FastAPI dependencies.

``create_app`` and the lifespan keep the shared state on ``app.state`` (settings, metrics, the
input monitor, the model and the inference threads); routes take what they use from these
functions (with ``Depends``, or by calling them where the order of the checks matters) instead
of reaching into the app, so every router module stands on its own.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from serving.decode import InputError
from serving.inference import Predictor
from serving.model_source import ServedModel
from serving.monitoring import InputMonitor, Metrics
from serving.settings import Settings

API_KEY_HEADER = "X-API-Key"
API_KEY = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="the server's POSE2GLOSS_API_KEY")


def loaded_model(request: Request) -> ServedModel | None:
    """The served model; None while there is none (``not_ready_reason`` says why)."""
    return request.app.state.model


def not_ready_reason(request: Request) -> str:
    return request.app.state.not_ready


def current_model(request: Request) -> ServedModel:
    """The served model, or a 503 that says why there is none."""
    model = loaded_model(request)
    if model is None:
        raise InputError(f"not ready: {not_ready_reason(request)}", 503, "not_ready")
    return model


def server_settings(request: Request) -> Settings:
    return request.app.state.settings


def server_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def input_monitor(request: Request) -> InputMonitor:
    return request.app.state.monitor


def predictor(request: Request) -> Predictor:
    """The served model (or a 503) with the app's limits, default ``top_k``, metrics, drift window and threads.

    The predict routes call it first thing instead of declaring it with ``Depends``: a dependency
    runs before FastAPI validates the query, and a bad ``top_k`` is a 422 even while unready.
    """
    state = request.app.state
    return Predictor(
        current_model(request),
        state.settings.limits,
        state.settings.top_k,
        state.metrics,
        state.monitor,
        state.executor,
    )


async def require_api_key(request: Request, key: Annotated[str | None, Security(API_KEY)] = None) -> None:
    """Refuse the request unless it carries the configured key (compared in constant time)."""
    expected = server_settings(request).api_key.encode()
    if expected and not (key and secrets.compare_digest(key.encode(), expected)):
        raise InputError(f"missing or wrong {API_KEY_HEADER} header", 401, "api_key")
