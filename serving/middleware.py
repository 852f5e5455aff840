"""How refused requests are answered: the body-size limit, and one JSON form for every refusal.

Every 4xx carries ``{"detail": "<what is wrong, and where>"}`` and counts in
``pose2gloss_rejected_requests_total`` by reason, whether the request was stopped by the body
limit, by FastAPI's parameter validation or by a decoder's :class:`~serving.decode.InputError`.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.decode import InputError
from serving.dependencies import server_metrics


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


async def input_error(request: Request, err: InputError) -> JSONResponse:
    """A decoder's or a dependency's refusal, with its status; 401 also names the scheme."""
    server_metrics(request).rejected.labels(err.reason).inc()
    headers = {"WWW-Authenticate": "ApiKey"} if err.status == 401 else None
    return JSONResponse({"detail": err.message}, status_code=err.status, headers=headers)


async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
    """FastAPI's parameter errors (a bad ``top_k`` query) in the same one-line form as the decoders'."""
    server_metrics(request).rejected.labels("parameter").inc()
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
    return JSONResponse({"detail": "; ".join(parts)}, status_code=422)
