"""Read-your-writes waits, against fakes of the SQL port and the log-end port, a fake
clock and a fake stop: checks of the token, the cap, cancellation and admission."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping

import pytest

from runstream.proto.tokens import WaitToken
from runstream.query import QuerySettings
from runstream.query.admission import Admission
from runstream.query.errors import (
    DeadlineExceeded,
    InvalidRequestError,
    LogUnavailableError,
    OverloadedError,
)
from runstream.query.ports import Row
from runstream.query.read_your_writes import LogEnds, TokenWaiter, pending, wait_for_token
from runstream.query.service import QueryService
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


class FakeLog:
    """The log's end offsets per partition of one topic; ``down`` makes it unreachable."""

    def __init__(self, topic: str, ends: dict[int, int]) -> None:
        self.topic = topic
        self.ends = ends
        self.down = False
        self.asked: list[tuple[str, list[int]]] = []
        self.closed = False

    def end_offsets(self, topic: str, partitions: Collection[int]) -> dict[int, int]:
        self.asked.append((topic, sorted(partitions)))
        if self.down:
            raise LogUnavailableError("broker down")
        if topic != self.topic:
            return {}
        return {p: self.ends[p] for p in partitions if p in self.ends}

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> bool:
        self.now += seconds
        return False


class CancelAfter:
    """A stop that is set after ``polls`` pauses (the caller went away meanwhile)."""

    def __init__(self, polls: int, clock: Clock) -> None:
        self.left = polls
        self.clock = clock
        self.waited: list[float | None] = []

    def is_set(self) -> bool:
        return self.left <= 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waited.append(timeout)
        self.clock.now += timeout or 0.0
        self.left -= 1
        return self.left <= 0


def test_pending_needs_next_offset_past_the_token() -> None:
    token = WaitToken("t", {0: 5, 1: 9})
    assert pending(token, {0: 6, 1: 9}) == {1: 9}
    assert pending(token, {0: 6, 1: 10}) == {}
    assert pending(token, {}) == {0: 5, 1: 9}


def test_waits_until_applied() -> None:
    store = FakeOffsets([{0: 1}, {0: 3}, {0: 6, 1: 11}])
    clock = Clock()
    wait_for_token(store, WaitToken("events", {0: 5, 1: 10}), 1.0, clock=clock, pause=clock.pause)
    assert len(store.queries) == 3
    assert store.queries[0].params == {"topic": "events", "partitions": [0, 1]}
    assert clock.now < 0.1


def test_deadline_exceeded_names_the_lagging_partition() -> None:
    store = FakeOffsets([{0: 6, 1: 3}])
    clock = Clock()
    with pytest.raises(DeadlineExceeded, match="partition 1 needs offset 10"):
        wait_for_token(
            store, WaitToken("events", {0: 5, 1: 10}), 0.5, clock=clock, pause=clock.pause
        )
    assert clock.now == pytest.approx(0.5)


def test_empty_token_does_not_query() -> None:
    store = FakeOffsets([{}])
    wait_for_token(store, WaitToken("events", {}), 1.0)
    assert store.queries == []


def test_a_cancelled_call_stops_waiting_at_the_next_pause() -> None:
    store = FakeOffsets([{0: 1}])
    clock = Clock()
    stop = CancelAfter(2, clock)
    with pytest.raises(DeadlineExceeded, match="call ended"):
        wait_for_token(store, WaitToken("events", {0: 5}), 45.0, clock=clock, pause=stop.wait)
    assert len(store.queries) == 2 and clock.now < 0.1  # not 45 s of polling


# -- the log end ------------------------------------------------------------------------
def test_a_token_beyond_the_log_end_is_refused() -> None:
    log = FakeLog("events", {0: 100, 1: 7})
    ends = LogEnds(log)
    ends.check(WaitToken("events", {0: 99, 1: 6}))  # the last written offsets: fine
    with pytest.raises(InvalidRequestError, match="partition 0 offset 10{18}, but the log ends"):
        ends.check(WaitToken("events", {0: 10**18}))
    with pytest.raises(InvalidRequestError, match="partition 1 offset 7"):
        ends.check(WaitToken("events", {1: 7}))
    with pytest.raises(InvalidRequestError, match="does not have: 5"):
        ends.check(WaitToken("events", {0: 1, 5: 1}))


def test_known_ends_spare_questions_to_the_log() -> None:
    log = FakeLog("events", {0: 100})
    ends = LogEnds(log)
    ends.check(WaitToken("events", {0: 50}))
    ends.check(WaitToken("events", {0: 99}))  # below the end seen: no new question
    assert len(log.asked) == 1
    log.ends[0] = 200
    ends.check(WaitToken("events", {0: 150}))  # past it: ask again (ends only grow)
    assert len(log.asked) == 2 and ends.questions == 2


def test_an_unreachable_log_leaves_tokens_unchecked_and_is_not_hammered() -> None:
    log = FakeLog("events", {0: 10})
    clock = Clock()
    ends = LogEnds(log, retry_s=5.0, clock=clock)
    log.down = True
    ends.check(WaitToken("events", {0: 10**18}))  # cannot tell: the capped wait decides
    ends.check(WaitToken("events", {0: 10**18}))
    assert len(log.asked) == 1  # no second question within retry_s
    clock.now = 6.0
    log.down = False
    with pytest.raises(InvalidRequestError):
        ends.check(WaitToken("events", {0: 10**18}))
    assert len(log.asked) == 2


def test_no_log_configured_checks_nothing() -> None:
    LogEnds(None).check(WaitToken("events", {0: 10**18}))


