"""The served model's card and gloss list, so that a client can tell which model answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from serving.dependencies import current_model
from serving.model_source import ServedModel
from serving.schemas import ERROR_RESPONSES

router = APIRouter(tags=["probes"])


@router.get("/model", summary="The served model's card and gloss list", responses={503: ERROR_RESPONSES[503]})
def model_card(model: Annotated[ServedModel, Depends(current_model)]) -> dict[str, Any]:
    return {"model_id": model.model_id, "source": model.source, "card": model.bundle.card, "signs": model.signs}
