"""SearchRuns reflects the metric points ingest holds but has not applied yet
(``query/pending_search.py``), with exactly the answer the tables give once they are.

Real chDB, a real :class:`AppliedFeed`: runs and their applied points are written to the
tables as ingest writes them, and each run's creation is told to the feed as applied (in a
partition of its own), as the worker tells it; the pending points are handed to the feed as
the worker's loop hands it polled records.  "Applied" then means: the same points written
to the tables (only into active runs: ingest refuses points of a deleted run) and their
offsets published, and the search asked again of a service without any feed.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runstream.proto import events as ev
from runstream.proto.applied import AppliedFeed
from runstream.query import QueryService, QuerySettings, RunSelection, ViewType, open_query_service
from tests.fixtures.events import metrics_logged
from tests.integration.query.rows import Writer, create_tables

TOPIC = "runstream.events"
KEYS = ("a", "b")
VALUES = (0.0, 0.5, 1.0, -1.0, 2.0, 1e308, math.inf, -math.inf, math.nan)


@dataclass(frozen=True)
class Polled:
    partition: int
    offset: int
    event: ev.RunEvent | None


@dataclass
class World:
    writer: Writer
    feed: AppliedFeed
    live: QueryService  # with the feed: pending-aware
    plain: QueryService  # without: the tables only
    offset: int = 0
    created: int = 0  # the next offset of the creations' partition

    def next_offset(self) -> int:
        self.offset += 1
        return self.offset

    def applied_creation(self, experiment_id: str, run_id: str) -> None:
        """The run's ``RunCreated`` polled and applied (its rows are in the tables), in
        partition 1, so the points' partition 0 keeps its own offsets."""
        offset, self.created = self.created, self.created + 1
        payload = ev.RunCreated(start_time=1)
        event = ev.RunEvent(uuid.uuid4().hex, run_id, experiment_id, "p" * 32, offset, 1, payload)
        self.feed.hold([Polled(1, offset, event)])
        self.feed.publish({1: offset + 1})


@pytest.fixture(scope="module")
def world(chdb_dsn: str) -> Iterator[World]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    client = create_tables(chdb_dsn, database)
    feed = AppliedFeed(TOPIC)
    settings_ = QuerySettings(clickhouse=chdb_dsn, database=database, pool_size=2, topic=TOPIC)
    live = open_query_service(settings_, applied_feed=feed)
    plain = open_query_service(settings_)
    try:
        yield World(Writer(client), feed, live, plain)
    finally:
        live.close()
        plain.close()
        client.close()


@dataclass
class RunSpec:
    name: str
    start: int
    status: str
    deleted: bool
    param: str | None
    tag: str | None
    # (key, value, step, timestamp, pending)
    points: list[tuple[str, float, int, int, bool]] = field(default_factory=list)


def _hold(w: World, experiment_id: str, run_id: str, payload: ev.Payload) -> int:
    offset = w.next_offset()
    event = ev.RunEvent(uuid.uuid4().hex, run_id, experiment_id, "p" * 32, offset, 1, payload)
    w.feed.hold([Polled(0, offset, event)])
    return offset


