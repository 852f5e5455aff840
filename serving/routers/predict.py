"""Glosses for landmark sequences: ``POST /predict`` (one) and ``POST /predict/batch`` (several).

Built per app by :func:`build_router`: the request bodies the schema documents carry the
configured limits, and the routes need the API key only when one is configured.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile

from serving.decode import (
    Decoded,
    InputError,
    Limits,
    decode_json,
    decode_npy,
    decode_npz,
    decode_parquet,
    sniff_file,
)
from serving.dependencies import predictor, require_api_key
from serving.inference import Decoder
from serving.schemas import (
    JSON_TYPES,
    MULTIPART,
    NPY_TYPES,
    NPZ_TYPES,
    PARQUET_TYPES,
    BatchResponse,
    PredictResponse,
    SequenceResult,
    batch_body,
    error_responses,
    predict_body,
)
from serving.settings import Settings

ONE_SEQUENCE = (JSON_TYPES, NPY_TYPES, PARQUET_TYPES, (MULTIPART,))
SEVERAL_SEQUENCES = (JSON_TYPES, NPZ_TYPES)


def build_router(settings: Settings) -> APIRouter:
    """The prediction routes as ``settings`` document them: limits in the bodies, the key when one is set."""
    limits = settings.limits
    router = APIRouter(
        tags=["predict"],
        responses=error_responses(api_key=bool(settings.api_key)),
        # The key is declared in the OpenAPI schema (as required) only when one is configured.
        dependencies=[Depends(require_api_key)] if settings.api_key else [],
    )
    router.add_api_route(
        "/predict",
        predict,
        methods=["POST"],
        summary="Glosses for one landmark sequence",
        response_model=PredictResponse,
        openapi_extra=predict_body(limits),
    )
    router.add_api_route(
        "/predict/batch",
        predict_batch,
        methods=["POST"],
        summary="Glosses for several sequences",
        response_model=BatchResponse,
        openapi_extra=batch_body(limits),
    )
    return router


async def predict(
    request: Request, top_k: Annotated[int | None, Query(ge=1, description="glosses to return")] = None
) -> PredictResponse:
    model_id, results, ms = await _serve(request, ONE_SEQUENCE, decode_one, top_k)
    return PredictResponse(
        model_id=model_id, predictions=results[0].predictions, frames=results[0].frames, inference_ms=ms
    )


async def predict_batch(
    request: Request, top_k: Annotated[int | None, Query(ge=1, description="glosses per sequence")] = None
) -> BatchResponse:
    model_id, results, ms = await _serve(request, SEVERAL_SEQUENCES, decode_several, top_k)
    return BatchResponse(model_id=model_id, results=results, inference_ms=ms)


async def _serve(
    request: Request, kinds: tuple[tuple[str, ...], ...], decode: Decoder, top_k: int | None
) -> tuple[str, list[SequenceResult], float]:
    """What both routes do: the model (or a 503), the body, the predictions; with the model id and the ms."""
    served = predictor(request)
    media, body = await read_body(request, kinds)
    results, ms = await served.serve(media, body, decode, top_k)
    return served.model.model_id, results, round(ms, 3)


def decode_one(media: str, body: bytes, limits: Limits) -> Decoded:
    """One sequence in any of the forms of ``ONE_SEQUENCE``; an upload is recognised by its content."""
    if media in JSON_TYPES:
        return decode_json(body, limits)
    if media in NPY_TYPES:
        return Decoded([decode_npy(body, limits)])
    if media in PARQUET_TYPES:
        return Decoded([decode_parquet(body, limits)])
    found = sniff_file(body, limits)
    return found if isinstance(found, Decoded) else Decoded([found])


def decode_several(media: str, body: bytes, limits: Limits) -> Decoded:
    return decode_json(body, limits, batch=True) if media in JSON_TYPES else decode_npz(body, limits)


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
