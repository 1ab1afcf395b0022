"""The bounded buffer: block and raise policies, ordering, release and flush tickets."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from runstream.producer.buffer import Control, EventBuffer, RowBlock
from runstream.producer.columns import Chunk
from runstream.producer.errors import BufferFullError, InvalidStateError
from runstream.proto.events import RunUpdated
from runstream.proto.v1 import common_pb2


def _chunk(n: int) -> Chunk:
    return Chunk(
        "r",
        ("k",),
        np.zeros(n, np.uint16),
        np.zeros(n),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
    )


def test_take_returns_entries_in_order_with_rows_grouped() -> None:
    buffer = EventBuffer(capacity=100)
    buffer.put_row("r", "a", 1.0, 0, 1)
    buffer.put_row("r", "a", 2.0, 1, 1)
    control = Control("r", "e", RunUpdated(status="FINISHED"), 5)
    buffer.put(control)
    buffer.put_row("r", "a", 3.0, 2, 1)
    entries, upto = buffer.take()
    first, middle, last = entries
    assert isinstance(first, RowBlock) and isinstance(last, RowBlock)
    assert (first.run_id, first.keys, first.values, first.steps) == (
        "r",
        ["a", "a"],
        [1.0, 2.0],
        [0, 1],
    )
    assert middle is control
    assert last.values == [3.0]
    assert upto == 4
    assert buffer.take()[0] == []


def test_raise_policy_raises_buffer_full_with_the_cause() -> None:
    buffer = EventBuffer(capacity=3, policy="raise")
    buffer.stuck_reason = lambda: "cannot publish to kafka://h:1: connection refused"
    for i in range(3):
        buffer.put_row("r", "a", float(i), i, 0)
    with pytest.raises(BufferFullError) as info:
        buffer.put_row("r", "a", 9.0, 9, 0)
    assert "kafka://h:1" in str(info.value) and "3 of 3" in str(info.value)
    assert info.value.error_code == common_pb2.RESOURCE_EXHAUSTED
    entries, _ = buffer.take()
    assert sum(len(e) for e in entries if isinstance(e, RowBlock)) == 3  # nothing lost


def test_room_is_freed_only_on_release() -> None:
    buffer = EventBuffer(capacity=2, policy="raise")
    buffer.put_row("r", "a", 1.0, 0, 0)
    buffer.put_row("r", "a", 1.0, 1, 0)
    _, upto = buffer.take()
    with pytest.raises(BufferFullError):  # taken but not acknowledged: still held
        buffer.put_row("r", "a", 1.0, 2, 0)
    buffer.release(upto)
    buffer.put_row("r", "a", 1.0, 2, 0)


def test_block_policy_waits_for_room() -> None:
    buffer = EventBuffer(capacity=1, policy="block")
    buffer.put_row("r", "a", 1.0, 0, 0)
    done = threading.Event()

    def put() -> None:
        buffer.put_row("r", "a", 2.0, 1, 0)
        done.set()

    thread = threading.Thread(target=put)
    thread.start()
    assert not done.wait(0.3)
    _, upto = buffer.take()
    buffer.release(upto)
    assert done.wait(2)
    thread.join()
    (block,) = buffer.take()[0]
    assert isinstance(block, RowBlock) and block.values == [2.0]


def test_block_timeout_raises_and_says_why() -> None:
    buffer = EventBuffer(capacity=1, policy="block", block_timeout_s=0.2)
    buffer.stuck_reason = lambda: "broker down"
    buffer.put_row("r", "a", 1.0, 0, 0)
    started = time.monotonic()
    with pytest.raises(BufferFullError, match="after waiting .* broker down"):
        buffer.put_row("r", "a", 1.0, 1, 0)
    assert time.monotonic() - started >= 0.2


def test_a_chunk_larger_than_capacity_enters_an_empty_buffer() -> None:
    buffer = EventBuffer(capacity=10, policy="raise")
    buffer.put(_chunk(50))
    assert buffer.held == 50
    with pytest.raises(BufferFullError):
        buffer.put(_chunk(1))


def test_wake_fires_when_batch_threshold_is_reached() -> None:
    wakes: list[int] = []
    buffer = EventBuffer(capacity=100, wake_at=3, wake=lambda: wakes.append(1))
    for i in range(2):
        buffer.put_row("r", "a", 1.0, i, 0)
    assert not wakes
    buffer.put_row("r", "a", 1.0, 2, 0)
    assert len(wakes) == 1
    buffer.put(_chunk(10))  # already past the threshold: no second wake this round
    assert len(wakes) == 1


def test_wait_released_and_close() -> None:
    buffer = EventBuffer(capacity=10)
    buffer.put_row("r", "a", 1.0, 0, 0)
    ticket = buffer.ticket
    assert not buffer.wait_released(ticket, 0.05)
    _, upto = buffer.take()
    buffer.release(upto)
    assert buffer.wait_released(ticket, 0.05)
    buffer.close()
    with pytest.raises(InvalidStateError):
        buffer.put_row("r", "a", 1.0, 1, 0)
