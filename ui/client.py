"""Client of the pose2gloss server: landmarks as ``.npy`` to ``/predict``, readiness from ``/ready``,
whether recent inputs look like the training data from ``/drift``.

``.npy`` is what the client sends because the server decodes it ~100x faster than the same sequence
as JSON (see serving/README.md). Every failure becomes a :class:`ServerError` whose message says
what to do, so the page can show it instead of a traceback.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
import numpy as np

DEFAULT_URL = "http://127.0.0.1:8000"
API_KEY_HEADER = "X-API-Key"


class ServerError(RuntimeError):
    """The server could not answer a request; the message is meant for the user."""


@dataclass(frozen=True)
class GlossScore:
    gloss: str
    score: float


@dataclass(frozen=True)
class Prediction:
    glosses: list[GlossScore]  # best first
    model_id: str
    frames: int
    inference_ms: float
    round_trip_ms: float

    @property
    def top(self) -> GlossScore:
        return self.glosses[0]


@dataclass(frozen=True)
class ServerStatus:
    ready: bool
    message: str
    model_id: str | None = None


@dataclass(frozen=True)
class InputCheck:
    """What the server says of its recent inputs; ``message`` is for the page (empty: nothing to say)."""

    unlike_training: bool
    message: str = ""


@dataclass(frozen=True)
class ClientSettings:
    url: str = DEFAULT_URL
    api_key: str | None = None
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientSettings:
        """``POSE2GLOSS_SERVER_URL`` (default the local server) and ``POSE2GLOSS_API_KEY``."""
        env = os.environ if environ is None else environ
        return cls(
            url=env.get("POSE2GLOSS_SERVER_URL", "").strip() or DEFAULT_URL,
            api_key=env.get("POSE2GLOSS_API_KEY") or None,
        )


class PredictionClient:
    def __init__(self, settings: ClientSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.url = settings.url.rstrip("/")
        headers = {API_KEY_HEADER: settings.api_key} if settings.api_key else {}
        self._http = httpx.Client(base_url=self.url, timeout=settings.timeout_s, headers=headers, transport=transport)

    def close(self) -> None:
        self._http.close()

    def status(self) -> ServerStatus:
        """Whether ``/ready`` says a model is loaded; never raises."""
        try:
            response = self._http.get("/ready")
        except httpx.HTTPError as err:
            return ServerStatus(False, self._unreachable(err))
        body = _json(response)
        if response.status_code == 200 and body.get("ready", False):
            model_id = str(body.get("model_id", "?"))
            return ServerStatus(True, f"server ready at {self.url}: model {model_id}", model_id)
        reason = body.get("reason") or body.get("detail") or f"HTTP {response.status_code}"
        return ServerStatus(False, f"server at {self.url} is not ready: {reason}")

    def predict(self, landmarks: np.ndarray, top_k: int = 5) -> Prediction:
        """Top-k glosses of one ``(frames, 543, 3)`` sequence (NaN = missing point)."""
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(landmarks, dtype=np.float32))
        start = time.perf_counter()
        try:
            response = self._http.post(
                "/predict",
                params={"top_k": top_k},
                content=buffer.getvalue(),
                headers={"Content-Type": "application/x-npy"},
            )
        except httpx.HTTPError as err:
            raise ServerError(self._unreachable(err)) from err
        round_trip_ms = (time.perf_counter() - start) * 1000
        body = _json(response)
        if response.status_code == 401:
            raise ServerError(
                f"the server at {self.url} refused the API key: set POSE2GLOSS_API_KEY (or the key in the sidebar)"
            )
        if response.status_code == 503:
            raise ServerError(f"the server at {self.url} is not ready: {body.get('detail', 'no model loaded')}")
        if response.status_code != 200:
            raise ServerError(f"the server refused the sequence (HTTP {response.status_code}): {body.get('detail')}")
        try:
            glosses = [GlossScore(str(p["gloss"]), float(p["score"])) for p in body["predictions"]]
            return Prediction(
                glosses, str(body["model_id"]), int(body["frames"]), float(body["inference_ms"]), round_trip_ms
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ServerError(f"the server at {self.url} sent an unexpected answer: {str(body)[:200]}") from err

    def drift(self) -> InputCheck:
        """``GET /drift`` in plain words; never raises (a server without drift monitoring says nothing)."""
        try:
            response = self._http.get("/drift")
        except httpx.HTTPError:
            return InputCheck(False)
        body = _json(response)
        if response.status_code != 200 or body.get("status") != "drift":
            return InputCheck(False)
        reasons = "; ".join(str(r) for r in body.get("reasons") or [])
        if not reasons:
            reasons = f"drift score {body.get('score')} above {body.get('threshold')}"
        return InputCheck(
            True,
            f"Recent inputs look unlike the training data: {reasons}. "
            "The glosses may be wrong however confident they look.",
        )

    def _unreachable(self, err: httpx.HTTPError) -> str:
        return (
            f"cannot reach the server at {self.url} ({type(err).__name__}). Start it with "
            "`python serving/pose2gloss.py` or set POSE2GLOSS_SERVER_URL."
        )


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:200]}
    return body if isinstance(body, dict) else {"detail": str(body)[:200]}
