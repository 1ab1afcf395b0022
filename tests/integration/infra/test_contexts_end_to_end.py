"""Issue 14, done when (contexts): 8 processes with RANK 0..7 log into one run through real
Kafka; the query service returns each rank's series exactly, the cross-rank aggregate per
step is exact, and an event written before contexts existed (schema v3, no context) still
reads back, under the empty context."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from runstream.infra.stack import Stack, StackSettings
from runstream.producer import RunstreamClient
from runstream.proto import events as ev
from runstream.proto.codec import EventCodec, load_schema
from runstream.proto.v1 import query_pb2, query_pb2_grpc
from tests.integration.ingest.workload import Sender
from tests.integration.producer.test_distributed import _rank_env

RANKS = 8
POINTS = 2000
SCRIPT = str(Path(__file__).with_name("context_rank.py"))


@pytest.fixture
def stack(kafka_bootstrap: str, chdb_dsn: str, topic_prefix: str) -> Iterator[Stack]:
    settings = StackSettings(
        kafka=kafka_bootstrap,
        clickhouse=chdb_dsn,
        database=f"contexts_{uuid.uuid4().hex[:10]}",
        topic=f"{topic_prefix}.contexts.{uuid.uuid4().hex[:6]}",
        address="127.0.0.1:0",
        partitions=2,
    )
    with Stack(settings) as running:
        yield running


def _legacy_points(run_id: str) -> bytes:
    """A MetricsLogged event as a writer still on schema v3 (before contexts) wrote it."""
    payload = ev.metrics_from_rows(
        ["legacy"] * 10, [float(s) / 10 for s in range(10)], list(range(10)), [1000] * 10
    )
    event = ev.RunEvent(uuid.uuid4().hex, run_id, "11", uuid.uuid4().hex, 0, 1000, payload)
    return EventCodec(reader_schema=load_schema("run_event.v3.avsc")).encode(event)


def _history(
    stub: query_pb2_grpc.QueryServiceStub,
    run_id: str,
    key: str,
    read: query_pb2.ReadOptions,
    context: dict[str, str] | None = None,
) -> list[tuple[int, float]]:
    points: list[tuple[int, float]] = []
    token = ""
    while True:
        page = stub.GetMetricHistory(
            query_pb2.GetMetricHistoryRequest(
                run_id=run_id,
                metric_key=key,
                max_results=1500,  # more than one page per rank
                page_token=token,
                read=read,
                context=context or {},
            ),
            timeout=120,
        )
        points += [(m.step, m.value) for m in page.metrics]
        token = page.next_page_token
        if not token:
            return points


def test_eight_ranks_with_contexts_through_kafka_and_the_query_service(stack: Stack) -> None:
    topic = stack.settings.topic
    with RunstreamClient(f"kafka://{stack.bootstrap}", topic=topic) as creator:
        run_id = creator.create_run("11", run_name="ddp-contexts").run_id
        creator.flush(timeout=60)
        legacy = Sender(stack.bootstrap, topic)
        legacy.raw(run_id.encode(), _legacy_points(run_id))
        legacy.close()
        ranks = [
            subprocess.Popen(
                [sys.executable, SCRIPT],
                stdout=subprocess.PIPE,
                text=True,
                env=_rank_env(stack.bootstrap, topic, run_id, rank, POINTS),
            )
            for rank in range(RANKS)
        ]
        outputs = []
        for proc in ranks:
            out, _ = proc.communicate(timeout=300)
            assert proc.returncode == 0, out
            outputs.append(out)
        creator.set_terminated(run_id, "FINISHED")
        token = creator.flush(timeout=60).to_proto()  # same partition: covers the ranks
    host = socket.gethostname()
    for rank, out in enumerate(outputs):
        assert f"CONTEXT {{'node': '{host}', 'rank': '{rank}'}}" in out
        # the point with rank -1 was refused by name; the two others were accepted
        assert "REFUSED metrics[1].context.rank 2" in out

    read = query_pb2.ReadOptions(write_token=token, wait_timeout_ms=120_000)
    steps = np.arange(POINTS)
    with grpc.insecure_channel(stack.address) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        # each rank's series, exactly
        for rank in range(RANKS):
            series = _history(stub, run_id, "loss", read, {"rank": str(rank)})
            assert series == [(s, rank * 1000.0 + s) for s in range(POINTS)]
        # merged (MLflow's view): every point of every rank, once
        merged = _history(stub, run_id, "loss", read)
        assert sorted(merged) == sorted((s, r * 1000.0 + s) for r in range(RANKS) for s in steps)
        # the straggler view: per step across the run's ranks
        agg = stub.GetMetricAggregates(
            query_pb2.GetMetricAggregatesRequest(
                run_id=run_id, metric_key="loss", percentiles=[0, 50, 100], read=read
            ),
            timeout=120,
        )
        (group,) = agg.groups
        assert list(group.steps) == steps.tolist()
        assert list(group.run_counts) == [RANKS] * POINTS
        assert np.array_equal(group.mean, 3500.0 + steps)
        assert np.array_equal(group.min, steps.astype(float))
        assert np.array_equal(group.max, 7000.0 + steps)
        p0, p50, p100 = group.percentiles
        assert np.array_equal(p50.values, 3500.0 + steps)  # between ranks 3 and 4
        assert list(p0.values) == list(group.min) and list(p100.values) == list(group.max)
        # narrowed by context: the ranks on device cuda:1 (odd ranks) of throughput
        odd = stub.GetMetricAggregates(
            query_pb2.GetMetricAggregatesRequest(
                run_id=run_id, metric_key="throughput", context={"device": "cuda:1"}, read=read
            ),
            timeout=120,
        )
        assert list(odd.groups[0].run_counts) == [RANKS // 2] * POINTS
        assert set(odd.groups[0].mean) == {np.mean([100.0 + r for r in range(1, RANKS, 2)])}
        # the latest per (key, context)
        latest = stub.GetLatestMetricsByContext(
            query_pb2.GetLatestMetricsByContextRequest(run_id=run_id, read=read), timeout=60
        ).metrics
        by = {(m.key, tuple(sorted(m.context.items()))): m for m in latest}
        for rank in range(RANKS):
            loss = by[("loss", (("node", host), ("rank", str(rank))))]
            assert (loss.step, loss.value, loss.count) == (
                POINTS - 1,
                rank * 1000.0 + POINTS - 1,
                POINTS,
            )
            assert (loss.min, loss.max) == (rank * 1000.0, rank * 1000.0 + POINTS - 1)
            device = f"cuda:{rank % 2}"
            thr = by[("throughput", (("device", device), ("node", host), ("rank", str(rank))))]
            assert (thr.value, thr.count) == (100.0 + rank, POINTS)
            assert by[("checked", (("node", host), ("phase", "eval"), ("rank", str(rank))))]
        # the event written before contexts: its points read back, under the empty context
        assert _history(stub, run_id, "legacy", read) == [(s, s / 10) for s in range(10)]
        old = by[("legacy", ())]
        assert (old.step, old.value, old.count) == (9, 0.9, 10)
        # a context filter of a sampled history, and MLflow's one value per key
        sampled = stub.GetSampledMetricHistory(
            query_pb2.GetSampledMetricHistoryRequest(
                run_id=run_id, metric_key="loss", max_points=100, context={"rank": "5"}, read=read
            ),
            timeout=60,
        ).series
        assert sampled.sampled and sampled.total_points == POINTS
        assert min(sampled.values) == 5000.0 and max(sampled.values) == 5000.0 + POINTS - 1
        run = stub.GetRun(query_pb2.GetRunRequest(run_id=run_id, read=read), timeout=60).run
        mlflow_latest = {m.key: (m.step, m.timestamp, m.value) for m in run.data.metrics}
        # one value per key: the max (step, timestamp, value) over every rank's latest
        assert mlflow_latest["loss"] == max(
            (m.step, m.timestamp, m.value) for m in latest if m.key == "loss"
        )
        assert mlflow_latest["legacy"] == (9, 1000, 0.9)
        # a bad filter is INVALID_ARGUMENT naming the field
        with pytest.raises(grpc.RpcError) as bad:
            stub.GetMetricHistory(
                query_pb2.GetMetricHistoryRequest(
                    run_id=run_id, metric_key="loss", context={"rank": "x"}
                ),
                timeout=30,
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "context.rank" in (bad.value.details() or "")
