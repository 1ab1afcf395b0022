"""Read-your-writes waits, against a fake SQL port and a fake clock."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from runstream.proto.tokens import WaitToken
from runstream.query.errors import DeadlineExceeded
from runstream.query.ports import Row
from runstream.query.read_your_writes import pending, wait_for_token
from runstream.query.sql_text import Sql


class FakeOffsets:
    """Answers the ingest_offsets query with a scripted sequence of states."""

    def __init__(self, states: list[dict[int, int]]) -> None:
        self.states = states
        self.queries: list[Sql] = []

    def rows(self, sql: Sql) -> list[Row]:
        self.queries.append(sql)
        state = self.states[min(len(self.queries) - 1, len(self.states) - 1)]
        return sorted(state.items())

    def rows_many(self, statements: Mapping[str, Sql]) -> dict[str, list[Row]]:
        return {k: self.rows(v) for k, v in statements.items()}

    def command(self, text: str) -> None:
        raise AssertionError("no commands expected")

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_pending_needs_next_offset_past_the_token() -> None:
    token = WaitToken("t", {0: 5, 1: 9})
    assert pending(token, {0: 6, 1: 9}) == {1: 9}
    assert pending(token, {0: 6, 1: 10}) == {}
    assert pending(token, {}) == {0: 5, 1: 9}


def test_waits_until_applied() -> None:
    store = FakeOffsets([{0: 1}, {0: 3}, {0: 6, 1: 11}])
    clock = Clock()
    wait_for_token(store, WaitToken("events", {0: 5, 1: 10}), 1.0, clock=clock, sleep=clock.sleep)
    assert len(store.queries) == 3
    assert store.queries[0].params == {"topic": "events", "partitions": [0, 1]}
    assert clock.now < 0.1


def test_deadline_exceeded_names_the_lagging_partition() -> None:
    store = FakeOffsets([{0: 6, 1: 3}])
    clock = Clock()
    with pytest.raises(DeadlineExceeded, match="partition 1 needs offset 10"):
        wait_for_token(
            store, WaitToken("events", {0: 5, 1: 10}), 0.5, clock=clock, sleep=clock.sleep
        )
    assert clock.now == pytest.approx(0.5)


def test_empty_token_does_not_query() -> None:
    store = FakeOffsets([{}])
    wait_for_token(store, WaitToken("events", {}), 1.0)
    assert store.queries == []
