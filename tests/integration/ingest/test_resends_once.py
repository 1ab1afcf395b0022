"""Issue 11, item 4: resends across a real broker outage are applied once, both transports.

The SDK's publish timeout (1 s) is far shorter than the outage, so it resends the same
events again and again.  Through the gateway each resent request used to become new
events (new ids, the gateway's own seqs), all published once the broker was back: the
tables counted some points several times.  Now a request names its origin, the gateway
stamps a resend as it stamped the first sending, and ingest drops what a producer's seq
says it has applied.  Straight to Kafka the same rule covers a batch that landed but whose
acknowledgement was lost.

A broker of its own (stopped and started here); ingest runs once the topic is complete,
on the real chDB, and the counts and sums must be exact."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from runstream.infra import kafka
from runstream.ingest import IngestSettings
from runstream.producer import RunstreamClient
from runstream.producer.gateway import GatewaySettings, RunningGateway, start_gateway
from runstream.proto.events import MetricsLogged
from tests.integration.ingest.conftest import running
from tests.integration.ingest.workload import client, new_topic, wait_applied
from tests.integration.producer.topic import read_topic

SDK = {
    "publish_timeout_s": 1.0,
    "connect_timeout_s": 1.0,
    "retry_backoff_s": 0.2,
    "retry_backoff_max_s": 1.0,
    "linger_ms": 20,
}
pytestmark = pytest.mark.faults  # the fault suite (CI runs it as its own step)
RUNS = 2
PER_PHASE = 20_000  # points per run before, during and after the outage
OUTAGE_S = 8.0


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
    b = Broker(tmp_path_factory.mktemp("resend-kafka"), port, controller_port)
    b.up()
    yield b
    b.down()


def _value(run: int, step: int) -> float:
    return run * 1000.0 + step * 0.5


def _log(client: RunstreamClient, run_ids: list[str], start: int) -> None:
    for step in range(start, start + PER_PHASE):
        for run, run_id in enumerate(run_ids):
            client.log_metric(run_id, "loss", _value(run, step), step=step)


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["grpc", "kafka"])
def test_resends_across_a_broker_outage_are_applied_once(
    broker: Broker,
    transport: str,
    topic_prefix: str,
    make_settings: Callable[..., IngestSettings],
) -> None:
    topic = new_topic(broker.bootstrap, topic_prefix, 4)
    gateway: RunningGateway | None = None
    if transport == "grpc":
        gateway = start_gateway(  # holds what it was given until the broker is back
            GatewaySettings(
                address="127.0.0.1:0", kafka=broker.bootstrap, topic=topic, publish_timeout_s=120
            )
        )
        uri = f"grpc://{gateway.address}"
    else:
        uri = f"kafka://{broker.bootstrap}"
    try:
        sdk = RunstreamClient(uri, topic=topic, **SDK)
        run_ids = [sdk.create_run("0", run_name=f"resend-{i}").run_id for i in range(RUNS)]
        sdk.log_params(run_ids[0], {"lr": "0.1", "bs": "32"})
        _log(sdk, run_ids, 0)
        sdk.flush(timeout=60)
        broker.down()
        try:
            _log(sdk, run_ids, PER_PHASE)  # buffered; the sender resends every second
            time.sleep(OUTAGE_S)
        finally:
            broker.up()
        _log(sdk, run_ids, 2 * PER_PHASE)
        sdk.log_params(run_ids[1], {"lr": "0.2"})
        sdk.set_terminated(run_ids[0])
        sdk.flush(timeout=180)
        sdk.close()
    finally:
        if gateway is not None:
            gateway.stop(grace=30)
    steps = 3 * PER_PHASE
    records = read_topic(broker.bootstrap, topic, timeout=120)
    on_topic = sum(
        len(r.event.payload) for r in records if isinstance(r.event.payload, MetricsLogged)
    )
    if transport == "grpc":  # the fault did happen: the topic holds resent copies
        assert on_topic > RUNS * steps
    expected_sum = sum(_value(run, s) for run in range(RUNS) for s in range(steps))
    settings = make_settings(topic, kafka=broker.bootstrap, group=f"{topic}-g")
    with running(settings):
        c = client(settings.clickhouse, settings.database)
        wait_applied(c, broker.bootstrap, topic, timeout_s=180)
        counts = dict(c.query("SELECT run_id, count() FROM metrics GROUP BY run_id").result_rows)
        total = c.query("SELECT sum(value), uniqExact(run_id, step) FROM metrics").result_rows
        latest = c.query("SELECT sum(count) FROM latest_metrics").result_rows
        params = sorted(c.query("SELECT run_id, key, value FROM params").result_rows)
        status = c.query(
            "SELECT status FROM runs FINAL WHERE run_id = {r:String}", {"r": run_ids[0]}
        )
    assert counts == {run_id: steps for run_id in run_ids}
    assert np.isclose(total[0][0], expected_sum, rtol=0, atol=1e-6) and total[0][1] == RUNS * steps
    assert latest[0][0] == RUNS * steps  # the non-idempotent counter too
    assert params == sorted(
        [(run_ids[0], "bs", "32"), (run_ids[0], "lr", "0.1"), (run_ids[1], "lr", "0.2")]
    )
    assert status.result_rows == [("FINISHED",)]
