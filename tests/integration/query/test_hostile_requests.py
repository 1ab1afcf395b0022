"""Expensive or malformed queries over gRPC against real chDB (issue 11, item 8): every
client mistake is INVALID_ARGUMENT, every per-query limit a named RESOURCE_EXHAUSTED,
numbers keep their meaning across the whole Int64 range, and errors echo a bounded part
of the input."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import grpc
import pytest

from runstream.proto.rpc import error_code_of
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc
from runstream.proto.v1.query_pb2_grpc import QueryServiceStub as Stub
from runstream.query import QueryServer, QuerySettings
from tests.integration.query.rows import Writer

LOW, HIGH = -(2**63), 2**63 - 1
EDGE_STEPS = [LOW, LOW + 1, 0, HIGH - 1, HIGH]


def _populate(w: Writer) -> None:
    w.experiment("e1", "first", creation_time=10, last_update_time=11)
    for i in range(3):
        w.run(f"r{i}", "e1", start_time=100 + i, user_id="ann")
        w.params("e1", f"r{i}", {"lr": str(i)})
        w.metrics("e1", f"r{i}", [("loss", 1.0 / (i + 1), 0, 1000), ("acc", 0.5, 0, 1000)])
    w.run("edge", "e1", start_time=50)
    w.metrics("e1", "edge", [("wide", float(i), s, s) for i, s in enumerate(EDGE_STEPS)])
    w.run("edge2", "e1", start_time=40)  # another run: charts of several runs at once
    w.metrics("e1", "edge2", [("wide", float(i), s, s) for i, s in enumerate(EDGE_STEPS)])


@pytest.fixture
def start(writer: Writer, settings: QuerySettings) -> Iterator[Callable[..., Stub]]:
    """Starts a query server over the populated tables with some settings changed."""
    _populate(writer)
    servers: list[QueryServer] = []
    channels: list[grpc.Channel] = []

    def run(**changes: Any) -> Stub:
        server = QueryServer(replace(settings, address="127.0.0.1:0", **changes)).start()
        servers.append(server)
        channels.append(grpc.insecure_channel(server.address))
        return query_pb2_grpc.QueryServiceStub(channels[-1])

    yield run
    for channel in channels:
        channel.close()
    for server in servers:
        server.stop(grace=1)


@pytest.fixture
def stub(start: Callable[..., Stub]) -> Stub:
    return start()


def _fails(call: Callable[..., Any], request: Any) -> tuple[grpc.StatusCode, str, str | None]:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=60)
    err = info.value
    return err.code(), err.details(), error_code_of(err)


def _invalid(call: Callable[..., Any], request: Any, match: str = "") -> str:
    code, details, name = _fails(call, request)
    assert (code, name) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMETER_VALUE"), details
    assert match in details
    return details


def test_numbers_beyond_the_column_range_are_refused_not_wrapped(stub: Stub) -> None:
    # ClickHouse wrapped 10^26 to a small Int64: "start_time > 10^26" returned every run
    for text in ("start_time > 99999999999999999999999999", "end_time < -9223372036854775809"):
        _invalid(stub.SearchRuns, query_pb2.SearchRunsRequest(filter=text), "takes a number")
    _invalid(
        stub.SearchExperiments,
        query_pb2.SearchExperimentsRequest(filter="creation_time > 99999999999999999999"),
        "takes a number",
    )
    top = stub.SearchRuns(query_pb2.SearchRunsRequest(filter=f"start_time > {HIGH - 1}"))
    assert list(top.runs) == []
    bottom = stub.SearchRuns(query_pb2.SearchRunsRequest(filter=f"start_time > {LOW}"))
    assert len(bottom.runs) == 5
    huge = stub.SearchRuns(query_pb2.SearchRunsRequest(filter="start_time > 1e300"))
    assert list(huge.runs) == []
    inf = stub.SearchRuns(query_pb2.SearchRunsRequest(filter="metrics.loss < " + "9" * 400))
    assert len(inf.runs) == 3  # a double past the largest: +inf, every value below it


def test_filters_and_order_by_past_the_limits_are_invalid_arguments(stub: Stub) -> None:
    def clauses(n: int) -> str:
        return " and ".join(f"metrics.loss < {i + 2}" for i in range(n))

    # main: 1,000 clauses -> INTERNAL (Max query size exceeded)
    _invalid(stub.SearchRuns, query_pb2.SearchRunsRequest(filter=clauses(1000)), "more than 20")
    _invalid(stub.SearchRuns, query_pb2.SearchRunsRequest(filter=clauses(21)), "more than 20")
    assert len(stub.SearchRuns(query_pb2.SearchRunsRequest(filter=clauses(20))).runs) == 3
    for rpc, request in [
        (stub.CountRunsByStatus, query_pb2.CountRunsByStatusRequest(filter=clauses(1000))),
        (stub.GetBestRuns, query_pb2.GetBestRunsRequest(filter=clauses(21), metric_key="loss")),
        (
            stub.GetMetricAggregates,
            query_pb2.GetMetricAggregatesRequest(filter=clauses(21), metric_key="loss"),
        ),
    ]:
        _invalid(rpc, request, "more than 20")
    keys = [f"metrics.k{i}" for i in range(11)]
    _invalid(stub.SearchRuns, query_pb2.SearchRunsRequest(order_by=keys), "at most 10")
    assert len(stub.SearchRuns(query_pb2.SearchRunsRequest(order_by=keys[:10])).runs) == 5
    _invalid(
        stub.SearchExperiments,
        query_pb2.SearchExperimentsRequest(order_by=["name"] * 1000),
        "at most 10",
    )


def _reencode(token: str, change: Callable[[list[Any]], Any]) -> str:
    body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    change(body)
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_hostile_page_tokens_are_invalid_arguments(stub: Stub) -> None:
    first = stub.SearchRuns(query_pb2.SearchRunsRequest(max_results=1, order_by=["metrics.loss"]))
    token = first.next_page_token
    assert token
    nested = base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).decode()
    # sort key: (missing/NaN class UInt8, value Float64, start_time Int64, run_id String)
    out_of_range = _reencode(token, lambda b: b[2].__setitem__(0, 300))
    int64_past = _reencode(token, lambda b: b[2].__setitem__(2, 2**64))
    surrogate = _reencode(token, lambda b: b[2].__setitem__(3, "\ud800"))
    for bad in (nested, out_of_range, int64_past, surrogate, "A" * 300_000):
        request = query_pb2.SearchRunsRequest(
            max_results=1, order_by=["metrics.loss"], page_token=bad
        )
        _invalid(stub.SearchRuns, request, "invalid page token")
    following = stub.SearchRuns(
        query_pb2.SearchRunsRequest(max_results=1, order_by=["metrics.loss"], page_token=token)
    )
    assert len(following.runs) == 1  # the genuine token still pages
    history = stub.GetMetricHistory(
        query_pb2.GetMetricHistoryRequest(run_id="edge", metric_key="wide", max_results=1)
    )
    past = _reencode(history.next_page_token, lambda b: b[2].__setitem__(0, 2**63))
    _invalid(
        stub.GetMetricHistory,
        query_pb2.GetMetricHistoryRequest(run_id="edge", metric_key="wide", page_token=past),
        "invalid page token",
    )
    for bad in (nested, "A" * 300_000):
        _invalid(
            stub.SearchExperiments,
            query_pb2.SearchExperimentsRequest(page_token=bad),
            "invalid page token",
        )


def test_aggregate_buckets_span_the_whole_int64_step_range(stub: Stub) -> None:
    def buckets(max_points: int, **kw: Any) -> list[tuple[int, int]]:
        request = query_pb2.GetMetricAggregatesRequest(
            metric_key="wide", max_points=max_points, **kw
        )
        (group,) = stub.GetMetricAggregates(request).groups
        return list(zip(group.steps, group.run_counts, strict=True))

    # main: max_points 1 -> INTERNAL (Division by zero); 2 merged both halves
    assert buckets(1) == [(LOW, 2)]  # both runs (edge, edge2) in every bucket
    assert buckets(2) == [(LOW, 2), (0, 2)]  # [-2^63, 0) and [0, 2^63)
    assert [s for s, _ in buckets(0)] == EDGE_STEPS
    # 100,000 buckets of width ceil(2^64 / 100,000): neighbours share one, far ends do not
    assert buckets(100_000) == [(LOW, 2), (0, 2), (HIGH - 1, 2)]
    assert buckets(2, start_step=0, end_step=HIGH) == [(0, 2), (HIGH - 1, 2)]
    cases: list[tuple[dict[str, Any], str]] = [
        (dict(max_points=-1), "max_points"),
        (dict(max_points=100_001), "max_points"),
        (dict(start_step=5, end_step=4), "after"),
        (dict(percentiles=[50.0] * 101), "at most 100 percentiles"),
        (dict(percentiles=[float("nan")]), "outside"),
    ]
    for bad, match in cases:
        request = query_pb2.GetMetricAggregatesRequest(metric_key="wide", **bad)
        _invalid(stub.GetMetricAggregates, request, match)


def test_charts_span_the_whole_int64_range(stub: Stub) -> None:
    for x_axis in (query_pb2.X_AXIS_STEP, query_pb2.X_AXIS_TIMESTAMP):
        request = query_pb2.GetSampledMetricHistoryRequest(
            run_id="edge", metric_key="wide", max_points=4, x_axis=x_axis
        )
        series = stub.GetSampledMetricHistory(request).series  # main: Division by zero
        assert series.sampled and series.total_points == 5
        assert series.steps[0] == LOW and series.steps[-1] == HIGH  # first and last survive
        assert min(series.values) == 0.0 and max(series.values) == 4.0
        many = stub.GetSampledMetricHistories(
            query_pb2.GetSampledMetricHistoriesRequest(
                run_ids=["edge", "r0", "edge2"], metric_key="wide", max_points=4, x_axis=x_axis
            )
        )
        assert [(s.run_id, s.sampled, s.steps[0], s.steps[-1]) for s in many.series] == [
            ("edge", True, LOW, HIGH),
            ("edge2", True, LOW, HIGH),
        ]


def test_unknown_enum_values_are_invalid_arguments(stub: Stub) -> None:
    _invalid(stub.SearchRuns, query_pb2.SearchRunsRequest(run_view_type=7), "run_view_type")
    _invalid(stub.SearchExperiments, query_pb2.SearchExperimentsRequest(view_type=-2), "view_type")
    _invalid(
        stub.GetBestRuns, query_pb2.GetBestRunsRequest(metric_key="loss", rank_by=9), "rank_by"
    )
    _invalid(stub.GetBestRuns, query_pb2.GetBestRunsRequest(metric_key="loss", goal=3), "goal")
    _invalid(
        stub.GetSampledMetricHistory,
        query_pb2.GetSampledMetricHistoryRequest(run_id="r0", metric_key="loss", x_axis=5),
        "x_axis",
    )


def test_errors_echo_a_bounded_part_of_the_input(stub: Stub) -> None:
    big = "x" * 1_000_000
    for call, request in [
        (stub.GetRun, query_pb2.GetRunRequest(run_id=big)),
        (stub.GetExperiment, query_pb2.GetExperimentRequest(experiment_id=big)),
        (stub.GetExperimentByName, query_pb2.GetExperimentByNameRequest(name=big)),
        (stub.GetMetricHistory, query_pb2.GetMetricHistoryRequest(run_id=big, metric_key="m")),
        (stub.SearchRuns, query_pb2.SearchRunsRequest(filter=f"params.`{big}` < 1")),
        (stub.SearchRuns, query_pb2.SearchRunsRequest(filter=f"attributes.{big} = 'a'")),
    ]:
        code, details, _ = _fails(call, request)
        assert code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
        assert len(details) < 1000 and "(1000000 characters)" in details


def test_per_query_limits_are_named_errors(start: Callable[..., Stub], writer: Writer) -> None:
    writer.metrics("e1", "r0", [("long", float(s), s, s) for s in range(50_000)])
    agg = query_pb2.GetMetricAggregatesRequest(metric_key="long", percentiles=[50])
    search = query_pb2.SearchRunsRequest(filter="metrics.loss < 1 and params.lr != 'x'")
    limits: list[tuple[dict[str, Any], str]] = [
        (dict(max_execution_time_s=0.001), "time limit (max_execution_time 0.001)"),
        (dict(max_memory_bytes=10_000), "more memory than the per-query limit"),
        (dict(max_query_bytes=300), "larger than the limit (max_query_size 300)"),
    ]
    for changes, match in limits:
        stub = start(**changes)
        for call, request in [(stub.GetMetricAggregates, agg), (stub.SearchRuns, search)]:
            code, details, name = _fails(call, request)
            assert (code, name) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED")
            assert match in details and "SELECT" not in details
    roomy = start()  # the defaults leave ordinary reads alone
    assert len(roomy.GetMetricAggregates(agg).groups) == 1
    assert common_pb2.RUNNING in [
        c.status for c in roomy.CountRunsByStatus(query_pb2.CountRunsByStatusRequest()).counts
    ]
