"""A write that no retry can fix stops the worker, which says so, and nothing after the
failed batch is written or dead-lettered (real broker, real chDB).

The ``tags`` table is dropped under the worker's database, so the first batch (a run
created and tagged) fails at its ``tags`` insert, before the run's row is written.  The
records after it (the run's points) were buffered already; the closing consumer's revoke
used to write them: the points dead-lettered as ``run-not-found`` and the applied offsets
moved past the failed batch, so a restart after the fix skipped the run for good.
"""

from __future__ import annotations

from collections.abc import Callable

from runstream.ingest import BatchSettings, IngestSettings, IngestWorker
from runstream.proto import events as ev
from tests.integration.ingest.workload import (
    Sender,
    applied,
    client,
    end_offsets,
    event,
    new_topic,
    points,
    wait_for,
)

EVENTS, POINTS = 10, 1000


def test_a_write_no_retry_fixes_stops_the_worker_and_nothing_later_is_written(
    make_settings: Callable[..., IngestSettings],
    kafka_bootstrap: str,
    topic_prefix: str,
    chdb_dsn: str,
    fresh_database: str,
) -> None:
    topic = new_topic(kafka_bootstrap, topic_prefix, 1)
    sender = Sender(kafka_bootstrap, topic)
    sender.send([event("doomed", ev.RunCreated(start_time=1))])
    sender.send([event("doomed", ev.TagsSet(("team",), ("a",)))])
    sender.send(
        event(
            "doomed", points(["loss"] * POINTS, range(i * POINTS, (i + 1) * POINTS), [1.0] * POINTS)
        )
        for i in range(EVENTS)
    )
    sender.close()
    batch = BatchSettings(max_points=10 * POINTS, max_events=2, max_interval_s=0.2)
    worker = IngestWorker(make_settings(topic, batch=batch))
    worker.prepare()
    c = client(chdb_dsn, fresh_database)
    c.command("DROP TABLE tags")
    worker.start()
    try:
        wait_for(lambda: not worker.running, 60, "the worker to stop on the failed write")
    finally:
        worker.stop()

    assert applied(c, topic) == {}  # never moved past the failed batch
    assert c.query("SELECT count() FROM metrics").result_rows[0][0] == 0
    assert sum(end_offsets(kafka_bootstrap, f"{topic}.dlq").values()) == 0  # no run-not-found
    assert "UNKNOWN_TABLE" in str(worker.error)
    health = worker.health()
    assert health.state == "failed" and "UNKNOWN_TABLE" in health.reason
    registry = worker.metrics.registry
    assert registry.get_sample_value("runstream_ingest_progressing", {"topic": topic}) == 0
    state = {"topic": topic, "runstream_ingest_state": "failed"}
    assert registry.get_sample_value("runstream_ingest_state", state) == 1
