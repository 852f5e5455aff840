"""Ctrl-C and SIGTERM while the controller waits: raised in the main thread, so the run can stop its steps."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class RunInterrupted(Exception):
    """The user (Ctrl-C) or a CI runner (SIGTERM) stopped the run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`RunInterrupted` in the main thread while the controller waits."""

    def handler(signum: int, _frame: Any) -> None:
        raise RunInterrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
