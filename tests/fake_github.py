"""A small GitHub REST stand-in on loopback: issue comments only, every request recorded.

Real HTTP, so the client's URLs, headers, pagination and JSON are what is tested.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE = 2  # small pages, so pagination is exercised with a few comments


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGitHub:
    repository: str = "owner/repo"
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # issue number -> comments
    requests: list[Recorded] = field(default_factory=list)
    next_id: int = 100
    pulls_of_commit: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # sha -> pull requests

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                if self.headers.get("Authorization") != "Bearer test-token":
                    return self._answer(401, {"message": "Bad credentials"})
                owner_repo = re.escape(fake.repository)
                listing = re.fullmatch(rf"/repos/{owner_repo}/issues/(\d+)/comments(?:\?(.*))?", self.path)
                single = re.fullmatch(rf"/repos/{owner_repo}/issues/comments/(\d+)", self.path)
                pulls = re.fullmatch(rf"/repos/{owner_repo}/commits/([0-9a-f]+)/pulls", self.path)
                if pulls and self.command == "GET":
                    return self._answer(200, fake.pulls_of_commit.get(pulls.group(1), []))
                if listing and self.command == "GET":
                    number = int(listing.group(1))
                    query = dict(p.split("=") for p in (listing.group(2) or "").split("&") if "=" in p)
                    page = int(query.get("page", 1))
                    items = fake.comments.get(number, [])
                    chunk = items[(page - 1) * PAGE : page * PAGE]
                    headers = {}
                    if page * PAGE < len(items):
                        base = f"http://{self.headers['Host']}/repos/{fake.repository}/issues/{number}/comments"
                        headers["Link"] = f'<{base}?per_page={PAGE}&page={page + 1}>; rel="next"'
                    return self._answer(200, chunk, headers)
                if listing and self.command == "POST":
                    fake.next_id += 1
                    comment = {"id": fake.next_id, "body": body["body"], "html_url": f"https://github/c/{fake.next_id}"}
                    fake.comments.setdefault(int(listing.group(1)), []).append(comment)
                    return self._answer(201, comment)
                if single and self.command == "PATCH":
                    for comments in fake.comments.values():
                        for comment in comments:
                            if comment["id"] == int(single.group(1)):
                                comment["body"] = body["body"]
                                return self._answer(200, comment)
                    return self._answer(404, {"message": "Not Found"})
                return self._answer(404, {"message": "Not Found"})

            do_GET = do_POST = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
