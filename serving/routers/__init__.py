"""The server's routes, one ``APIRouter`` per concern.

A module whose routes are the same whatever the settings exposes ``router``; one whose schema
depends on them (limits in the request bodies, the API key) exposes ``build_router(settings)``.
Routes reach the app's state through :mod:`serving.dependencies`, never through the app itself.
Route functions carry no docstrings unless meant for ``/docs``: FastAPI publishes them as the
operations' descriptions. A new concern is a new module here, listed in :func:`routers`.
"""

from __future__ import annotations

from fastapi import APIRouter

from serving.routers import drift, health, model, predict
from serving.settings import Settings


def routers(settings: Settings) -> list[APIRouter]:
    """Every router of the app, in the order of the OpenAPI schema (``/metrics`` follows them)."""
    return [health.router, drift.router, model.router, predict.build_router(settings)]
