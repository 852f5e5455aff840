"""What the API accepts and answers, as ``/docs`` shows it.

The response bodies are pydantic models. The request bodies are read by :mod:`serving.decode`
(several media types, each decoded by hand), so their schemas are written out here instead and
attached with ``openapi_extra``; they state the same limits the decoders enforce, which is what
lets a schema fuzzer tell accepted requests from refused ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, Field

from pose2gloss.preprocessing.landmarks import N_COORDS, N_LANDMARKS
from serving.decode import Limits

JSON_TYPES = ("application/json",)
NPY_TYPES = ("application/x-npy", "application/octet-stream")
NPZ_TYPES = ("application/x-npz", "application/zip")
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")
MULTIPART = "multipart/form-data"


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


def error_responses(api_key: bool) -> dict[int | str, dict[str, Any]]:
    """The refusals a prediction route documents; 401 only when a key is configured."""
    return {code: doc for code, doc in ERROR_RESPONSES.items() if code != 401 or api_key}


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


def predict_body(limits: Limits) -> dict[str, Any]:
    """``openapi_extra`` of ``POST /predict``: one sequence as JSON, ``.npy``, parquet or an upload."""
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


def batch_body(limits: Limits) -> dict[str, Any]:
    """``openapi_extra`` of ``POST /predict/batch``: several sequences as JSON or ``.npz``."""
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


def bound_top_k_by_model(app: FastAPI) -> None:
    """Make ``app`` serve FastAPI's schema with ``top_k`` bounded by the loaded model's number of glosses.

    The bound is known only once the lifespan has loaded the model, so it is added when the
    schema is asked for, not when the routes are declared.
    """
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = default_openapi()
        if app.state.model is not None:
            _bound_top_k(schema["paths"], len(app.state.model.signs))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


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