def _build(w: World, specs: list[RunSpec]) -> tuple[str, list[tuple[str, str, list[Any]]]]:
    """Write ``specs`` (their applied points) to the tables and hold their pending points;
    returns the experiment and what applying needs: (run, experiment, points) per run."""
    exp = uuid.uuid4().hex[:8]
    todo = []
    for i, s in enumerate(specs):
        run_id = f"{exp}-r{i}"
        w.writer.run(
            run_id,
            exp,
            run_name=s.name,
            start_time=s.start,
            status=s.status,
            lifecycle_stage="deleted" if s.deleted else "active",
        )
        w.applied_creation(exp, run_id)
        if s.param is not None:
            w.writer.params(exp, run_id, {"p": s.param})
        if s.tag is not None:
            w.writer.tags(exp, run_id, {"t": s.tag})
        w.writer.metrics(exp, run_id, [(k, v, st_, ts) for k, v, st_, ts, p in s.points if not p])
        pending = [(k, v, st_, ts) for k, v, st_, ts, p in s.points if p]
        # in one or two events, as a client's batches arrive
        for part in (pending[: len(pending) // 2], pending[len(pending) // 2 :]):
            if part:
                _hold(w, exp, run_id, metrics_logged([(k, st_, ts, v) for k, v, st_, ts in part]))
        todo.append((run_id, exp, pending if not s.deleted else []))
    return exp, todo


def _apply(w: World, todo: list[tuple[str, str, list[Any]]]) -> None:
    for run_id, exp, points in todo:
        w.writer.metrics(exp, run_id, points)
    w.feed.publish({0: w.offset + 1})
    assert len(w.feed.pending) == 0


def _same(x: float) -> str:
    return repr(x)  # NaN equals NaN, -0.0 differs from 0.0 (neither store changes it)


def _pages(
    svc: QueryService, exp: str, flt: str, order: list[str], view: ViewType, n: int
) -> list[tuple[list[Any], str]]:
    pages, token = [], ""
    for _ in range(50):
        page = svc.search_runs(RunSelection([exp], flt, view), order, n, token)
        runs = [
            (
                r.info.run_id,
                r.info.lifecycle_stage,
                [(m.key, _same(m.value), m.step, m.timestamp) for m in r.metrics],
                sorted(r.params.items()),
                sorted(r.tags.items()),
            )
            for r in page.items
        ]
        pages.append((runs, page.next_page_token))
        token = page.next_page_token
        if not token:
            return pages
    raise AssertionError("more pages than runs")


# Steps and timestamps from small ranges: ties, broken by the value (NaN the greatest),
# between applied and pending points too.
_point = st.tuples(
    st.sampled_from(KEYS),
    st.sampled_from(VALUES),
    st.integers(0, 2),
    st.integers(0, 2),
    st.booleans(),
)
_spec = st.builds(
    RunSpec,
    name=st.sampled_from(["x1", "x2", "y"]),
    start=st.integers(0, 3),
    status=st.sampled_from(["RUNNING", "FINISHED"]),
    deleted=st.sampled_from([False, False, True]),
    param=st.sampled_from([None, "0.1", "0.01"]),
    tag=st.sampled_from([None, "u", "v"]),
    points=st.lists(_point, max_size=6),
)
_number = st.sampled_from(["0", "0.5", "1", "-1", "2", "1e308", "1e309", "-1e309"])
_clause = st.one_of(
    st.builds(
        lambda k, op, x: f"metrics.{k} {op} {x}",
        st.sampled_from(KEYS),
        st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
        _number,
    ),
    st.sampled_from(
        [
            "params.p = '0.1'",
            "params.p LIKE '0.0%'",
            "tags.t IS NULL",
            "tags.t ILIKE 'U'",
            "attributes.start_time > 1",
            "attributes.run_name LIKE 'x%'",
            "attributes.status = 'FINISHED'",
        ]
    ),
)
_order = st.lists(
    st.tuples(
        st.sampled_from(["metrics.a", "metrics.b", "params.p", "start_time", "run_name"]),
        st.sampled_from(["", " ASC", " DESC"]),
    ),
    max_size=3,
    unique_by=lambda t: t[0],
).map(lambda keys: [k + d for k, d in keys])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(_spec, min_size=1, max_size=6),
    clauses=st.lists(_clause, max_size=2),
    order=_order,
    view=st.sampled_from([ViewType.ACTIVE_ONLY, ViewType.ALL, ViewType.DELETED_ONLY]),
    n=st.integers(1, 4),
)
def test_search_with_pending_points_is_the_search_after_they_are_applied(
    world: World,
    specs: list[RunSpec],
    clauses: list[str],
    order: list[str],
    view: ViewType,
    n: int,
) -> None:
    exp, todo = _build(world, specs)
    flt = " and ".join(clauses)
    try:
        before = _pages(world.live, exp, flt, order, view, n)
    finally:
        _apply(world, todo)
    after = _pages(world.plain, exp, flt, order, view, n)
    assert before == after
    # the feed's service answers the same once nothing is pending
    assert _pages(world.live, exp, flt, order, view, n) == after


def test_a_page_token_crosses_from_applied_to_pending_runs(world: World) -> None:
    """Runs ordered by a metric whose latest value is pending for one of them: the pages
    alternate between the two lists, and each token leads on to the right next run."""
    specs = [
        RunSpec("a", 1, "RUNNING", False, None, None, [("a", 3.0, 0, 1, False)]),
        RunSpec(
            "b", 1, "RUNNING", False, None, None, [("a", 9.0, 0, 1, False), ("a", 2.0, 1, 2, True)]
        ),
        RunSpec("c", 1, "RUNNING", False, None, None, [("a", 1.0, 0, 1, False)]),
        RunSpec("d", 1, "RUNNING", False, None, None, [("b", 5.0, 0, 1, True)]),  # a missing: last
    ]
    exp, todo = _build(world, specs)
    try:
        seen = []
        token = ""
        while True:
            page = world.live.search_runs(
                RunSelection([exp], "metrics.a >= 1"), ["metrics.a DESC"], 1, token
            )
            seen += [(r.info.run_name, {m.key: m.value for m in r.metrics}) for r in page.items]
            token = page.next_page_token
            if not token:
                break
        # b's pending point (step 1) is its latest: 2.0, between a's 3.0 and c's 1.0
        assert seen == [("a", {"a": 3.0}), ("b", {"a": 2.0}), ("c", {"a": 1.0})]
        every = world.live.search_runs(RunSelection([exp]), ["metrics.a DESC"], 10, "")
        assert [r.info.run_name for r in every.items] == ["a", "b", "c", "d"]
        assert {m.key: m.value for m in every.items[3].metrics} == {"b": 5.0}
    finally:
        _apply(world, todo)


def test_a_run_with_a_pending_deletion_shows_no_pending_points(world: World) -> None:
    """Ingest may refuse the points of a run whose deletion is pending: nothing of it is
    merged until the deletion is applied (the tables' answer stands)."""
    specs = [
        RunSpec(
            "a", 1, "RUNNING", False, None, None, [("a", 1.0, 0, 1, False), ("a", 5.0, 1, 2, True)]
        ),
        RunSpec(
            "b", 2, "RUNNING", False, None, None, [("a", 2.0, 0, 1, False), ("a", 7.0, 1, 2, True)]
        ),
    ]
    exp, todo = _build(world, specs)
    run_a = todo[0][0]
    try:
        _hold(world, exp, run_a, ev.RunDeleted(123))
        page = world.live.search_runs(RunSelection([exp], "metrics.a > 0.5"), ["metrics.a"], 0, "")
        got = [(r.info.run_name, [m.value for m in r.metrics]) for r in page.items]
        assert got == [("a", [1.0]), ("b", [7.0])]
        page = world.live.search_runs(RunSelection([exp], "metrics.a >= 5"), [], 0, "")
        assert [r.info.run_name for r in page.items] == ["b"]
    finally:
        _apply(world, todo)


def test_a_search_that_names_no_metric_still_shows_pending_points(world: World) -> None:
    """Without metric comparisons or metric order keys the tables decide the page; its
    runs then carry their pending points as GetRun does."""
    specs = [
        RunSpec(
            "a", 1, "RUNNING", False, "0.1", None, [("a", 1.0, 0, 1, False), ("b", 4.0, 0, 1, True)]
        ),
        RunSpec("b", 2, "RUNNING", False, "0.2", None, [("a", 2.0, 0, 1, True)]),
    ]
    exp, todo = _build(world, specs)
    try:
        page = world.live.search_runs(RunSelection([exp], "params.p = '0.1'"), [], 0, "")
        assert [(m.key, m.value) for r in page.items for m in r.metrics] == [
            ("a", 1.0),
            ("b", 4.0),
        ]
        assert world.live.get_run(todo[0][0]).metrics == page.items[0].metrics
    finally:
        _apply(world, todo)
