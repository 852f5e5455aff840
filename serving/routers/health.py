"""Probes for the orchestrator: is the process alive, is a model loaded (and which)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, RedirectResponse

from serving.dependencies import loaded_model, not_ready_reason
from serving.model_source import ServedModel
from serving.schemas import NotReady, Ready

router = APIRouter(tags=["probes"])


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/docs")


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: the model is loaded",
    response_model=Ready,
    responses={503: {"model": NotReady, "description": "no model loaded, and why"}},
)
def ready(
    model: Annotated[ServedModel | None, Depends(loaded_model)], reason: Annotated[str, Depends(not_ready_reason)]
) -> Ready | JSONResponse:
    if model is None:
        return JSONResponse({"ready": False, "reason": reason}, status_code=503)
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
