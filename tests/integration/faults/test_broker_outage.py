"""The broker is SIGKILLed while ``runstream up``'s ingest works through a backlog and a
producer keeps sending, then restarted on the same data directory.

While the broker is down the stack must stay up and say that ingest cannot make progress
(QueryService NOT_SERVING, ``runstream_ingest_state`` = kafka-unavailable); once it is
back, ingest must resume by itself (no restart of the stack): a run created right after
the broker's return becomes readable, health is SERVING again, and the tables hold every
acknowledged point exactly once.  The time from the broker's return to that run being
readable is printed (measured, not asserted).

A dedicated broker (started, killed and stopped here) so other tests keep theirs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from runstream.proto import events as ev
from runstream.proto.v1 import query_pb2, query_pb2_grpc
from tests.integration.faults.stack import Up, probe, runstream_up
from tests.integration.ingest.workload import (
    CODEC,
    Sender,
    committed,
    end_offsets,
    event,
    points,
    wait_for,
)
from tests.integration.producer.test_outage import Broker

RUNS, KEYS, STEPS = 10, 4, 500  # one event: 500 steps x 4 keys = 2,000 points
BACKLOG = 20  # events per run before the kill: 400,000 points
DURING = 10  # events per run sent by a producer across the kill: 200,000 points


def value(run: int, step: int, key: int) -> float:
    return ((run * 5 + step * 3 + key) % 89) * 0.25  # exact in binary: sums are exact


def metric_event(run: int, n: int) -> ev.RunEvent:
    steps = [n * STEPS + i for i in range(STEPS) for _ in range(KEYS)]
    kk = [k for _ in range(STEPS) for k in range(KEYS)]
    keys = [f"k{k}" for k in kk]
    values = [value(run, s, k) for s, k in zip(steps, kk, strict=True)]
    return event(f"out-{run}", points(keys, steps, values))


def expected_sum(events: int) -> float:
    return sum(
        value(r, s, k) for r in range(RUNS) for s in range(events * STEPS) for k in range(KEYS)
    )


@pytest.fixture
def broker(tmp_path: Path, free_ports: Callable[[int], list[int]]) -> Iterator[Broker]:
    port, controller_port = free_ports(2)
    b = Broker(tmp_path / "kafka", port, controller_port)
    b.up()
    try:
        yield b
    finally:
        b.down()


def sigkill(broker: Broker) -> None:
    pid = int((broker.data_dir / "kafka.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 30, "the broker to die")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def run_exists(address: str, run_id: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        try:
            reply = stub.GetRun(query_pb2.GetRunRequest(run_id=run_id), timeout=10)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.DEADLINE_EXCEEDED):
                return False
            raise
    return bool(reply.run.info.run_id == run_id)


class Producer(threading.Thread):
    """Sends ``DURING`` events per run, one round every ``pause_s``; keeps the futures."""

    def __init__(self, bootstrap: str, topic: str, pause_s: float) -> None:
        super().__init__(name="outage-producer", daemon=True)
        self.sender = Sender(bootstrap, topic)
        self.pause_s = pause_s
        self.futures: list[Any] = []

    def run(self) -> None:
        for n in range(BACKLOG, BACKLOG + DURING):
            for r in range(RUNS):
                e = metric_event(r, n)
                sent = self.sender.producer.send(
                    self.sender.topic, key=e.kafka_key, value=CODEC.encode(e)
                )
                self.futures.append(sent)
            time.sleep(self.pause_s)

    def acknowledged(self) -> int:
        """Wait for every send; all must be acknowledged (the producer retries)."""
        self.sender.producer.flush(timeout=180)
        for f in self.futures:
            f.get(timeout=1)
        self.sender.producer.close()
        return len(self.futures)


def test_broker_sigkill_mid_load(
    broker: Broker,
    topic_prefix: str,
    free_ports: Callable[[int], list[int]],
    tmp_path: Path,
) -> None:
    topic = f"{topic_prefix}.outage.{uuid.uuid4().hex[:6]}"
    group = f"{topic}-group"
    env = {
        "RUNSTREAM_GROUP": group,
        "RUNSTREAM_INGEST_PARTITIONS": "4",
        "RUNSTREAM_INGEST_BATCH_POINTS": "50000",
        "RUNSTREAM_INGEST_BATCH_INTERVAL": "0.2",
    }
    data_dir = tmp_path / "stack"
    with runstream_up(
        data_dir, broker.bootstrap, topic, free_ports(2), tmp_path / "up.log", env
    ) as up:
        events = outage(up, broker, topic, group)
    assert up.proc.returncode == 0, up.tail()
    assert "ingest worker failed" not in up.tail(10**7)
    check_exact(f"chdb://{data_dir.resolve() / 'clickhouse'}", events, broker.bootstrap, topic)


def outage(up: Up, broker: Broker, topic: str, group: str) -> int:
    wait_for(lambda: up.ingest_state() in ("consuming", None), 60, "ingest consuming")
    sender = Sender(broker.bootstrap, topic)
    sender.send(event(f"out-{r}", ev.RunCreated(start_time=r)) for r in range(RUNS))
    sender.send(metric_event(r, n) for n in range(BACKLOG) for r in range(RUNS))
    sender.close()  # the backlog is acknowledged
    producer = Producer(broker.bootstrap, topic, pause_s=0.5)
    producer.start()
    wait_for(lambda: up.metric("runstream_ingest_points_total") > 0, 60, "ingest to start")
    applied = up.metric("runstream_ingest_points_total")
    sigkill(broker)
    killed_at = time.monotonic()
    print(f"broker killed with {applied:.0f} of {RUNS * BACKLOG * STEPS * KEYS} points applied")

    wait_for(lambda: up.query_status() == "NOT_SERVING", 60, "QueryService NOT_SERVING")
    wait_for(lambda: up.ingest_state() == "kafka-unavailable", 30, "ingest: kafka-unavailable")
    assert up.metric("runstream_ingest_progressing") == 0
    print(f"NOT_SERVING {time.monotonic() - killed_at:.1f} s after the kill")
    time.sleep(3)  # stays down a while; the stack must stay up meanwhile
    assert up.proc.poll() is None, up.tail()
    assert up.query_status() == "NOT_SERVING"

    broker.up()
    back_at = time.monotonic()
    late = Sender(broker.bootstrap, topic)
    late.send([event("out-late", ev.RunCreated(start_time=99))])
    late.close()
    acked_at = time.monotonic()
    wait_for(lambda: run_exists(up.address, "out-late"), 120, "the run created after the outage")
    readable_at = time.monotonic()
    print(
        f"run created {acked_at - back_at:.1f} s after the broker's return readable "
        f"{readable_at - back_at:.1f} s after the return ({readable_at - acked_at:.1f} s after "
        "its acknowledgement)"
    )
    wait_for(lambda: up.query_status() == "SERVING", 60, "QueryService SERVING again")
    assert up.ingest_state() == "consuming"

    producer.join(timeout=120)
    sent = producer.acknowledged()
    assert sent == RUNS * DURING
    ends = {p: o for p, o in end_offsets(broker.bootstrap, topic).items() if o > 0}
    wait_for(
        lambda: all(committed(broker.bootstrap, group).get(p, -1) >= o for p, o in ends.items()),
        120, "ingest to catch up",
    )  # fmt: skip
    return BACKLOG + DURING


def check_exact(dsn: str, events: int, bootstrap: str, topic: str) -> None:
    total = events * RUNS * STEPS * KEYS
    got = probe(
        dsn,
        "runstream",
        {
            "points": "SELECT count(), uniqExact(run_id, key, step), sum(value) FROM metrics",
            "summary": "SELECT sum(count), count(DISTINCT run_id, key) FROM latest_metrics",
            "runs": "SELECT count() FROM runs FINAL",
        },
    )
    assert got["points"] == [[total, total, repr(expected_sum(events))]]
    assert got["summary"] == [[total, RUNS * KEYS]]
    assert got["runs"] == [[RUNS + 1]]
    dead = end_offsets(bootstrap, f"{topic}.dlq")
    assert sum(dead.values()) == 0, f"dead-lettered: {dead}"
