"""The in-process feed of applied offsets: it only grows, its version moves with it, and a
wait wakes when a publish from another thread covers it, times out or is stopped."""

from __future__ import annotations

import threading
import time

from runstream.proto.applied import AppliedFeed


def test_offsets_only_grow_and_the_version_moves_only_when_one_did() -> None:
    feed = AppliedFeed("events")
    assert feed.version == 0 and feed.applied() == {}
    feed.publish({0: 5, 1: 3})
    assert feed.applied() == {0: 5, 1: 3} and feed.version == 1
    feed.publish({0: 4, 1: 3})  # older or equal: nothing moved
    assert feed.applied() == {0: 5, 1: 3} and feed.version == 1
    feed.publish({1: 7, 2: 1})
    assert feed.applied() == {0: 5, 1: 7, 2: 1} and feed.version == 2


def test_a_wait_wakes_when_another_thread_publishes_past_the_offsets() -> None:
    feed = AppliedFeed("events")
    feed.publish({0: 10})
    assert feed.wait_applied({0: 9}, 0.0)  # next offset 10 > 9: applied already
    assert not feed.wait_applied({0: 10}, 0.0)
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(feed.wait_applied({0: 10, 1: 0}, 5)))
    waiter.start()
    feed.publish({0: 11})  # partition 1 still missing
    time.sleep(0.1)
    assert waiter.is_alive()
    started = time.monotonic()
    feed.publish({1: 1})
    waiter.join(5)
    assert result == [True] and time.monotonic() - started < 1.0


def test_a_wait_ends_false_at_its_timeout_or_when_stopped() -> None:
    feed = AppliedFeed("events")
    started = time.monotonic()
    assert not feed.wait_applied({0: 0}, 0.2)
    assert 0.15 <= time.monotonic() - started < 2.0
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert not feed.wait_applied({0: 0}, 30, stop.is_set)
    assert time.monotonic() - started < 2.0
