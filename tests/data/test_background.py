import threading
import time

import pytest

from pose2gloss.data.background import SerialBackground, prefetched


def test_prefetched_keeps_order_and_runs_at_most_depth_ahead():
    produced = []

    def items():
        for i in range(6):
            produced.append(i)
            yield i

    seen = []
    for item in prefetched(items(), depth=2):
        time.sleep(0.02)  # the producer has had time to run ahead as far as it may
        assert len(produced) - len(seen) <= 1 + 2 + 1  # this item, `depth` queued, one waiting to be queued
        seen.append(item)
    assert seen == list(range(6))


def test_prefetched_raises_the_producers_error_after_its_items():
    def items():
        yield 1
        raise OSError("shard 3 unreadable")

    out = []
    with pytest.raises(OSError, match="shard 3 unreadable"):
        for item in prefetched(items()):
            out.append(item)
    assert out == [1]


def test_prefetched_stops_its_thread_when_the_consumer_stops():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    before = threading.active_count()
    stream = prefetched(endless(), depth=1)
    assert next(stream) == 0
    stream.close()
    assert threading.active_count() == before


def test_serial_background_runs_calls_in_order_and_waits_for_them():
    done = []
    with SerialBackground(pending=1) as background:
        for i in range(5):
            background.submit(lambda i=i: (time.sleep(0.01), done.append(i)))
    assert done == list(range(5))


def test_serial_background_raises_a_failure_at_the_next_submit():
    def fail():
        raise RuntimeError("upload failed")

    submitted = []
    with pytest.raises(RuntimeError, match="upload failed"), SerialBackground(pending=2) as background:
        background.submit(fail)
        time.sleep(0.05)
        for i in range(3):
            background.submit(submitted.append, i)
    assert submitted == []


def test_serial_background_raises_a_failure_on_exit():
    def fail():
        time.sleep(0.05)
        raise RuntimeError("last upload failed")

    with pytest.raises(RuntimeError, match="last upload failed"), SerialBackground() as background:
        background.submit(fail)


def test_serial_background_bounds_waiting_calls():
    release = threading.Event()
    started = []
    with SerialBackground(pending=1) as background:
        background.submit(lambda: (started.append(1), release.wait(5)))
        blocker = threading.Thread(target=background.submit, args=(started.append, 2))
        blocker.start()
        time.sleep(0.05)
        assert blocker.is_alive()  # the second call waits until the first is done
        release.set()
        blocker.join(5)
    assert started == [1, 2]
