"""Overlapping a step's stages on one machine: produce the next block while this one is written.

Both helpers keep memory bounded (a fixed number of items in flight) and lose no error: an
exception in the background is raised in the caller, at the next item or on exit.
NumPy, TensorFlow, file copies and hashing release the GIL, so a thread is enough.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """The items of ``items`` in order, computed by a thread that runs up to ``depth`` items ahead."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                ready.put(item)
            ready.put(_DONE)
        except BaseException as err:  # handed to the consumer, raised there
            ready.put(err)

    producer = threading.Thread(target=produce, name="prefetch", daemon=True)
    producer.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while producer.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.1)
        producer.join()


class SerialBackground:
    """Run calls one after another in a background thread, at most ``pending`` waiting at a time.

    Used as a context manager: leaving it waits for every call, and the first failure is raised
    (at the next :meth:`submit` if it happens earlier, so work stops soon after it).
    """

    def __init__(self, pending: int = 1) -> None:
        if pending < 1:
            raise ValueError(f"pending must be >= 1, got {pending}")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="background")
        self._futures: list[Future[Any]] = []
        self._pending = pending

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._raise_failures()
        while len(self._futures) >= self._pending:
            self._futures.pop(0).result()
        self._futures.append(self._pool.submit(fn, *args))

    def _raise_failures(self) -> None:
        for future in [f for f in self._futures if f.done()]:
            self._futures.remove(future)
            future.result()

    def __enter__(self) -> SerialBackground:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            while self._futures:
                self._futures.pop(0).result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
