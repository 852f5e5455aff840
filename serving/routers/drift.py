"""Input monitoring: recent requests against the training data (``GET /metrics`` has the same as gauges)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from serving.dependencies import input_monitor
from serving.monitoring import InputMonitor

router = APIRouter(tags=["probes"])


@router.get(
    "/drift",
    summary="Recent inputs against the training data (PSI per feature group)",
    response_model=dict[str, Any],
)
def drift(monitor: Annotated[InputMonitor, Depends(input_monitor)]) -> dict[str, Any]:
    """The last POSE2GLOSS_DRIFT_WINDOW requests' profiles compared with the bundle's reference.

    ``status``: ``ok``, ``drift`` (score above threshold; ``reasons`` says what differs),
    ``collecting`` (fewer than ``min_requests`` so far) or ``unavailable`` (no reference).
    """
    return monitor.report()
