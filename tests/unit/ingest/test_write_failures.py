"""A failed write never lets a later record through (issue 11, items 1 and 2), on fakes.

The fakes raise what the adapters raise: ``SinkBackpressure`` for a full disk
(``translate`` below maps ClickHouse's NOT_ENOUGH_SPACE to it), ``SinkError`` for an
error no retry fixes, ``SourceError`` for a broker that is away.  The real disk-full and
broker-kill runs are in tests/integration/faults.
"""

from __future__ import annotations

import errno

import pytest

from runstream.ingest.clickhouse_sink import translate
from runstream.ingest.errors import (
    SinkBackpressure,
    SinkError,
    SinkUnavailable,
    SourceError,
)
from runstream.ingest.observability import IngestMetrics
from runstream.ingest.pipeline import Pipeline
from runstream.ingest.settings import BatchSettings
from runstream.proto import events as ev
from tests.unit.ingest.fakes import FakeDeadLetters, FakeSource, FakeStore, event, metrics, records
from tests.unit.ingest.test_pipeline import check_exact, run_to_end, workload

NO_SPACE = "Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)"


def one_run_log(events: int = 12) -> dict[int, list]:
    """A run created at offset 0, then metric points: every later record needs the first."""
    evs = [event("r", ev.RunCreated(start_time=1))]
    evs += [event("r", metrics([("loss", s, float(s))])) for s in range(events)]
    return {0: records(evs)}


def make(source: FakeSource, store: FakeStore, dead: FakeDeadLetters, pipelined: bool) -> Pipeline:
    return Pipeline(
        source, store, dead, batch=BatchSettings(max_points=3, max_interval_s=60),
        metrics=IngestMetrics("t"), pipelined=pipelined,
    )  # fmt: skip


@pytest.mark.parametrize("pipelined", [False, True])
def test_a_write_no_retry_fixes_halts_and_nothing_later_is_written(pipelined: bool) -> None:
    log = one_run_log()
    source, store, dead = FakeSource(log, per_poll=100), FakeStore(), FakeDeadLetters()
    store.fail_next, store.fail_with = 1, SinkError("insert into runs: Code: 60. UNKNOWN_TABLE")
    store.fail_on = ("insert",)  # the intent is recorded, the batch's insert fails
    pipe = make(source, store, dead, pipelined)
    pipe.assign({0})
    pipe.handle(source.poll(0))  # nothing recovered yet: dropped
    pipe.recover()
    pipe.handle(source.poll(0))  # every record is buffered
    with pytest.raises(SinkError, match="UNKNOWN_TABLE"):
        for _ in range(5):
            pipe.tick(force=True)
    # What a dying worker does next: the closing consumer revokes the partitions.
    pipe.revoke({0})
    pipe.tick(force=True)
    pipe.close()
    assert store.offsets == []  # the applied offset never moved past the failed batch
    assert store.rows["metrics"] == [] and store.rows["runs"] == []
    assert dead.sent == []  # nothing dead-lettered as run-not-found
    assert [(i.first, i.end) for i in store.intents] == [(0, 4)]  # only the failed batch
    assert pipe.halted is not None


@pytest.mark.parametrize("pipelined", [False, True])
def test_a_full_disk_pauses_retries_and_loses_nothing(pipelined: bool) -> None:
    log = workload()
    source, store, dead = FakeSource(log), FakeStore(), FakeDeadLetters()
    pipe = make(source, store, dead, pipelined)
    pipe._clock = iter(float(t) for t in range(10**6)).__next__  # each call a second later
    store.fail_next, store.fail_with = 4, translate(RuntimeError(NO_SPACE), "insert into metrics")
    stalls = []
    pipe.assign(source.assignment())
    for _ in range(400):
        pipe.handle(source.poll(0))
        pipe.tick()
        stalls.append(pipe.stall)
    pipe.tick(force=True)
    pipe.drain()
    pipe.close()
    check_exact(store, log)
    assert dead.sent == []
    seen = [s for s in stalls if s is not None]
    assert seen and all(s.component == "clickhouse" and s.writing for s in seen)
    assert "NOT_ENOUGH_SPACE" in seen[0].reason
    assert pipe.stall is None  # cleared by the writes that succeeded
    assert pipe.metrics.retries.labels("t")._value.get() == 4


class FlakyPositions(FakeSource):
    """A source whose position() fails every other call, as during a broker outage."""

    calls = 0

    def position(self, partition: int) -> int:
        self.calls += 1
        if self.calls % 2:
            raise SourceError("position of t failed: KafkaConnectionError: 111 ECONNREFUSED")
        return super().position(partition)


@pytest.mark.parametrize("pipelined", [False, True])
def test_an_unknown_position_loses_nothing(pipelined: bool) -> None:
    log = workload()
    source, store = FlakyPositions(log), FakeStore()
    pipe = make(source, store, FakeDeadLetters(), pipelined)
    run_to_end(pipe, source)
    check_exact(store, log)
    assert source.calls > 0


def test_a_broker_failure_while_recovering_is_a_kafka_stall() -> None:
    class NoCommitted(FakeSource):
        def committed(self, partition: int) -> int | None:
            raise SourceError("reading the committed offset of t failed: KafkaTimeoutError")

    source = NoCommitted(workload(partitions=1))
    pipe = make(source, FakeStore(), FakeDeadLetters(), False)
    pipe.assign({0})
    assert not pipe.recover()
    stall = pipe.stall
    assert stall is not None and stall.component == "kafka" and not stall.writing
    assert stall.partitions == {0} and "KafkaTimeoutError" in stall.reason


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RuntimeError(NO_SPACE), SinkBackpressure),
        (RuntimeError("Code: 1001. std::exception: No space left on device"), SinkBackpressure),
        (OSError(errno.ENOSPC, "No space left on device"), SinkBackpressure),
        (RuntimeError("Code: 241. MEMORY_LIMIT_EXCEEDED"), SinkBackpressure),
        (RuntimeError("Code: 75. CANNOT_WRITE_TO_FILE_DESCRIPTOR"), SinkUnavailable),
        (RuntimeError("Code: 204. CANNOT_FSYNC"), SinkUnavailable),
        (RuntimeError("Code: 210. NETWORK_ERROR"), SinkUnavailable),
        (RuntimeError("Code: 62. Syntax error (SYNTAX_ERROR)"), SinkError),
        (RuntimeError("Code: 60. Unknown table (UNKNOWN_TABLE)"), SinkError),
    ],
)
def test_storage_and_server_errors_are_retryable(error: BaseException, kind: type) -> None:
    translated = translate(error, "insert into metrics")
    assert type(translated) is kind
    assert str(translated).startswith("insert into metrics: ")
