"""The QueryService over gRPC against real chDB: every RPC, error mapping, auth, health."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runstream.proto.rpc import error_code_of
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc
from runstream.query import QueryServer, QuerySettings
from tests.integration.query.rows import Writer

NAN, INF = float("nan"), float("inf")


def _populate(w: Writer) -> None:
    w.experiment(
        "e1",
        "first",
        artifact_location="s3://a",
        creation_time=10,
        last_update_time=11,
        tags={"team": "vision"},
    )
    w.experiment("e2", "second", creation_time=20, last_update_time=21)
    w.run("r1", "e1", run_name="one", user_id="ann", start_time=100, artifact_uri="s3://a/r1")
    w.params("e1", "r1", {"lr": "0.01", "opt": "adam"})
    w.tags("e1", "r1", {"mlflow.runName": "one", "temp": "x"})
    w.delete_tag("e1", "r1", "temp")
    w.metrics(
        "e1",
        "r1",
        [
            ("loss", 1.0, 0, 1000),
            ("loss", 0.5, 1, 1001),
            ("nan", NAN, 0, 1000),
            ("inf", INF, 0, 1000),
            ("ninf", -INF, 0, 1),
        ],
    )
    w.run("r1", "e1", status="FINISHED", end_time=200)
    w.run("r2", "e1", run_name="two", user_id="bob", start_time=110)
    w.params("e1", "r2", {"lr": "0.1", "opt": "sgd"})
    w.metrics("e1", "r2", [("loss", 0.9, 0, 1000), ("loss", 0.2, 1, 1001)])
    w.run("r3", "e2", run_name="three", user_id="bob", start_time=120, status="FAILED")
    w.metrics("e2", "r3", [("loss", 0.7, 0, 1000)])


@pytest.fixture
def stub(writer: Writer, settings: QuerySettings) -> Iterator[query_pb2_grpc.QueryServiceStub]:
    _populate(writer)
    server = QueryServer(QuerySettings(**{**settings.__dict__, "address": "127.0.0.1:0"}))
    server.start()
    channel = grpc.insecure_channel(server.address)
    yield query_pb2_grpc.QueryServiceStub(channel)
    channel.close()
    server.stop(grace=1)


def _code(call: object, *args: object) -> tuple[grpc.StatusCode, str, str | None]:
    with pytest.raises(grpc.RpcError) as info:
        call(*args)  # type: ignore[operator]
    err = info.value
    return err.code(), err.details(), error_code_of(err)


def test_get_run(stub: query_pb2_grpc.QueryServiceStub) -> None:
    run = stub.GetRun(query_pb2.GetRunRequest(run_id="r1")).run
    assert run.info.status == common_pb2.FINISHED and run.info.end_time == 200
    assert run.info.experiment_id == "e1" and run.info.artifact_uri == "s3://a/r1"
    assert {p.key: p.value for p in run.data.params} == {"lr": "0.01", "opt": "adam"}
    assert {t.key: t.value for t in run.data.tags} == {"mlflow.runName": "one"}
    metrics = {m.key: m for m in run.data.metrics}
    assert metrics["loss"].value == 0.5 and metrics["loss"].step == 1
    assert math.isnan(metrics["nan"].value)
    assert metrics["inf"].value == INF and metrics["ninf"].value == -INF
    running = stub.GetRun(query_pb2.GetRunRequest(run_id="r2")).run
    assert not running.info.HasField("end_time") and running.info.status == common_pb2.RUNNING


def test_errors_map_to_status_codes(stub: query_pb2_grpc.QueryServiceStub) -> None:
    code, details, name = _code(stub.GetRun, query_pb2.GetRunRequest(run_id="nope"))
    assert code == grpc.StatusCode.NOT_FOUND and name == "RESOURCE_DOES_NOT_EXIST"
    assert "nope" in details
    code, details, name = _code(
        stub.SearchRuns, query_pb2.SearchRunsRequest(filter="metrics.loss < 0.5 or params.lr = '1'")
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and name == "INVALID_PARAMETER_VALUE"
    assert details.startswith("Invalid filter at position 20: expected AND")
    code, details, _ = _code(stub.SearchRuns, query_pb2.SearchRunsRequest(max_results=50_001))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "50000" in details
    code, _, _ = _code(stub.SearchRuns, query_pb2.SearchRunsRequest(page_token="garbage"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _, _ = _code(stub.GetExperiment, query_pb2.GetExperimentRequest(experiment_id="x"))
    assert code == grpc.StatusCode.NOT_FOUND


def test_search_runs_over_grpc(stub: query_pb2_grpc.QueryServiceStub) -> None:
    def ids(**kw: object) -> list[str]:
        resp = stub.SearchRuns(query_pb2.SearchRunsRequest(**kw))  # type: ignore[arg-type]
        return [r.info.run_id for r in resp.runs]

    assert ids() == ["r3", "r2", "r1"]  # all experiments, start_time DESC
    assert ids(experiment_ids=["e1"], order_by=["metrics.loss"]) == ["r2", "r1"]
    assert ids(filter="params.opt = 'adam' and metrics.loss <= 0.5") == ["r1"]
    assert ids(filter="attributes.user_id = 'bob'", order_by=["start_time"]) == ["r2", "r3"]
    first = stub.SearchRuns(query_pb2.SearchRunsRequest(max_results=2))
    rest = stub.SearchRuns(
        query_pb2.SearchRunsRequest(max_results=2, page_token=first.next_page_token)
    )
    assert [r.info.run_id for r in [*first.runs, *rest.runs]] == ["r3", "r2", "r1"]
    assert rest.next_page_token == ""


def test_experiments(stub: query_pb2_grpc.QueryServiceStub) -> None:
    e = stub.GetExperiment(query_pb2.GetExperimentRequest(experiment_id="e1")).experiment
    assert (e.name, e.artifact_location, e.creation_time) == ("first", "s3://a", 10)
    assert {t.key: t.value for t in e.tags} == {"team": "vision"}
    by_name = stub.GetExperimentByName(query_pb2.GetExperimentByNameRequest(name="second"))
    assert by_name.experiment.experiment_id == "e2"
    page = stub.SearchExperiments(query_pb2.SearchExperimentsRequest(max_results=2))
    more = stub.SearchExperiments(
        query_pb2.SearchExperimentsRequest(max_results=2, page_token=page.next_page_token)
    )
    names = [x.name for x in [*page.experiments, *more.experiments]]
    assert names == ["second", "first", "Default"]
    tagged = stub.SearchExperiments(
        query_pb2.SearchExperimentsRequest(
            filter="tags.team = 'vision' and name LIKE 'fir%'", order_by=["name DESC"]
        )
    )
    assert [x.experiment_id for x in tagged.experiments] == ["e1"]


def test_history_and_charts(stub: query_pb2_grpc.QueryServiceStub) -> None:
    hist = stub.GetMetricHistory(query_pb2.GetMetricHistoryRequest(run_id="r1", metric_key="loss"))
    assert [(m.step, m.value) for m in hist.metrics] == [(0, 1.0), (1, 0.5)]
    cols = stub.GetMetricHistoryColumns(
        query_pb2.GetMetricHistoryRequest(run_id="r1", metric_key="loss")
    )
    c = cols.columns
    assert (c.run_id, c.metric_key, cols.next_page_token) == ("r1", "loss", "")
    assert (list(c.steps), list(c.timestamps), list(c.values)) == ([0, 1], [1000, 1001], [1.0, 0.5])
    first = stub.GetMetricHistoryColumns(
        query_pb2.GetMetricHistoryRequest(run_id="r1", metric_key="loss", max_results=1)
    )
    rest = stub.GetMetricHistory(
        query_pb2.GetMetricHistoryRequest(
            run_id="r1", metric_key="loss", page_token=first.next_page_token
        )
    )
    assert list(first.columns.steps) == [0] and [m.step for m in rest.metrics] == [1]
    ninf = stub.GetMetricHistoryColumns(
        query_pb2.GetMetricHistoryRequest(run_id="r1", metric_key="ninf")
    )
    assert list(ninf.columns.values) == [-INF]
    code, _, _ = _code(
        stub.GetMetricHistoryColumns,
        query_pb2.GetMetricHistoryRequest(run_id="r1", metric_key=""),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    chart = stub.GetSampledMetricHistory(
        query_pb2.GetSampledMetricHistoryRequest(run_id="r1", metric_key="loss", max_points=4)
    ).series
    assert list(chart.steps) == [0, 1] and not chart.sampled and chart.total_points == 2
    many = stub.GetSampledMetricHistories(
        query_pb2.GetSampledMetricHistoriesRequest(run_ids=["r2", "nope", "r1"], metric_key="loss")
    )
    assert [s.run_id for s in many.series] == ["r2", "r1"]
    code, _, _ = _code(
        stub.GetSampledMetricHistory,
        query_pb2.GetSampledMetricHistoryRequest(run_id="r1", metric_key="loss", max_points=3),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_aggregations(stub: query_pb2_grpc.QueryServiceStub) -> None:
    agg = stub.GetMetricAggregates(
        query_pb2.GetMetricAggregatesRequest(
            experiment_ids=["e1"], metric_key="loss", percentiles=[50]
        )
    )
    (group,) = agg.groups
    assert list(group.steps) == [0, 1] and list(group.run_counts) == [2, 2]
    assert list(group.mean) == pytest.approx([0.95, 0.35])
    assert list(group.percentiles[0].values) == pytest.approx([0.95, 0.35])
    grouped = stub.GetMetricAggregates(
        query_pb2.GetMetricAggregatesRequest(metric_key="loss", group_by="params.opt")
    )
    assert [(g.group_value, g.group_missing) for g in grouped.groups] == [
        ("adam", False),
        ("sgd", False),
        ("", True),
    ]
    best = stub.GetBestRuns(
        query_pb2.GetBestRunsRequest(
            metric_key="loss", rank_by=query_pb2.RANK_BY_MAX, goal=query_pb2.GOAL_MAXIMIZE
        )
    )
    assert [(r.run.info.run_id, r.value) for r in best.runs] == [
        ("r1", 1.0),
        ("r2", 0.9),
        ("r3", 0.7),
    ]
    counts = stub.CountRunsByStatus(query_pb2.CountRunsByStatusRequest())
    assert {c.status: c.count for c in counts.counts} == {
        common_pb2.RUNNING: 1,
        common_pb2.FINISHED: 1,
        common_pb2.FAILED: 1,
    }
    assert counts.total == 3


def test_read_your_writes(stub: query_pb2_grpc.QueryServiceStub, writer: Writer) -> None:
    token = common_pb2.WriteToken(topic="runstream.events", offsets={0: 41, 3: 7})
    late = query_pb2.ReadOptions(write_token=token, wait_timeout_ms=200)
    code, details, name = _code(stub.GetRun, query_pb2.GetRunRequest(run_id="r1", read=late))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED and name == "DEADLINE_EXCEEDED"
    assert "partition 0 needs offset 41" in details

    def ingest() -> None:
        time.sleep(0.3)
        writer.offsets("runstream.events", 0, 42)
        writer.offsets("runstream.events", 3, 8)

    thread = threading.Thread(target=ingest)
    thread.start()
    started = time.monotonic()
    read = query_pb2.ReadOptions(write_token=token, wait_timeout_ms=5000)
    stub.GetRun(query_pb2.GetRunRequest(run_id="r1", read=read))
    assert 0.25 < time.monotonic() - started < 4
    thread.join()


def test_internal_errors_do_not_leak(stub: query_pb2_grpc.QueryServiceStub, writer: Writer) -> None:
    # Break the schema under the service (runs has no projection that would forbid it).
    writer.client.command("ALTER TABLE runs RENAME COLUMN run_name TO run_name_gone")
    code, details, name = _code(stub.GetRun, query_pb2.GetRunRequest(run_id="r1"))
    assert code == grpc.StatusCode.INTERNAL and name == "INTERNAL_ERROR"
    assert "SELECT" not in details and "Traceback" not in details


def test_auth_and_health(writer: Writer, settings: QuerySettings) -> None:
    secure = QuerySettings(
        **{**settings.__dict__, "address": "127.0.0.1:0", "auth_tokens": ("s3cret",)}
    )
    server = QueryServer(secure).start()
    try:
        channel = grpc.insecure_channel(server.address)
        stub = query_pb2_grpc.QueryServiceStub(channel)
        req = query_pb2.SearchRunsRequest()
        code, _, name = _code(stub.SearchRuns, req)
        assert code == grpc.StatusCode.UNAUTHENTICATED and name == "UNAUTHENTICATED"
        stub.SearchRuns(req, metadata=[("authorization", "Bearer s3cret")])
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(
            health_pb2.HealthCheckRequest(service="runstream.v1.QueryService")
        ).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        channel.close()
    finally:
        server.stop(grace=1)
