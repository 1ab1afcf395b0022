"""Two workers in one consumer group share the partitions; when one dies the other takes
its partitions over and rebuilds what the dead one left half written.

chDB lets one process hold a directory, so both workers run as threads of this process
on the session's directory (as in the all-in-one stack).  A thread cannot be SIGKILLed:
the dead worker is emulated with ``abort()``, which stops it at the next step of the
write protocol (no flush, no commit) and closes its consumer without leaving the group
(a static member), so the broker only notices at the session timeout, as after a kill.
Real SIGKILLs of a worker process are in tests/integration/faults/test_worker_sigkill.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from runstream.ingest import BatchSettings, IngestSettings, IngestWorker
from runstream.proto import events as ev
from tests.integration.ingest.workload import (
    Sender,
    client,
    event,
    new_topic,
    points,
    wait_applied,
    wait_for,
)

RUNS, EVENTS_PER_RUN, POINTS_PER_EVENT = 16, 25, 500
TOTAL = RUNS * EVENTS_PER_RUN * POINTS_PER_EVENT


def produce(sender: Sender, seconds: float) -> None:
    sender.send(event(f"pair-{r}", ev.RunCreated(start_time=r)) for r in range(RUNS))
    for j in range(EVENTS_PER_RUN):
        steps = list(range(j * POINTS_PER_EVENT, (j + 1) * POINTS_PER_EVENT))
        sender.send(
            event(
                f"pair-{r}", points(["m"] * POINTS_PER_EVENT, steps, [float(s % 10) for s in steps])
            )
            for r in range(RUNS)
        )
        sender.producer.flush()
        time.sleep(seconds / EVENTS_PER_RUN)
    sender.close()


@pytest.mark.slow
def test_two_workers_share_and_take_over(
    kafka_bootstrap: str, topic_prefix: str, make_settings: Callable[..., IngestSettings]
) -> None:
    topic = new_topic(kafka_bootstrap, topic_prefix, 8)
    base = make_settings(topic, batch=BatchSettings(max_points=5_000, max_interval_s=0.1))
    a = IngestWorker(IngestSettings(**{**base.__dict__, "instance_id": "worker-a"}))
    b = IngestWorker(IngestSettings(**{**base.__dict__, "instance_id": "worker-b"}))
    a.prepare()  # tables exist before both start
    producer = threading.Thread(target=produce, args=(Sender(kafka_bootstrap, topic), 10.0))
    producer.start()
    a.start()
    b.start()
    try:
        assert a.wait_ready(120) and b.wait_ready(120)
        wait_for(
            lambda: a.applied_offsets() and b.applied_offsets(),
            60,
            "both workers to own partitions",
        )
        wait_for(
            lambda: len(a.applied_offsets()) + len(b.applied_offsets()) == 8,
            60, "the group to settle",
        )  # fmt: skip
        shared = (set(a.applied_offsets()), set(b.applied_offsets()))
        assert not shared[0] & shared[1] and shared[0] | shared[1] == set(range(8))
        wait_for(lambda: a.metrics.batches.labels(topic)._value.get() >= 3, 30, "worker a to write")
        a.abort(at_step="offsets")  # dies mid-stream, its last batch written but not recorded
        assert a.error is None and not a.running
        wait_for(lambda: set(b.applied_offsets()) == set(range(8)), 60, "b to take every partition")
        producer.join()
        c = client(base.clickhouse, base.database)
        wait_applied(c, kafka_bootstrap, topic, timeout_s=60)
        count, distinct, total = c.query(
            "SELECT count(), uniqExact(run_id, key, step), sum(value) FROM metrics"
        ).result_rows[0]
        assert count == distinct == TOTAL
        assert total == sum(float(s % 10) for s in range(EVENTS_PER_RUN * POINTS_PER_EVENT)) * RUNS
        assert c.query("SELECT sum(count) FROM latest_metrics").result_rows == [(TOTAL,)]
        assert c.query("SELECT count() FROM runs FINAL").result_rows == [(RUNS,)]
        c.close()
        rebuilt = b.metrics.rebuilt.labels(topic)._value.get()
        assert rebuilt >= 1  # b rebuilt what a left half written
        print(f"shared as {sorted(shared[0])} / {sorted(shared[1])}; b rebuilt {rebuilt:.0f}")
    finally:
        a.abort()
        b.stop()
        producer.join()
    assert b.error is None
