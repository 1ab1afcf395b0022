"""The live tail's cursor arithmetic, message cuts and slow-reader rule, over fakes of its
two ports (the audit table and the log); and what ``runstream tail`` shows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from runstream.proto import events as ev
from runstream.proto.codec import EventCodec
from runstream.proto.tokens import WaitToken
from runstream.proto.v1 import common_pb2, query_pb2
from runstream.query import tail_codec
from runstream.query.errors import InvalidRequestError, SlowReaderError
from runstream.query.sql_text import Sql
from runstream.query.tail import (
    AppliedWatch,
    TailLimits,
    TailStream,
    TailTarget,
    start_cursor,
)
from runstream.query.tail_events import TailBatch
from runstream.query.tail_view import TailState, lines, table

TOPIC = "t"
RUN = "run-a"
codec = EventCodec()


def _metrics(run_id: str, first: int, count: int) -> ev.RunEvent:
    steps = list(range(first, first + count))
    payload = ev.metrics_from_rows(["loss"] * count, [float(s) for s in steps], steps, steps)
    return ev.RunEvent("e", run_id, "1", "p", first, 0, payload)


class FakeLog:
    """Both ports: ``audit`` rows (partition, offset, run id) of applied events, and the
    encoded events at their offsets; it answers the two statements of the tail."""

    def __init__(self) -> None:
        self.audit: list[tuple[int, int, str]] = []
        self.values: dict[tuple[int, int], bytes] = {}
        self.applied: dict[int, int] = {}
        self.reads: list[tuple[int, list[int]]] = []

    def add(self, partition: int, event: ev.RunEvent) -> int:
        offset = self.applied.get(partition, 0)
        self.values[(partition, offset)] = codec.encode(event)
        self.audit.append((partition, offset, event.run_id))
        self.applied[partition] = offset + 1
        return offset

    # SqlPort
    def rows(self, sql: Sql) -> list[tuple[Any, ...]]:
        values = list(sql.params.values())
        if sql.text.startswith("SELECT partition, max(next_offset)"):
            return sorted(self.applied.items())
        run_id, ranges = values[0], values[1:-2]
        limit = int(sql.text.rsplit("LIMIT", 1)[1])
        wanted = [
            (p, o)
            for p, o, r in sorted(self.audit)
            if r == run_id
            and any(
                p == ranges[i] and ranges[i + 1] <= o < ranges[i + 2]
                for i in range(0, len(ranges), 3)
            )
        ]
        return wanted[:limit]

    def rows_many(self, statements: Mapping[str, Sql]) -> dict[str, list[tuple[Any, ...]]]:
        return {name: self.rows(sql) for name, sql in statements.items()}

    def command(self, text: str) -> None:
        pass

    # RecordsPort
    def read(self, topic: str, partition: int, offsets: list[int]) -> dict[int, bytes]:
        self.reads.append((partition, offsets))
        return {o: self.values[(partition, o)] for o in offsets}

    def close(self) -> None:
        pass


def _stream(log: FakeLog, cursor: dict[int, int], **limits: Any) -> TailStream:
    watch = AppliedWatch(log, TOPIC, poll_s=0.01, abandon_s=60)
    return TailStream(log, log, watch, TOPIC, TailTarget(run_id=RUN), cursor, TailLimits(**limits))


def _steps(batches: list[TailBatch]) -> list[int]:
    return [p.step for b in batches for p in b.points]


def test_rounds_of_a_few_events_deliver_each_applied_event_once_in_order() -> None:
    log = FakeLog()
    for i in range(6):
        log.add(i % 2, _metrics(RUN, i * 10, 10))
        log.add(i % 2, _metrics("other-run", i * 10, 10))
    stream = _stream(log, {0: 0, 1: 0}, max_events=2)
    batches: list[TailBatch] = []
    for _ in range(10):
        batches += stream.round(log.applied)
    assert sorted(_steps(batches)) == list(range(60))
    # partition by partition, in log order; the other run's events are never read
    assert _steps(batches) == [s for i in (0, 2, 4, 1, 3, 5) for s in range(i * 10, i * 10 + 10)]
    assert all(len(offsets) <= 2 for _, offsets in log.reads)
    assert stream.cursor == log.applied


def test_each_message_token_covers_exactly_what_was_delivered_so_far() -> None:
    log = FakeLog()
    for i in range(8):
        log.add(0, _metrics(RUN, i * 10, 10))
    stream = _stream(log, {0: 0}, max_events=3, max_points=15)
    batches = [b for _ in range(5) for b in stream.round(log.applied)]
    for n, batch in enumerate(batches):
        resumed = _stream(log, start_cursor({0: 0}, WaitToken(TOPIC, dict(batch.offsets))))
        rest = [b for _ in range(5) for b in resumed.round(log.applied)]
        assert _steps(batches[: n + 1]) + _steps(rest) == list(range(80))
    # a message closes past max_points, never inside an event
    assert all(len(b.points) % 10 == 0 and len(b.points) <= 20 for b in batches)


def test_a_start_cursor_follows_the_token_where_it_names_a_partition() -> None:
    token = WaitToken(TOPIC, {0: 4, 2: -1})
    assert start_cursor({0: 9, 1: 7, 2: 3}, token) == {0: 5, 1: 7, 2: 0}
    assert start_cursor({0: 9}, None) == {0: 9}


def test_a_message_that_waits_too_long_for_its_reader_ends_the_stream() -> None:
    log = FakeLog()
    now = [0.0]
    stream = _stream(log, {0: 0}, stall_s=5.0, heartbeat_s=1.0)
    stream.clock = lambda: now[0]
    messages = stream.messages(alive=lambda: True, cancel=lambda: None)
    first = next(messages)
    assert first.empty and dict(first.offsets) == {0: -1}
    now[0] += 6.0  # the reader took 6 s to take the first message
    with pytest.raises(SlowReaderError, match="resume with the token"):
        next(messages)


def test_tail_requests_name_one_target() -> None:
    with pytest.raises(InvalidRequestError):
        tail_codec.target(query_pb2.TailRequest())
    with pytest.raises(InvalidRequestError):
        tail_codec.target(query_pb2.TailRequest(run_id="a", experiment_id="1"))
    assert tail_codec.target(query_pb2.TailRequest(experiment_id="1")) == TailTarget("", "1")


def _message(points: list[tuple[str, str, int, float, dict[str, str]]]) -> Any:
    return query_pb2.TailMessage(
        points=[
            query_pb2.TailPoint(run_id=r, key=k, step=s, value=v, timestamp=s, context=c)
            for r, k, s, v, c in points
        ],
        changes=[query_pb2.TailRunChange(run_id=RUN, kind="run_updated", status="FINISHED")],
    )


def test_the_view_keeps_the_latest_value_per_key_and_context() -> None:
    state = TailState()
    state.apply(
        _message([(RUN, "loss", 2, 0.5, {"rank": "0"}), (RUN, "loss", 1, 0.9, {"rank": "0"})])
    )
    state.apply(_message([(RUN, "loss", 3, 0.7, {"rank": "1"}), (RUN, "loss", 1, 0.2, {})]))
    found = {(k, c): (v.step, v.value, v.count) for (_, k, c), v in state.latest.items()}
    assert found == {
        ("loss", (("rank", "0"),)): (2, 0.5, 2),
        ("loss", (("rank", "1"),)): (3, 0.7, 1),
        ("loss", ()): (1, 0.2, 1),
    }
    assert state.runs[RUN].status == "FINISHED"
    console = Console(record=True, width=100)
    console.print(table(state, f"run {RUN}"))
    text = console.export_text()
    assert "rank=1" in text and "0.7" in text and "FINISHED" in text


def test_plain_lines_are_json_per_point_and_change() -> None:
    out = [json.loads(line) for line in lines(_message([(RUN, "acc", 4, 0.25, {"node": "a"})]))]
    assert out == [
        {
            "run_id": RUN,
            "key": "acc",
            "step": 4,
            "value": 0.25,
            "timestamp": 4,
            "context": {"node": "a"},
        },
        {"run_id": RUN, "change": "run_updated", "status": "FINISHED"},
    ]


def test_points_of_an_event_without_contexts_have_an_empty_one() -> None:
    from runstream.query.tail_events import points_of

    points = points_of(_metrics(RUN, 0, 3))
    assert [(p.step, dict(p.context)) for p in points] == [(0, {}), (1, {}), (2, {})]
    assert np.array_equal([p.value for p in points], [0.0, 1.0, 2.0])


def test_points_carry_their_context_once_events_have_contexts() -> None:
    """Point contexts (schema version 4) ride along as they are; before they exist this
    tail's points have empty contexts (the test above)."""
    if "contexts" not in getattr(ev.MetricsLogged, "__dataclass_fields__", {}):
        pytest.skip("events carry no point contexts yet (schema version 4)")
    from runstream.query.tail_events import points_of

    base = _metrics(RUN, 0, 3).payload
    assert isinstance(base, ev.MetricsLogged)
    payload = ev.MetricsLogged(  # type: ignore[call-arg]
        keys=base.keys,
        key_index=base.key_index,
        values=base.values,
        steps=base.steps,
        timestamps=base.timestamps,
        contexts=((("rank", "0"),), (("node", "a"), ("rank", "1"))),
        context_index=np.asarray([0, 1, 0], dtype=np.uint16),
    )
    event = ev.RunEvent("e", RUN, "1", "p", 0, 0, payload)
    assert [dict(p.context) for p in points_of(event)] == [
        {"rank": "0"},
        {"node": "a", "rank": "1"},
        {"rank": "0"},
    ]


def test_the_view_starts_from_the_run_as_it_stands() -> None:
    state = TailState()
    run = common_pb2.Run(
        info=common_pb2.RunInfo(run_id=RUN, run_name="lr-0.1", status=common_pb2.RUNNING),
        data=common_pb2.RunData(
            metrics=[
                common_pb2.Metric(key="loss", value=0.3, step=7, timestamp=7),
                common_pb2.Metric(key="acc", value=0.8, step=7, timestamp=7),
            ]
        ),
    )
    state.seed(run)
    state.apply(_message([(RUN, "loss", 8, 0.25, {"rank": "0"})]))
    rows = [
        (key, context, latest.step, before) for (_, key, context), latest, before in state.rows()
    ]
    assert rows == [("acc", (), 7, True), ("loss", (("rank", "0"),), 8, False)]
    assert state.runs[RUN].name == "lr-0.1"
