"""Thread-safe in-memory state of the stand-in server, and the error type its endpoints raise."""

from __future__ import annotations

import copy
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

COMPANY = "standin-company"
USER = "standin-user"
USER_NAME = "Stand-in User"


class ApiError(Exception):
    """An endpoint failure, answered with the given result code and message (400 as clearml-server does)."""

    def __init__(self, msg: str, code: int = 400, subcode: int = 0) -> None:
        super().__init__(msg)
        self.msg, self.code, self.subcode = msg, code, subcode


def now() -> str:
    """The current time as clearml-server serialises dates ("2026-01-02T03:04:05.123456+00:00")."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    """A fresh entity id (32 hex digits, like the server's)."""
    return uuid.uuid4().hex


@dataclass
class Store:
    """All entities, keyed by id; every access holds ``lock``."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    tasks: dict[str, dict] = field(default_factory=dict)
    projects: dict[str, dict] = field(default_factory=dict)
    models: dict[str, dict] = field(default_factory=dict)
    queues: dict[str, dict] = field(default_factory=dict)
    workers: dict[str, dict] = field(default_factory=dict)
    events: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    credentials: dict[str, str] = field(default_factory=dict)
    polled_queues: set[str] = field(default_factory=set)

    def get(self, collection: str, entity_id: str | None, what: str | None = None) -> dict:
        """The entity ``entity_id`` of ``collection`` (the live document), or an "invalid id" error."""
        doc = getattr(self, collection).get(entity_id or "")
        if doc is None:
            raise ApiError(f"Invalid {what or collection[:-1]} id: {entity_id}", subcode=101)
        return doc


def clone_doc(doc: Any) -> Any:
    """A deep copy, so that answers never share structure with the stored documents."""
    return copy.deepcopy(doc)
