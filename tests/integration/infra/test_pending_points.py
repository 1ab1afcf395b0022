"""Points ingest has polled but not yet applied show in GetRun (``proto/pending.py``).

Real broker, real chDB, a real ingest worker and query service sharing one
:class:`AppliedFeed`, as ``runstream up`` wires them.  To hold points "polled, not applied"
for as long as the test needs, the worker is stopped and the records are polled from Kafka
by the test and handed to the feed the way the worker's loop hands them; the worker then
starts again and applies them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from runstream.ingest import BatchSettings, IngestSettings, IngestWorker
from runstream.ingest.kafka_source import KafkaSource
from runstream.producer import RunstreamClient
from runstream.proto.applied import AppliedFeed
from runstream.proto.tokens import WriteToken
from runstream.query import QueryService, QuerySettings, RunSelection, open_query_service


@pytest.fixture
def topic(topic_prefix: str) -> str:
    return f"{topic_prefix}.pending.{uuid.uuid4().hex[:6]}"


@pytest.fixture
def ingest(chdb_dsn: str, fresh_database: str, kafka_bootstrap: str, topic: str) -> IngestSettings:
    return IngestSettings(
        clickhouse=chdb_dsn,
        database=fresh_database,
        kafka=kafka_bootstrap,
        topic=topic,
        group=f"{topic}-group",
        partitions=1,
        batch=BatchSettings(max_points=100_000, max_interval_s=0.2),
        session_timeout_ms=6000,
    )


@pytest.fixture
def feed(topic: str) -> AppliedFeed:
    return AppliedFeed(topic)


@pytest.fixture
def service(ingest: IngestSettings, feed: AppliedFeed) -> Iterator[QueryService]:
    IngestWorker(ingest).prepare()  # the tables
    settings = QuerySettings(
        clickhouse=ingest.clickhouse, database=ingest.database, topic=ingest.topic, pool_size=2
    )
    svc = open_query_service(settings, applied_feed=feed)
    yield svc
    svc.close()


def _apply(ingest: IngestSettings, feed: AppliedFeed, token: WriteToken) -> None:
    """Run a worker that tells ``feed`` until ``token`` is applied, then stop it."""
    worker = IngestWorker(ingest, listener=feed)
    worker.start()
    try:
        assert worker.wait_ready(120), f"worker did not start: {worker.error}"
        assert feed.wait_applied(token.offset_map, 60), "ingest did not apply the token"
    finally:
        worker.stop()
    assert worker.error is None, worker.error


def _hold(ingest: IngestSettings, feed: AppliedFeed, token: WriteToken) -> int:
    """Poll the topic from what is applied up to ``token`` and hand the records to ``feed``
    (as the worker's loop does); returns how many were held."""
    source = KafkaSource.assigned(ingest.kafka, ingest.topic)
    held = 0
    try:
        for p, offset in feed.applied().items():
            source.seek(p, offset)
        deadline = time.monotonic() + 30
        upto = token.offset_map
        seen: dict[int, int] = {}
        while any(seen.get(p, -1) < o for p, o in upto.items()):
            assert time.monotonic() < deadline, f"records up to {upto} not polled: {seen}"
            records = source.poll(0.5)
            feed.hold(records)
            held += len(records)
            for r in records:
                seen[r.partition] = max(seen.get(r.partition, -1), r.offset)
    finally:
        source.close()
    return held


def _latest(service: QueryService, run_id: str) -> dict[str, tuple[float, int]]:
    return {m.key: (m.value, m.step) for m in service.get_run(run_id).metrics}


def _in_tables(service: QueryService, run_id: str) -> dict[str, tuple[float, int]]:
    return {m.key: (m.value, m.step) for m in service.runs.get(run_id).metrics}


def test_polled_points_show_before_they_are_applied_and_once_after(
    ingest: IngestSettings, feed: AppliedFeed, service: QueryService
) -> None:
    client = RunstreamClient(uri=f"kafka://{ingest.kafka}", topic=ingest.topic)
    try:
        run_id = client.create_run(client.create_experiment(f"p-{uuid.uuid4().hex[:6]}")).run_id
        client.log_metric(run_id, "loss", 9.0, step=0, timestamp=1)
        _apply(ingest, feed, client.flush(timeout=60))
        assert _latest(service, run_id) == {"loss": (9.0, 0)}

        # Acknowledged by Kafka, polled, not applied: GetRun shows the latest of them (the
        # greatest step wins, not the last logged), the tables do not have them yet.
        client.log_metric(run_id, "loss", 4.0, step=2, timestamp=3)
        client.log_metric(run_id, "loss", 7.0, step=1, timestamp=2)
        client.log_metric(run_id, "acc", 0.5, step=2, timestamp=3)
        token = client.flush(timeout=60)
        assert _hold(ingest, feed, token) >= 1
        assert _in_tables(service, run_id) == {"loss": (9.0, 0)}
        assert _latest(service, run_id) == {"loss": (4.0, 2), "acc": (0.5, 2)}

        # The same records polled twice (a re-poll after a failed step) change nothing.
        feed.release([0])
        assert _latest(service, run_id) == {"loss": (9.0, 0)}
        _hold(ingest, feed, token)
        _hold(ingest, feed, token)
        assert _latest(service, run_id) == {"loss": (4.0, 2), "acc": (0.5, 2)}

        # Applied: the pending points are gone and the tables give the same answer.
        _apply(ingest, feed, token)
        assert len(feed.pending) == 0
        assert _in_tables(service, run_id) == {"loss": (4.0, 2), "acc": (0.5, 2)}
        assert _latest(service, run_id) == {"loss": (4.0, 2), "acc": (0.5, 2)}
    finally:
        client.close()


def test_nothing_is_shown_of_a_run_whose_deletion_is_pending(
    ingest: IngestSettings, feed: AppliedFeed, service: QueryService
) -> None:
    """Ingest refuses points logged after a run's deletion: while the deletion is pending,
    none of the run's pending points is shown."""
    client = RunstreamClient(uri=f"kafka://{ingest.kafka}", topic=ingest.topic)
    try:
        run_id = client.create_run(client.create_experiment(f"d-{uuid.uuid4().hex[:6]}")).run_id
        client.log_metric(run_id, "loss", 1.0, step=0)
        _apply(ingest, feed, client.flush(timeout=60))

        client.log_metric(run_id, "loss", 2.0, step=1)
        client.delete_run(run_id)
        client.log_metric(run_id, "loss", 3.0, step=2)
        token = client.flush(timeout=60)
        _hold(ingest, feed, token)
        assert _latest(service, run_id) == {"loss": (1.0, 0)}

        _apply(ingest, feed, token)
        run = service.get_run(run_id)
        assert run.info.lifecycle_stage == "deleted"
        # The point logged before the deletion was applied, the one after it refused.
        assert {m.key: (m.value, m.step) for m in run.metrics} == {"loss": (2.0, 1)}
        assert len(feed.pending) == 0
    finally:
        client.close()


def _found(service: QueryService, experiment_id: str) -> list[tuple[str, float]]:
    page = service.search_runs(
        RunSelection([experiment_id], "metrics.probe >= 1"), ["metrics.probe DESC"], 0, ""
    )
    return [(r.info.run_name, {m.key: m.value for m in r.metrics}["probe"]) for r in page.items]


def test_a_search_finds_polled_points_as_it_will_once_they_are_applied(
    ingest: IngestSettings, feed: AppliedFeed, service: QueryService
) -> None:
    """SearchRuns (``query/pending_search.py``): the polled points decide which runs match
    and their order before they are applied, with the answer the tables give after."""
    client = RunstreamClient(uri=f"kafka://{ingest.kafka}", topic=ingest.topic)
    try:
        exp = client.create_experiment(f"s-{uuid.uuid4().hex[:6]}")
        runs = {name: client.create_run(exp, run_name=name).run_id for name in "abc"}
        client.log_metric(runs["a"], "probe", 5.0, step=0, timestamp=1)
        client.log_metric(runs["b"], "probe", 0.0, step=0, timestamp=1)
        client.log_metric(runs["c"], "probe", 3.0, step=0, timestamp=1)
        _apply(ingest, feed, client.flush(timeout=60))
        assert _found(service, exp) == [("a", 5.0), ("c", 3.0)]

        client.log_metric(runs["b"], "probe", 4.0, step=1, timestamp=2)  # now matches
        client.log_metric(runs["a"], "probe", 0.5, step=1, timestamp=2)  # no longer does
        token = client.flush(timeout=60)
        assert _hold(ingest, feed, token) >= 1
        held = _found(service, exp)
        assert held == [("b", 4.0), ("c", 3.0)]
        plain = service.runs.search(RunSelection([exp], "metrics.probe >= 1"), [], 0, "")
        assert sorted(r.info.run_name for r in plain.items) == ["a", "c"]  # the tables

        _apply(ingest, feed, token)
        assert len(feed.pending) == 0
        assert _found(service, exp) == held
    finally:
        client.close()
