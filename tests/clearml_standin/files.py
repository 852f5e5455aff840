"""The stand-in files server: multipart uploads stored under a folder, GET downloads, DELETE.

The SDK (clearml/storage/helper.py, ``_HttpDriver``) posts a multipart form to ``<files host>/<folder>/`` whose
field name is the file's path below that folder, downloads with GET and deletes with DELETE.
"""

from __future__ import annotations

import json
import logging
import shutil
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

log = logging.getLogger("clearml_standin.files")


def _safe_path(root: Path, url_path: str, name: str = "") -> Path | None:
    """The file below ``root`` for a URL path (decoded once, as the server's router does) and an upload's
    form field name (taken as it is: the SDK sends it already quoted, as it will ask for it); None when
    it would leave ``root``."""
    folder = unquote(url_path.partition("?")[0]).strip("/")
    target = (root / folder / name.lstrip("/")).resolve()
    return target if target == root or root in target.parents else None


class FilesHandler(BaseHTTPRequestHandler):
    """Upload, download and delete files below the server's root folder."""

    server: FilesServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        log.debug(fmt, *args)

    def _reply(self, code: int, body: bytes = b"", ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_POST(self) -> None:
        folder = _safe_path(self.server.root, self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if folder is None:
            self._reply(400, b'{"error": "bad path"}')
            return
        head = f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + raw)
        stored = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            target = _safe_path(self.server.root, urlparse(self.path).path, name or "")
            if not name or target is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(part.get_payload(decode=True) or b"")
            stored[name] = str(target.relative_to(self.server.root))
        log.info("stored %s", stored)
        self._reply(200, json.dumps(stored).encode())

    def do_GET(self) -> None:
        target = _safe_path(self.server.root, self.path)
        if target is None or not target.is_file():
            self._reply(404, b'{"error": "not found"}')
            return
        self._reply(200, target.read_bytes(), "application/octet-stream")

    do_HEAD = do_GET

    def do_DELETE(self) -> None:
        target = _safe_path(self.server.root, self.path)
        if target is None or not target.exists():
            self._reply(404, b'{"error": "not found"}')
            return
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
        self._reply(200, b"{}")


class FilesServer(ThreadingHTTPServer):
    """The files server on loopback, storing under ``root``."""

    daemon_threads = True

    def __init__(self, root: Path, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), FilesHandler)
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"
