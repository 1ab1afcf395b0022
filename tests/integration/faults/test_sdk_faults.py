"""The SDK's path end to end under real faults, checked to the point afterwards.

* ``runstream up`` is SIGKILLed mid-load and started again on the same data directory,
  while a training process keeps logging through the SDK (Kafka keeps what it
  acknowledged; ingest resumes from its own bookkeeping);
* the broker is SIGKILLed mid-load and restarted while the SDK logs with a spool (the
  spool holds what Kafka could not take and drains when it is back).

Both end with exact counts and sums in the tables: nothing acknowledged lost, nothing
counted twice.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np

from runstream.producer import RunstreamClient
from runstream.proto.tokens import WriteToken
from runstream.proto.v1 import query_pb2, query_pb2_grpc
from tests.integration.faults.stack import Up, probe, runstream_up
from tests.integration.faults.test_broker_outage import broker, sigkill  # noqa: F401
from tests.integration.ingest.workload import wait_for
from tests.integration.producer.test_outage import FAST_FAILURE, Broker

RUNS = 2
CHUNK = 10_000  # points per log_metric_columns call
CHUNKS = 20  # per run: 200,000 points per run, 400,000 in all


def _values(run: int, steps: np.ndarray) -> np.ndarray:
    return ((run * 7 + steps) % 97).astype(np.float64) * 0.5  # exact in binary


def _expected() -> tuple[int, float]:
    steps = np.arange(CHUNK * CHUNKS, dtype=np.int64)
    total = sum(float(_values(r, steps).sum()) for r in range(RUNS))
    return RUNS * CHUNK * CHUNKS, total


def _log_chunk(client: RunstreamClient, run_ids: list[str], chunk: int) -> None:
    steps = np.arange(chunk * CHUNK, (chunk + 1) * CHUNK, dtype=np.int64)
    for r, run_id in enumerate(run_ids):
        client.log_metric_columns(run_id, "loss", _values(r, steps), steps)


def _wait_applied(up: Up, token: WriteToken) -> None:
    """A read carrying ``token`` answers once ingest applied everything it names."""

    def applied() -> bool:
        with grpc.insecure_channel(up.address) as channel:
            stub = query_pb2_grpc.QueryServiceStub(channel)
            try:
                stub.SearchRuns(
                    query_pb2.SearchRunsRequest(
                        max_results=1,
                        read=query_pb2.ReadOptions(
                            write_token=token.to_proto(), wait_timeout_ms=20_000
                        ),
                    ),
                    timeout=30,
                )
            except grpc.RpcError as exc:
                if exc.code() in (
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                ):
                    return False
                raise
        return True

    wait_for(applied, 300, "ingest to apply the SDK's write token", 0.5)


def _check_exact(data_dir: Path, run_ids: list[str]) -> None:
    count, total = _expected()
    got = probe(
        f"chdb://{(data_dir / 'clickhouse').resolve()}",
        "runstream",
        {
            "points": "SELECT count(), uniqExact(run_id, step), sum(value) FROM metrics",
            "summary": "SELECT sum(count), count(DISTINCT run_id) FROM latest_metrics",
            "runs": "SELECT count() FROM runs FINAL",
        },
    )
    assert got["points"] == [[count, count, repr(total)]]
    assert got["summary"] == [[count, RUNS]]
    assert got["runs"] == [[len(run_ids)]]


def test_stack_sigkilled_mid_load(
    kafka_bootstrap: str,
    topic_prefix: str,
    free_ports: Callable[[int], list[int]],
    tmp_path: Path,
) -> None:
    topic = f"{topic_prefix}.stackkill.{uuid.uuid4().hex[:6]}"
    env = {"RUNSTREAM_GROUP": f"{topic}-group", "RUNSTREAM_INGEST_PARTITIONS": "4"}
    data_dir = tmp_path / "stack"
    ports = free_ports(2)
    client = RunstreamClient(uri=f"kafka://{kafka_bootstrap}", topic=topic)
    experiment = client.create_experiment(f"stack-kill-{uuid.uuid4().hex[:6]}")
    run_ids = [client.create_run(experiment, run_name=f"r{r}").run_id for r in range(RUNS)]
    with runstream_up(data_dir, kafka_bootstrap, topic, ports, tmp_path / "up1.log", env) as up:
        for chunk in range(CHUNKS // 2):
            _log_chunk(client, run_ids, chunk)
        client.flush()
        wait_for(lambda: up.metric("runstream_ingest_points_total") > 0, 120, "ingest to start")
        up.proc.send_signal(signal.SIGKILL)  # mid-load: the backlog is still being applied
        up.proc.wait(30)
    for chunk in range(CHUNKS // 2, CHUNKS):  # the training goes on while the stack is down
        _log_chunk(client, run_ids, chunk)
    token = client.flush()
    client.close()
    with runstream_up(data_dir, kafka_bootstrap, topic, ports, tmp_path / "up2.log", env) as up:
        _wait_applied(up, token)
    assert up.proc.returncode == 0, up.tail()
    _check_exact(data_dir, run_ids)


def test_broker_sigkilled_mid_load_with_a_spool(
    broker: Broker,  # noqa: F811 - the dedicated broker fixture
    topic_prefix: str,
    free_ports: Callable[[int], list[int]],
    tmp_path: Path,
) -> None:
    topic = f"{topic_prefix}.spoolkill.{uuid.uuid4().hex[:6]}"
    env = {"RUNSTREAM_GROUP": f"{topic}-group", "RUNSTREAM_INGEST_PARTITIONS": "4"}
    data_dir = tmp_path / "stack"
    with runstream_up(
        data_dir, broker.bootstrap, topic, free_ports(2), tmp_path / "up.log", env
    ) as up:
        client = RunstreamClient(
            uri=f"kafka://{broker.bootstrap}",
            topic=topic,
            spool_dir=str(tmp_path / "spool"),
            **FAST_FAILURE,
        )
        experiment = client.create_experiment(f"spool-kill-{uuid.uuid4().hex[:6]}")
        run_ids = [client.create_run(experiment, run_name=f"r{r}").run_id for r in range(RUNS)]
        for chunk in range(CHUNKS // 2):
            _log_chunk(client, run_ids, chunk)
        client.flush()
        sigkill(broker)
        for chunk in range(CHUNKS // 2, CHUNKS):  # logging goes on: the spool takes it
            _log_chunk(client, run_ids, chunk)
        client.flush()  # returns once everything is in Kafka or in the spool
        assert client.spool_pending
        time.sleep(2)
        broker.up()
        wait_for(lambda: not client.spool_pending, 180, "the spool to drain", 0.5)
        token = client.flush()
        client.close()
        _wait_applied(up, token)
    assert up.proc.returncode == 0, up.tail()
    _check_exact(data_dir, run_ids)
