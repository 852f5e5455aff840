"""The one GitHub REST client of the CI scripts: pull-request comments, and the pull request a merge came from.

It talks to ``GITHUB_API_URL`` (set by Actions; ``https://api.github.com`` otherwise), so tests
point it at a local HTTP server. A sticky comment is found by a hidden HTML marker in its
body and edited in place, as sticky-comment actions do, so a re-run never adds a second one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_API = "https://api.github.com"


class GitHubError(RuntimeError):
    """A GitHub call that failed; the message has the method, the path, the status and GitHub's answer."""


@dataclass
class GitHub:
    repository: str  # "owner/name"
    token: str
    api_url: str = DEFAULT_API
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls) -> GitHub:
        """From the variables Actions sets (GITHUB_REPOSITORY, GITHUB_API_URL) and GITHUB_TOKEN."""
        missing = [name for name in ("GITHUB_REPOSITORY", "GITHUB_TOKEN") if not os.environ.get(name)]
        if missing:
            raise GitHubError(f"{', '.join(missing)} not set; needed to comment on the pull request")
        return cls(
            os.environ["GITHUB_REPOSITORY"], os.environ["GITHUB_TOKEN"], os.environ.get("GITHUB_API_URL", DEFAULT_API)
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        url = path if path.startswith("http") else f"{self.api_url.rstrip('/')}{path}"
        response = httpx.request(method, url, headers=headers, timeout=self.timeout_s, **kwargs)
        if response.status_code >= 400:
            raise GitHubError(f"{method} {url}: HTTP {response.status_code}: {response.text[:500]}")
        return response

    def merged_pulls(self, sha: str) -> list[dict[str, Any]]:
        """The merged pull requests that commit ``sha`` (e.g. a push to main) belongs to."""
        pulls = self._request("GET", f"/repos/{self.repository}/commits/{sha}/pulls").json()
        return [p for p in pulls if p.get("merged_at")]

    def comments(self, number: int) -> Iterator[dict[str, Any]]:
        """Every comment on issue or pull request ``number``, following pagination."""
        url: str | None = f"/repos/{self.repository}/issues/{number}/comments"
        params: dict[str, Any] | None = {"per_page": 100}
        while url:
            response = self._request("GET", url, params=params)
            yield from response.json()
            url, params = response.links.get("next", {}).get("url"), None

    def create_comment(self, number: int, body: str) -> dict[str, Any]:
        return self._request("POST", f"/repos/{self.repository}/issues/{number}/comments", json={"body": body}).json()

    def update_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        path = f"/repos/{self.repository}/issues/comments/{comment_id}"
        return self._request("PATCH", path, json={"body": body}).json()

    def upsert_sticky_comment(self, number: int, marker: str, body: str) -> tuple[str, dict[str, Any]]:
        """Create the comment carrying ``marker``, or update it if one exists; returns ("created"|"updated", it)."""
        tagged = f"<!-- {marker} -->\n{body}"
        for comment in self.comments(number):
            if f"<!-- {marker} -->" in (comment.get("body") or ""):
                return "updated", self.update_comment(comment["id"], tagged)
        return "created", self.create_comment(number, tagged)


def write_step_summary(markdown: str) -> bool:
    """Append to the job summary page when running in Actions (GITHUB_STEP_SUMMARY); False elsewhere."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip() + "\n")
    return True