# -- the waiter -------------------------------------------------------------------------
def _waiter(
    states: list[dict[int, int]], log: FakeLog | None, admission: Admission | None = None
) -> tuple[TokenWaiter, FakeOffsets, Clock]:
    store = FakeOffsets(states)
    clock = Clock()
    waiter = TokenWaiter(store, "events", LogEnds(log), admission or Admission(4, 2), clock=clock)
    return waiter, store, clock


def test_forged_token_is_refused_before_any_wait() -> None:
    log = FakeLog("events", {0: 100})
    waiter, store, _ = _waiter([{0: 50}], log)
    stop = threading.Event()
    with pytest.raises(InvalidRequestError, match="beyond the end of the log"):
        waiter.wait(WaitToken("events", {0: 10**18}), 45.0, stop)
    assert len(store.queries) == 1  # one look at ingest_offsets, no polling


def test_an_applied_token_needs_no_question_to_the_log() -> None:
    log = FakeLog("events", {0: 100})
    waiter, store, _ = _waiter([{0: 60}], log)
    waiter.wait(WaitToken("events", {0: 59}), 1.0)
    assert log.asked == [] and len(store.queries) == 1


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (WaitToken("other.topic", {0: 1}), "names topic 'other.topic'"),
        (WaitToken("events", {-1: 1}), "partition -1"),
        (WaitToken("events", {p: 0 for p in range(10_001)}), "at most 10000"),
        (WaitToken("x" * 100_000, {0: 1}), r"\(100000 characters\)"),
    ],
)
def test_malformed_tokens_are_refused(token: WaitToken, message: str) -> None:
    waiter, store, _ = _waiter([{}], FakeLog("events", {0: 10}))
    with pytest.raises(InvalidRequestError, match=message) as info:
        waiter.wait(token, 1.0)
    assert store.queries == [] and len(str(info.value)) < 1000


def test_a_token_without_topic_means_the_service_topic() -> None:
    waiter, store, _ = _waiter([{0: 2}], FakeLog("events", {0: 10}))
    waiter.wait(WaitToken("", {0: 1}), 1.0)
    assert store.queries[0].params["topic"] == "events"


def test_waits_past_the_bound_are_refused_at_once() -> None:
    admission = Admission(max_calls=4, max_waiting=1)
    waiter, _, _ = _waiter([{0: 1}], FakeLog("events", {0: 10}), admission)
    with admission.waiting(), pytest.raises(OverloadedError, match="already waiting"):
        waiter.wait(WaitToken("events", {0: 5}), 45.0)
    assert admission.waits == 0


def test_an_ended_call_does_not_start_waiting() -> None:
    waiter, store, _ = _waiter([{0: 1}], FakeLog("events", {0: 10}))
    stop = threading.Event()
    stop.set()
    with pytest.raises(DeadlineExceeded, match="call ended"):
        waiter.wait(WaitToken("events", {0: 5}), 45.0, stop)
    assert len(store.queries) == 1


# -- admission --------------------------------------------------------------------------
def test_admission_bounds_calls_and_waits_and_frees_slots() -> None:
    admission = Admission(max_calls=2, max_waiting=5)  # waits never exceed calls
    with admission.call(), admission.call():
        assert admission.calls == 2
        with pytest.raises(OverloadedError, match="2 calls in progress"), admission.call():
            pass
    assert admission.calls == 0
    with (
        admission.waiting(),
        admission.waiting(),
        pytest.raises(OverloadedError, match="already waiting"),
        admission.waiting(),
    ):
        pass
    assert admission.waits == 0
    with pytest.raises(RuntimeError), admission.call():
        raise RuntimeError("a failing read frees its slot")
    assert admission.calls == 0


# -- the service's cap ------------------------------------------------------------------
def test_the_service_caps_every_wait() -> None:
    settings = QuerySettings(create_views=False, max_wait_s=0.05, topic="events")
    log = FakeLog("events", {0: 10})
    service = QueryService(FakeOffsets([{0: 1}]), settings, log)
    with pytest.raises(DeadlineExceeded, match=r"within 0\.050 s"):
        service.wait(WaitToken("events", {0: 5}), 45.0)  # asks 45 s, gets the cap
    with pytest.raises(InvalidRequestError, match="beyond the end"):
        service.wait(WaitToken("events", {0: 10**18}), None)
    service.close()
    assert log.closed


def test_with_a_feed_the_table_is_read_once_and_the_wait_wakes_on_the_feed() -> None:
    from runstream.proto.applied import AppliedFeed

    feed = AppliedFeed("events")
    store = FakeOffsets([{0: 3}])  # the table never moves: only the feed can end the wait
    waiter = TokenWaiter(
        store, "events", LogEnds(FakeLog("events", {0: 100})), Admission(4, 2), feed=feed
    )
    threading.Timer(0.1, lambda: feed.publish({0: 8})).start()
    waiter.wait(WaitToken("events", {0: 7}), 5.0)
    assert len(store.queries) == 1  # read once, then woken by the feed
    assert feed.applied() == {0: 8}
    waiter.wait(WaitToken("events", {0: 5}), 5.0)  # applied per the feed: no query at all
    assert len(store.queries) == 1


def test_with_a_feed_a_timeout_names_the_partition_and_a_stop_ends_the_wait() -> None:
    from runstream.proto.applied import AppliedFeed

    feed = AppliedFeed("events")
    waiter = TokenWaiter(
        FakeOffsets([{0: 3}]), "events", LogEnds(FakeLog("events", {0: 100})),
        Admission(4, 2), feed=feed,
    )  # fmt: skip
    with pytest.raises(DeadlineExceeded, match="partition 0 needs offset 7"):
        waiter.wait(WaitToken("events", {0: 7}), 0.1)
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    with pytest.raises(DeadlineExceeded, match="call ended"):
        waiter.wait(WaitToken("events", {0: 7}), 30.0, stop)
