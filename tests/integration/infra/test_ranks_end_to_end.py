"""Issue 3, done when (a), end to end: 8 processes log 100k points each into one run
concurrently; the query service then returns every point exactly once."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from runstream.infra.stack import Stack, StackSettings
from runstream.producer import RunstreamClient
from runstream.proto.v1 import query_pb2, query_pb2_grpc
from tests.integration.producer.test_distributed import RANK_SCRIPT, _rank_env

RANKS = 8
POINTS = 100_000


@pytest.fixture
def stack(kafka_bootstrap: str, chdb_dsn: str, topic_prefix: str) -> Iterator[Stack]:
    settings = StackSettings(
        kafka=kafka_bootstrap,
        clickhouse=chdb_dsn,
        database=f"ranks_{uuid.uuid4().hex[:10]}",
        topic=f"{topic_prefix}.ranks.{uuid.uuid4().hex[:6]}",
        address="127.0.0.1:0",
        partitions=4,
    )
    with Stack(settings) as running:
        yield running


def _history(
    stub: query_pb2_grpc.QueryServiceStub, run_id: str, read: query_pb2.ReadOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps, stamps, values = [], [], []
    token = ""
    while True:
        page = stub.GetMetricHistory(
            query_pb2.GetMetricHistoryRequest(
                run_id=run_id, metric_key="loss", max_results=100_000, page_token=token, read=read
            ),
            timeout=120,
        )
        steps += [m.step for m in page.metrics]
        stamps += [m.timestamp for m in page.metrics]
        values += [m.value for m in page.metrics]
        token = page.next_page_token
        if not token:
            return np.asarray(steps), np.asarray(stamps), np.asarray(values)


def test_eight_ranks_every_point_exactly_once_through_the_query_service(stack: Stack) -> None:
    topic = stack.settings.topic
    with RunstreamClient(f"kafka://{stack.bootstrap}", topic=topic) as creator:
        run_id = creator.create_run("11", run_name="ddp").run_id
        creator.flush(timeout=60)
        ranks = [
            subprocess.Popen(
                [sys.executable, RANK_SCRIPT],
                stdout=subprocess.PIPE,
                text=True,
                env=_rank_env(stack.bootstrap, topic, run_id, rank, POINTS),
            )
            for rank in range(RANKS)
        ]
        for proc in ranks:
            proc.communicate(timeout=180)
            assert proc.returncode == 0
        creator.set_terminated(run_id, "FINISHED")
        # The ranks flushed before exiting; this token covers the creator's last event,
        # and the wait below covers every partition the ranks wrote (one: the run's).
        token = creator.flush(timeout=60).to_proto()
    read = query_pb2.ReadOptions(write_token=token, wait_timeout_ms=120_000)
    with grpc.insecure_channel(stack.address) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        steps, stamps, values = _history(stub, run_id, read)
        run = stub.GetRun(query_pb2.GetRunRequest(run_id=run_id, read=read)).run
    assert steps.shape[0] == RANKS * POINTS
    # value = rank * 1e6 + step: every (rank, step) pair exactly once.
    ranks_of = (values // 1_000_000).astype(np.int64)
    assert np.array_equal(values - ranks_of * 1_000_000, steps)
    pairs = ranks_of * POINTS + steps
    assert np.array_equal(np.sort(pairs), np.arange(RANKS * POINTS))
    assert values.sum() == sum(
        r * 1_000_000.0 * POINTS + POINTS * (POINTS - 1) / 2 for r in range(RANKS)
    )
    # "latest" is MLflow's: max step, then max timestamp, then max value. Every rank logs
    # the last step, at its own time: the latest is whichever of those came last.
    expected = max(zip(steps.tolist(), stamps.tolist(), values.tolist(), strict=True))
    latest = {m.key: (m.step, m.timestamp, m.value) for m in run.data.metrics}
    assert latest["loss"] == expected
    assert expected[0] == POINTS - 1
