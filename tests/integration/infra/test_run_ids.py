"""GetRun of a run the tables do not hold answers NOT_FOUND without a statement, on a real
stack (``query/run_ids.py``): real broker, real chDB, an ingest worker and a query service
sharing one :class:`AppliedFeed`, as ``runstream up`` wires them.

The store the service reads through counts its statements (it is the real chDB store,
wrapped): an absent run costs none, and a run the tables hold is always found, whether it
was loaded from the table, told by the feed, waited for with its write token, purged, or
loaded again after records the feed never held.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pytest

from runstream.infra.gc import GcPlan, collect
from runstream.ingest import BatchSettings, IngestSettings, IngestWorker
from runstream.producer import RunstreamClient
from runstream.producer.kafka_transport import KafkaTransport
from runstream.producer.settings import KafkaOptions
from runstream.proto.applied import AppliedFeed
from runstream.proto.tokens import WaitToken, WriteToken
from runstream.query import NotFoundError, QueryService, QuerySettings
from runstream.query.clickhouse_store import ClickHouseStore
from runstream.query.ports import Column, Row
from runstream.query.run_ids import RUN_HASHES_SQL, RunIds, run_hashes
from runstream.query.sql_text import Sql


class CountingStore:
    """The real store, counting the statements it runs."""

    def __init__(self, store: ClickHouseStore) -> None:
        self.inner = store
        self.statements = 0

    def rows(self, sql: Sql) -> list[Row]:
        self.statements += 1
        return self.inner.rows(sql)

    def columns(self, sql: Sql, dtypes: Mapping[str, Any]) -> dict[str, Column]:
        self.statements += 1
        return self.inner.columns(sql, dtypes)

    def rows_many(self, statements: Mapping[str, Sql]) -> dict[str, list[Row]]:
        self.statements += len(statements)
        return self.inner.rows_many(statements)

    def command(self, text: str) -> None:
        self.inner.command(text)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def ingest(
    chdb_dsn: str, fresh_database: str, kafka_bootstrap: str, topic_prefix: str
) -> IngestSettings:
    topic = f"{topic_prefix}.runids.{uuid.uuid4().hex[:6]}"
    return IngestSettings(
        clickhouse=chdb_dsn,
        database=fresh_database,
        kafka=kafka_bootstrap,
        topic=topic,
        group=f"{topic}-group",
        partitions=2,
        batch=BatchSettings(max_points=100_000, max_interval_s=0.05),
        session_timeout_ms=6000,
    )


@pytest.fixture
def feed(ingest: IngestSettings) -> AppliedFeed:
    return AppliedFeed(ingest.topic)


def _service(ingest: IngestSettings, feed: AppliedFeed) -> tuple[QueryService, CountingStore]:
    settings = QuerySettings(
        clickhouse=ingest.clickhouse,
        database=ingest.database,
        topic=ingest.topic,
        pool_size=2,
        create_views=False,
        max_calls=64,
        max_waiting=64,  # every reader of the token test may wait at once
    )
    store = CountingStore(ClickHouseStore(settings.clickhouse, settings.database, 2))
    return QueryService(store, settings, applied_feed=feed), store


@pytest.fixture
def worker(ingest: IngestSettings, feed: AppliedFeed) -> Iterator[IngestWorker]:
    w = IngestWorker(ingest, listener=feed)
    w.prepare()  # the tables
    w.start()
    try:
        assert w.wait_ready(120), f"worker did not start: {w.error}"
        yield w
    finally:
        w.stop()
    assert w.error is None, w.error


@pytest.fixture
def client(ingest: IngestSettings) -> Iterator[RunstreamClient]:
    c = RunstreamClient(uri=f"kafka://{ingest.kafka}", topic=ingest.topic)
    yield c
    c.close()


def _applied(feed: AppliedFeed, token: WriteToken) -> None:
    assert feed.wait_applied(token.offset_map, 60), "not applied"


def _ids(service: QueryService) -> RunIds:
    assert service.run_ids is not None
    assert service.run_ids.wait_ready(60), "run ids not loaded"
    return service.run_ids


def _costs_nothing(service: QueryService, store: CountingStore, call: Callable[[], None]) -> None:
    """``call`` runs no statement while the filter stays in use.  Under load the consumer
    group may rebalance, and records applied after a reassignment set the filter aside
    until it is loaded again (a statement of its own): such a call is made again."""
    ids = _ids(service)
    for _ in range(20):
        assert ids.wait_ready(60), "run ids not loaded again"
        loads, before = ids.loads, store.statements
        call()
        if ids.ready and ids.loads == loads:
            assert store.statements == before
            return
    raise AssertionError("the run ids were set aside during every one of 20 calls")


def _absent_costs_nothing(service: QueryService, store: CountingStore, run_id: str) -> None:
    def call() -> None:
        with pytest.raises(NotFoundError, match="not found"):
            service.get_run(run_id)

    _costs_nothing(service, store, call)


def _loaded_again(ids: RunIds, loads: int) -> None:
    """Records the feed never held were applied: wait until a later load is in use."""
    for _ in range(6000):
        if ids.ready and ids.loads > loads:
            return
        threading.Event().wait(0.01)
    raise AssertionError("run ids not loaded again")


def test_the_tables_hashes_are_the_filters_and_every_stage_of_run_is_held(
    ingest: IngestSettings,
    feed: AppliedFeed,
    worker: IngestWorker,
    client: RunstreamClient,
) -> None:
    exp = client.create_experiment(f"ids-{uuid.uuid4().hex[:6]}")
    run_ids = [client.create_run(exp, run_name=f"r{i}").run_id for i in range(40)]
    client.delete_run(run_ids[0])
    _applied(feed, client.flush(timeout=60))
    service, store = _service(ingest, feed)
    try:
        # ClickHouse's hashes of the run ids are what Python computes.
        h = store.inner.columns(RUN_HASHES_SQL, {"h1": np.uint64, "h2": np.uint64})
        assert sorted(zip(h["h1"].tolist(), h["h2"].tolist(), strict=True)) == sorted(
            run_hashes(r) for r in run_ids
        )
        ids = _ids(service)
        for run_id in run_ids:  # loaded, the deleted one too
            assert service.get_run(run_id).info.run_id == run_id
        for _ in range(200):
            _absent_costs_nothing(service, store, uuid.uuid4().hex)
        # Created after the load: told by the feed before the offsets' waiters wake.
        later = [client.create_run(exp, run_name=f"l{i}").run_id for i in range(20)]
        _applied(feed, client.flush(timeout=60))
        assert all(not ids.absent(r) for r in later)
        assert all(service.get_run(r).info.run_id == r for r in later)
        assert service.run_experiments([*later, uuid.uuid4().hex]) == dict.fromkeys(later, exp)

        def none_known() -> None:
            assert service.run_experiments([uuid.uuid4().hex, uuid.uuid4().hex]) == {}

        _costs_nothing(service, store, none_known)
        # Purged: the tables no longer hold it; the filter may, and the statement says so.
        transport = KafkaTransport(KafkaOptions(bootstrap=ingest.kafka, topic=ingest.topic))
        try:
            token = collect(transport, GcPlan(((run_ids[0], exp),), ()), "test")
        finally:
            transport.close()
        _applied(feed, token)
        with pytest.raises(NotFoundError):
            service.get_run(run_ids[0])
        assert service.get_run(run_ids[1]).info.run_id == run_ids[1]
        # Records the feed never held (a partition's first offsets, as after a
        # reassignment): set aside, loaded again, the runs applied meanwhile included.
        loads = ids.loads
        feed.release([0, 1])
        after = client.create_run(exp, run_name="after").run_id
        _applied(feed, client.flush(timeout=60))
        _loaded_again(ids, loads)
        assert service.get_run(after).info.run_id == after
        _absent_costs_nothing(service, store, uuid.uuid4().hex)
    finally:
        service.close()


def test_a_read_with_the_creations_token_always_finds_the_run(
    ingest: IngestSettings,
    feed: AppliedFeed,
    worker: IngestWorker,
    client: RunstreamClient,
) -> None:
    service, _ = _service(ingest, feed)
    try:
        _ids(service)
        exp = client.create_experiment(f"ryw-{uuid.uuid4().hex[:6]}")
        _applied(feed, client.flush(timeout=60))
        missed: list[str] = []
        found: list[str] = []

        def read(run_id: str, token: WriteToken) -> None:
            # Without the token first (may be too early), then with it (must find it).
            with contextlib.suppress(NotFoundError):
                service.get_run(run_id)
            service.wait(WaitToken(token.topic, token.offset_map), 30)
            try:
                found.append(service.get_run(run_id).info.run_id)
            except NotFoundError:
                missed.append(run_id)

        threads = []
        for i in range(30):
            run_id = client.create_run(exp, run_name=f"w{i}").run_id
            token = client.flush(timeout=60)
            t = threading.Thread(target=read, args=(run_id, token))
            t.start()
            threads.append(t)
        for t in threads:
            t.join(60)
        assert missed == [] and len(found) == 30
    finally:
        service.close()


def test_a_service_started_on_written_tables_holds_their_runs(
    ingest: IngestSettings, feed: AppliedFeed, client: RunstreamClient
) -> None:
    """A restart (or a replay's rebuilt tables): a new feed, loaded from the table before
    and after the worker's first offsets."""
    first = IngestWorker(ingest, listener=feed)
    first.prepare()
    first.start()
    try:
        assert first.wait_ready(120), first.error
        exp = client.create_experiment(f"re-{uuid.uuid4().hex[:6]}")
        run_ids = [client.create_run(exp).run_id for _ in range(25)]
        _applied(feed, client.flush(timeout=60))
    finally:
        first.stop()
    fresh = AppliedFeed(ingest.topic)
    service, store = _service(ingest, fresh)
    try:
        ids = _ids(service)
        assert all(not ids.absent(r) for r in run_ids)
        second = IngestWorker(ingest, listener=fresh)
        second.start()
        try:
            assert second.wait_ready(120), second.error
            more = [client.create_run(exp).run_id for _ in range(5)]
            _applied(fresh, client.flush(timeout=60))
            assert all(service.get_run(r).info.run_id == r for r in run_ids + more)
            _ids(service)
            _absent_costs_nothing(service, store, uuid.uuid4().hex)
        finally:
            second.stop()
        assert second.error is None, second.error
    finally:
        service.close()
