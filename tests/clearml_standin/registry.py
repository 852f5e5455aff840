"""The table of implemented endpoints, filled by the ``@endpoint`` decorator of the service modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .store import Store


@dataclass
class Call:
    """What a handler knows about its request besides the body."""

    store: Store
    endpoint: str
    version: str
    files_host: str
    worker: str = ""


Handler = Callable[[dict, Call], dict]
ENDPOINTS: dict[str, Handler] = {}


def endpoint(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler under one or more "service.action" names."""

    def register(func: Handler) -> Handler:
        for name in names:
            ENDPOINTS[name] = func
        return func

    return register
