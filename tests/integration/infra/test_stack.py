"""The thin path end to end: SDK -> real Kafka -> ingest -> chDB -> QueryService (issue 2).

The stack runs in this process on the session's chDB directory, in a fresh database and
topic; reads carry the SDK's write token, so they see everything that was logged.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator

import grpc
import pytest

from runstream.infra.stack import Stack, StackSettings
from runstream.producer import Metric, Param, RunstreamClient, RunTag, ValidationError
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc

STEPS = 1000
LRS = ("0.01", "0.1", "0.01")


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, chdb_dsn: str, topic_prefix: str) -> Iterator[Stack]:
    settings = StackSettings(
        kafka=kafka_bootstrap,
        clickhouse=chdb_dsn,
        database=f"stack_{uuid.uuid4().hex[:10]}",
        topic=f"{topic_prefix}.stack.{uuid.uuid4().hex[:6]}",
        address="127.0.0.1:0",
        partitions=4,
    )
    with Stack(settings) as running:
        yield running


@pytest.fixture(scope="module")
def query(stack: Stack) -> Iterator[query_pb2_grpc.QueryServiceStub]:
    with grpc.insecure_channel(stack.address) as channel:
        yield query_pb2_grpc.QueryServiceStub(channel)


def _loss(run: int, step: int) -> float:
    return (1.0 + run) / (1.0 + step / 10)


@pytest.fixture(scope="module")
def logged(stack: Stack) -> dict[str, object]:
    """3 runs x (5 params, 3 tags, 2 metric keys x 1,000 steps), through the SDK."""
    client = RunstreamClient(uri=f"kafka://{stack.bootstrap}", topic=stack.settings.topic)
    experiment_id = client.create_experiment(f"thin-path-{uuid.uuid4().hex[:6]}")
    runs = []
    for i, lr in enumerate(LRS):
        info = client.create_run(experiment_id, run_name=f"run-{i}")
        client.log_params(
            info.run_id, {"lr": lr, "layers": str(i + 2), "opt": "adam", "bs": "32", "seed": i}
        )
        client.set_tags(info.run_id, {"team": "a", "idx": str(i), "kind": "thin"})
        for step in range(STEPS):
            client.log_metric(info.run_id, "loss", _loss(i, step), step=step, timestamp=step)
            client.log_metric(info.run_id, "acc", step / STEPS + i, step=step, timestamp=step)
        client.set_terminated(info.run_id)
        runs.append(info.run_id)
    token = client.flush(timeout=60)
    client.close()
    return {"experiment_id": experiment_id, "runs": runs, "token": token.to_proto()}


def _read(logged: dict[str, object]) -> query_pb2.ReadOptions:
    token = logged["token"]
    assert isinstance(token, common_pb2.WriteToken)
    return query_pb2.ReadOptions(write_token=token, wait_timeout_ms=60_000)


def test_get_run_returns_exactly_what_was_logged(
    query: query_pb2_grpc.QueryServiceStub, logged: dict[str, object]
) -> None:
    runs = logged["runs"]
    assert isinstance(runs, list)
    for i, run_id in enumerate(runs):
        run = query.GetRun(query_pb2.GetRunRequest(run_id=run_id, read=_read(logged))).run
        assert run.info.status == common_pb2.FINISHED
        assert run.info.run_name == f"run-{i}"
        params = {p.key: p.value for p in run.data.params}
        assert params == {
            "lr": LRS[i],
            "layers": str(i + 2),
            "opt": "adam",
            "bs": "32",
            "seed": str(i),
        }
        tags = {t.key: t.value for t in run.data.tags}
        assert {k: tags[k] for k in ("team", "idx", "kind")} == {
            "team": "a",
            "idx": str(i),
            "kind": "thin",
        }
        latest = {m.key: (m.value, m.step) for m in run.data.metrics}
        assert latest == {
            "loss": (_loss(i, STEPS - 1), STEPS - 1),
            "acc": ((STEPS - 1) / STEPS + i, STEPS - 1),
        }


def test_full_metric_histories(
    query: query_pb2_grpc.QueryServiceStub, logged: dict[str, object]
) -> None:
    runs = logged["runs"]
    assert isinstance(runs, list)
    for i, run_id in enumerate(runs):
        history = query.GetMetricHistory(
            query_pb2.GetMetricHistoryRequest(run_id=run_id, metric_key="loss", read=_read(logged))
        ).metrics
        assert [(m.step, m.timestamp, m.value) for m in history] == [
            (s, s, _loss(i, s)) for s in range(STEPS)
        ]


def test_filter_returns_exactly_the_right_runs(
    query: query_pb2_grpc.QueryServiceStub, logged: dict[str, object]
) -> None:
    runs = logged["runs"]
    assert isinstance(runs, list)
    found = query.SearchRuns(
        query_pb2.SearchRunsRequest(
            experiment_ids=[str(logged["experiment_id"])],
            filter="metrics.loss < 0.5 and params.lr = '0.01'",
            order_by=["metrics.acc DESC"],
            read=_read(logged),
        )
    ).runs
    # loss at the last step: run 0 ~0.0099, run 1 ~0.0198 (lr 0.1), run 2 ~0.0297.
    assert [r.info.run_id for r in found] == [runs[2], runs[0]]
    none = query.SearchRuns(
        query_pb2.SearchRunsRequest(
            experiment_ids=[str(logged["experiment_id"])],
            filter="metrics.loss > 0.5 and params.lr = '0.01'",
            read=_read(logged),
        )
    ).runs
    assert list(none) == []


def test_bad_input_is_refused_by_name_and_the_rest_lands(
    stack: Stack, query: query_pb2_grpc.QueryServiceStub
) -> None:
    client = RunstreamClient(uri=f"kafka://{stack.bootstrap}", topic=stack.settings.topic)
    run_id = client.create_run("0", run_name="bad-input").run_id
    bad_metrics = [
        Metric("", 1.0, 0, 0),
        Metric("a/../b", 1.0, 0, 0),
        Metric("k" * 251, 1.0, 0, 0),
        Metric("not_a_number", "x", 0, 0),  # type: ignore[arg-type]
    ]
    good = [
        Metric("nan", math.nan, 0, 1),
        Metric("inf", math.inf, 0, 1),
        Metric("ninf", -math.inf, 0, 1),
        Metric("ok", 0.5, 3, 1),
    ]
    with pytest.raises(ValidationError) as info:
        client.log_batch(
            run_id,
            metrics=[*bad_metrics, *good],
            params=[Param("long", "v" * 6001), Param("fine", "1")],
            tags=[RunTag("t", "v")],
        )
    text = str(info.value)
    for field in ("metrics[0].key", "metrics[1].key", "metrics[2].key", "metrics[3].value", "long"):
        assert field in text, text
    token = client.flush(timeout=60).to_proto()
    client.close()
    run = query.GetRun(
        query_pb2.GetRunRequest(
            run_id=run_id, read=query_pb2.ReadOptions(write_token=token, wait_timeout_ms=60_000)
        )
    ).run
    metrics = {m.key: m.value for m in run.data.metrics}
    assert set(metrics) == {"nan", "inf", "ninf", "ok"}
    assert math.isnan(metrics["nan"]) and metrics["inf"] == math.inf
    assert metrics["ninf"] == -math.inf and metrics["ok"] == 0.5
    assert {p.key: p.value for p in run.data.params} == {"fine": "1"}
    assert {t.key: t.value for t in run.data.tags}["t"] == "v"


def test_health_and_reflection_are_on(stack: Stack) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(stack.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "runstream.v1.WriteService", "runstream.v1.QueryService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_a_forged_token_past_the_log_end_is_refused_at_once(
    stack: Stack, query: query_pb2_grpc.QueryServiceStub
) -> None:
    forged = common_pb2.WriteToken(topic=stack.settings.topic, offsets={0: 10**18})
    with pytest.raises(grpc.RpcError) as refused:
        query.SearchRuns(
            query_pb2.SearchRunsRequest(
                read=query_pb2.ReadOptions(write_token=forged, wait_timeout_ms=45_000)
            ),
            timeout=20,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "log end" in (refused.value.details() or "")


def test_a_polled_run_follows_every_write_and_repeats_are_kept_answers(
    stack: Stack, query: query_pb2_grpc.QueryServiceStub
) -> None:
    """On chDB the worker tells the query service what it applied: a read with a token
    wakes on it, GetRun answers are kept while nothing is applied, and the next applied
    write drops them (the poll after it sees the new value, never the kept one)."""
    service = stack.query_service
    assert stack.applied_feed is not None and service.run_cache is not None
    client = RunstreamClient(uri=f"kafka://{stack.bootstrap}", topic=stack.settings.topic)
    try:
        run_id = client.create_run(client.create_experiment(f"poll-{uuid.uuid4().hex[:6]}")).run_id
        for value in range(5):
            client.log_metric(run_id, "probe", float(value), step=value)
            token = client.flush(timeout=60).to_proto()
            read = query_pb2.ReadOptions(write_token=token, wait_timeout_ms=60_000)
            got = query.GetRun(query_pb2.GetRunRequest(run_id=run_id, read=read)).run
            assert {m.key: m.value for m in got.data.metrics} == {"probe": float(value)}
            hits = service.run_cache.hits
            again = query.GetRun(query_pb2.GetRunRequest(run_id=run_id)).run
            assert {m.key: m.value for m in again.data.metrics} == {"probe": float(value)}
            assert service.run_cache.hits == hits + 1  # nothing applied since: kept
    finally:
        client.close()
