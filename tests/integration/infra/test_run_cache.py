"""GetRun's kept answers on a real stack: a run that only logs metrics keeps its answer
across ingest's flushes, with the applied points merged in, and that answer is what the
tables give; any other write to the run drops it (``query/run_cache.py``).

Real broker, real chDB, a running ingest worker and a query service sharing one
:class:`AppliedFeed`, as ``runstream up`` wires them.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator

import pytest

from runstream.ingest import BatchSettings, IngestSettings, IngestWorker
from runstream.producer import RunstreamClient
from runstream.proto.applied import AppliedFeed
from runstream.query import QueryService, QuerySettings, open_query_service
from runstream.query.entities import Run
from runstream.query.run_cache import RunCache


@pytest.fixture
def ingest(
    chdb_dsn: str, fresh_database: str, kafka_bootstrap: str, topic_prefix: str
) -> IngestSettings:
    topic = f"{topic_prefix}.runcache.{uuid.uuid4().hex[:6]}"
    return IngestSettings(
        clickhouse=chdb_dsn,
        database=fresh_database,
        kafka=kafka_bootstrap,
        topic=topic,
        group=f"{topic}-group",
        partitions=1,
        batch=BatchSettings(max_points=100_000, max_interval_s=0.05),
        session_timeout_ms=6000,
    )


@pytest.fixture
def feed(ingest: IngestSettings) -> AppliedFeed:
    return AppliedFeed(ingest.topic)


@pytest.fixture
def service(ingest: IngestSettings, feed: AppliedFeed) -> Iterator[QueryService]:
    worker = IngestWorker(ingest, listener=feed)
    worker.prepare()  # the tables
    settings = QuerySettings(
        clickhouse=ingest.clickhouse, database=ingest.database, topic=ingest.topic, pool_size=2
    )
    svc = open_query_service(settings, applied_feed=feed)
    worker.start()
    try:
        assert worker.wait_ready(120), f"worker did not start: {worker.error}"
        yield svc
    finally:
        worker.stop()
        svc.close()
    assert worker.error is None, worker.error


@pytest.fixture
def client(ingest: IngestSettings) -> Iterator[RunstreamClient]:
    c = RunstreamClient(uri=f"kafka://{ingest.kafka}", topic=ingest.topic)
    yield c
    c.close()


def _comparable(run: Run) -> tuple[object, ...]:
    """The run with its metrics in key order and NaN as a string (NaN is not equal to
    itself)."""
    points = sorted(
        (m.key, m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value) for m in run.metrics
    )
    return (run.info, run.params, run.tags, run.io, points)


def _same(got: Run, fresh: Run) -> bool:
    return _comparable(got) == _comparable(fresh)


def _cache(service: QueryService) -> RunCache:
    assert service.run_cache is not None
    return service.run_cache


def _applied(feed: AppliedFeed, client: RunstreamClient) -> None:
    assert feed.wait_applied(client.flush(timeout=60).offset_map, 60), "not applied"


def test_a_run_that_only_logs_metrics_keeps_its_answer_and_it_is_a_fresh_read(
    feed: AppliedFeed, service: QueryService, client: RunstreamClient
) -> None:
    rng = random.Random(13)
    exp = client.create_experiment(f"c-{uuid.uuid4().hex[:6]}")
    run_id = client.create_run(exp, run_name="kept").run_id
    other = client.create_run(exp, run_name="other").run_id
    client.log_params(run_id, {"lr": "0.1"})
    client.set_tags(run_id, {"team": "a"})
    client.log_metric(run_id, "loss", 9.0, step=0, timestamp=1)
    client.log_metric(other, "loss", 1.0, step=0, timestamp=1)
    _applied(feed, client)
    cache = _cache(service)
    service.get_run(run_id)
    service.get_run(other)
    merged = cache.merged
    for round_ in range(12):
        # Steps out of order, equal steps with other timestamps, NaN, +-inf, new keys.
        for _ in range(rng.randint(1, 6)):
            key = rng.choice(["loss", "acc", f"k{round_ % 3}"])
            value = rng.choice([rng.uniform(-1, 1), math.nan, math.inf, -math.inf, 0.0])
            step, ts = rng.randint(0, 5), rng.randint(1, 5)
            client.log_metric(run_id, key, value, step=step, timestamp=ts)
        _applied(feed, client)
        got, fresh = service.get_run(run_id), service.runs.get(run_id)
        assert _same(got, fresh), (round_, got, fresh)
    assert cache.merged > merged  # the kept answer crossed flushes
    hits = cache.hits
    assert _same(service.get_run(other), service.runs.get(other))
    assert cache.hits == hits + 1  # the other run's answer was never dropped

    # Any other write to the run drops its answer: the next read is the tables'.
    for write in (
        lambda: client.log_params(run_id, {"epochs": "3"}),
        lambda: client.set_tags(run_id, {"team": "b"}),
        lambda: client.delete_tag(run_id, "team"),
        lambda: client.update_run(run_id, status="FINISHED", name="renamed"),
        lambda: client.delete_run(run_id),
    ):
        service.get_run(run_id)  # kept
        write()
        client.log_metric(run_id, "loss", 0.25, step=9, timestamp=9)
        _applied(feed, client)
        got, fresh = service.get_run(run_id), service.runs.get(run_id)
        assert _same(got, fresh), (got, fresh)
    assert service.get_run(run_id).info.lifecycle_stage == "deleted"
    assert service.get_run(run_id).params == {"lr": "0.1", "epochs": "3"}
