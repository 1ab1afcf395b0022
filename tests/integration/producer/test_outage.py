"""Issue 3, done when (b): the broker stops while a run logs and comes back later.

A dedicated broker (started and stopped here) so other tests keep theirs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from runstream.infra import kafka
from runstream.producer import BrokerUnavailableError, BufferFullError, RunstreamClient
from tests.integration.producer.topic import points, read_topic, unique_events

FAST_FAILURE = {
    "publish_timeout_s": 2.0,
    "connect_timeout_s": 1.0,
    "retry_backoff_s": 0.2,
    "retry_backoff_max_s": 1.0,
    "linger_ms": 20,
}


class Broker:
    def __init__(self, data_dir: Path, port: int, controller_port: int) -> None:
        self.data_dir, self.port, self.controller_port = data_dir, port, controller_port

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def up(self) -> None:
        kafka.up(self.data_dir, port=self.port, controller_port=self.controller_port)

    def down(self) -> None:
        kafka.down(self.data_dir)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, free_ports: object) -> Iterator[Broker]:
    port, controller_port = free_ports(2)  # type: ignore[operator]
    b = Broker(tmp_path_factory.mktemp("outage-kafka"), port, controller_port)
    b.up()
    yield b
    b.down()


@pytest.fixture
def topic(topic_prefix: str) -> str:
    return f"{topic_prefix}.outage.{uuid.uuid4().hex[:8]}"


def _steps(bootstrap: str, topic: str, producer: str) -> np.ndarray:
    rows = points(unique_events(read_topic(bootstrap, topic)))[producer]
    return np.sort(rows[:, 0])


def _log(client: RunstreamClient, run_id: str, start: int, count: int) -> None:
    for step in range(start, start + count):
        client.log_metric(run_id, "loss", float(step), step=step)


def test_with_a_spool_not_one_point_is_lost(broker: Broker, topic: str, tmp_path: Path) -> None:
    client = RunstreamClient(
        f"kafka://{broker.bootstrap}", topic=topic, spool_dir=str(tmp_path), **FAST_FAILURE
    )
    run = client.create_run("1")
    _log(client, run.run_id, 0, 10_000)
    client.flush()
    broker.down()
    try:
        for part in range(5):  # logging goes on during the outage; flush returns (spooled)
            _log(client, run.run_id, 10_000 + part * 10_000, 10_000)
            client.flush(timeout=30)
        assert client.spool_pending
    finally:
        broker.up()
    deadline = time.monotonic() + 60
    while client.spool_pending and time.monotonic() < deadline:
        time.sleep(0.2)
    _log(client, run.run_id, 60_000, 10_000)
    client.close()
    steps = _steps(broker.bootstrap, topic, client.producer_id)
    assert np.array_equal(steps, np.arange(70_000))


def test_a_later_process_resends_the_spool(broker: Broker, topic: str, tmp_path: Path) -> None:
    broker.down()
    try:
        script = textwrap.dedent(f"""
            import os, signal
            from runstream.producer import RunstreamClient
            client = RunstreamClient("kafka://{broker.bootstrap}", topic="{topic}",
                                     spool_dir={str(tmp_path)!r}, **{FAST_FAILURE!r})
            run = client.create_run("1")
            for step in range(30000):
                client.log_metric(run.run_id, "loss", float(step), step=step)
            client.flush(timeout=30)
            print(client.producer_id, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # the job dies during the outage
        """)
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
        )
        producer = done.stdout.strip()
        assert producer, done.stderr
        assert list(tmp_path.glob(f"{producer}/*.seg"))
    finally:
        broker.up()
    with RunstreamClient(
        f"kafka://{broker.bootstrap}", topic=topic, spool_dir=str(tmp_path), **FAST_FAILURE
    ) as restarted:
        deadline = time.monotonic() + 60
        while list(tmp_path.glob(f"{producer}/*.seg")) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert restarted.producer_id != producer
    assert np.array_equal(_steps(broker.bootstrap, topic, producer), np.arange(30_000))
    assert not any(tmp_path.iterdir())


def test_without_a_spool_the_sdk_raises_or_blocks_and_says_why(broker: Broker, topic: str) -> None:
    raising = RunstreamClient(
        f"kafka://{broker.bootstrap}",
        topic=topic,
        buffer_points=5000,
        buffer_policy="raise",
        **FAST_FAILURE,
    )
    blocking = RunstreamClient(
        f"kafka://{broker.bootstrap}",
        topic=topic,
        buffer_points=5000,
        block_timeout_s=1.5,
        **FAST_FAILURE,
    )
    run = raising.create_run("1")
    blocking.join_run(run.run_id, "1")
    raising.flush()
    blocking.flush()
    broker.down()
    accepted = {raising.producer_id: 0, blocking.producer_id: 0}
    try:
        with pytest.raises(BrokerUnavailableError) as info:
            raising.log_metric(run.run_id, "loss", 0.0, step=0)
            raising.flush(timeout=4)
        accepted[raising.producer_id] = 1
        assert broker.bootstrap in str(info.value)
        with pytest.raises(BufferFullError) as full:
            for step in range(1, 100_000):
                raising.log_metric(run.run_id, "loss", float(step), step=step)
                accepted[raising.producer_id] += 1
        assert "kafka://" + broker.bootstrap in str(full.value)
        started = time.monotonic()
        with pytest.raises(BufferFullError, match="after waiting") as blocked:
            for step in range(100_000):
                blocking.log_metric(run.run_id, "loss", float(step), step=step)
                accepted[blocking.producer_id] += 1
        assert time.monotonic() - started >= 1.5
        assert broker.bootstrap in str(blocked.value)
    finally:
        broker.up()
    raising.close()
    blocking.close()
    for producer, count in accepted.items():  # every accepted point arrives once
        assert np.array_equal(_steps(broker.bootstrap, topic, producer), np.arange(count))
