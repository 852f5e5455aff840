"""The HTTP front of the stand-in API server: routing, auth, ClearML's response envelope."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

from . import events, projects_models, queues, tasks  # noqa: F401  (they register their endpoints)
from .registry import ENDPOINTS, Call
from .store import ApiError, Store, new_id

API_VERSION = "2.23"
SERVER_VERSION = "1.17.0"
log = logging.getLogger("clearml_standin.api")
_PATH = re.compile(r"^/(?:api/)?(?:v(?P<version>\d+\.\d+)/)?(?P<endpoint>[a-z_]+\.[a-z_]+)/?$")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_token(secret: str) -> str:
    """A JWT (HS256) carrying what the SDK reads from it: api_version, server_version, identity."""
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {
        "api_version": API_VERSION,
        "server_version": SERVER_VERSION,
        "env": "standin",
        "feature_set": "basic",
        "identity": {"company": "standin-company", "user": "standin-user", "role": "admin"},
        "exp": 4102444800,
    }
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(sig)}"


def _login(store: Store, auth_header: str) -> dict:
    if not auth_header.startswith("Basic "):
        if auth_header.startswith("Bearer "):
            return {"token": auth_header[7:]}
        raise ApiError("Missing authorization", code=401, subcode=20)
    key, _, secret = base64.b64decode(auth_header[6:]).decode().partition(":")
    if store.credentials.get(key) != secret:
        raise ApiError("Invalid credentials", code=401, subcode=21)
    return {"token": make_token(secret)}


def _parse_body(raw: bytes, query: str) -> dict | list:
    data: dict | list = dict(parse_qsl(query)) if query else {}
    text = raw.decode() if raw else ""
    if not text.strip():
        return data
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # batch requests: one JSON object a line
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def dispatch(store: Store, name: str, version: str, body: dict | list, auth: str, files_host: str, worker: str):
    """Run one endpoint; returns (http_code, subcode, message, data)."""
    try:
        if name == "auth.login":
            return 200, 0, "OK", _login(store, auth)
        if name in ("debug.ping", "server.info"):
            return (
                200,
                0,
                "OK",
                {"msg": "ClearML server (stand-in)", "version": SERVER_VERSION, "api_version": API_VERSION},
            )
        handler = ENDPOINTS.get(name)
        if handler is None:
            raise ApiError(f"clearml stand-in does not implement {name}", code=400, subcode=1)
        call = Call(store=store, endpoint=name, version=version, files_host=files_host, worker=worker)
        if name == "events.add_batch" and isinstance(body, dict):  # a batch of one event
            body = [body]
        with store.lock:
            data = handler(body if isinstance(body, dict) else {"items": body}, call)
        return 200, 0, "OK", data
    except ApiError as err:
        return err.code, err.subcode, err.msg, {}
    except Exception as err:  # a stand-in bug: say so loudly
        log.error("endpoint %s failed:\n%s", name, traceback.format_exc())
        return 500, 0, f"clearml stand-in error in {name}: {err!r}", {}


class ApiHandler(BaseHTTPRequestHandler):
    """Serves ``POST|GET /[v<version>/]<service>.<action>`` with ClearML's envelope."""

    server: ApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        log.debug(fmt, *args)

    def _handle(self) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = _PATH.match(url.path)
        if not match:
            self._send(404, {"meta": {"result_code": 404, "result_msg": f"no such path {url.path}"}, "data": {}})
            return
        name, version = match["endpoint"], match["version"] or API_VERSION
        try:
            body = _parse_body(raw, url.query)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            body, name = {}, f"{name} (bad body: {err})"
        log.debug("%s %s %s", self.command, name, json.dumps(body)[:2000])
        worker = self.headers.get("X-Clearml-Worker") or self.headers.get("X-Trains-Worker") or ""
        code, subcode, msg, data = dispatch(
            self.server.store,
            name,
            version,
            body,
            self.headers.get("Authorization") or "",
            self.server.files_host,
            worker,
        )
        self.server.record(name, code)
        meta = {
            "id": new_id(),
            "trx": new_id(),
            "endpoint": {"name": name, "requested_version": version, "actual_version": version},
            "result_code": code,
            "result_subcode": subcode,
            "result_msg": msg,
            "error_stack": None,
        }
        self._send(code, {"meta": meta, "data": data})

    def _send(self, code: int, payload: dict) -> None:
        raw = json.dumps(payload, default=str).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_POST = do_GET = do_PUT = _handle


class ApiServer(ThreadingHTTPServer):
    """The API server on loopback; ``calls`` counts the endpoints served (for the log and tests)."""

    daemon_threads = True

    def __init__(self, store: Store, port: int = 0, files_host: str = "") -> None:
        super().__init__(("127.0.0.1", port), ApiHandler)
        self.store, self.files_host = store, files_host
        self.calls: dict[str, int] = {}
        self._calls_lock = threading.Lock()

    def record(self, name: str, code: int) -> None:
        with self._calls_lock:
            self.calls[name] = self.calls.get(name, 0) + 1
        if code != 200:
            log.warning("%s answered %s", name, code)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"
