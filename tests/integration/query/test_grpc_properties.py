"""No input reaches an internal error (issue 11, item 8): hypothesis sends hostile requests
to every QueryService RPC of a real query server over real chDB, and every answer must be
OK or a named client error (INVALID_ARGUMENT, NOT_FOUND, DEADLINE_EXCEEDED,
RESOURCE_EXHAUSTED, each with its ``runstream-error-code``), never INTERNAL or UNKNOWN.

Requests mix grammar-shaped filters and order_by clauses, numbers at and past every
range, arbitrary text (NUL, quotes, escapes, long strings), page tokens of any shape (also
genuine tokens with hostile values, so they pass the fingerprint check), unknown enum
values and write tokens of any shape (waits are capped at 0.2 s on this server)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from runstream.proto import events as ev
from runstream.proto.rpc import error_code_of
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc
from runstream.query import QueryServer, QuerySettings
from tests.integration.query.rows import Writer, create_tables, project_events

ALLOWED = {
    grpc.StatusCode.INVALID_ARGUMENT: "INVALID_PARAMETER_VALUE",
    grpc.StatusCode.NOT_FOUND: "RESOURCE_DOES_NOT_EXIST",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RESOURCE_EXHAUSTED",
}
# This server has no Kafka, so a tail that passes every check is refused as unavailable here.
TAIL_ALLOWED = {grpc.StatusCode.FAILED_PRECONDITION: "INVALID_STATE"}
LOW, HIGH = -(2**63), 2**63 - 1
TOPIC = "runstream.events"


@dataclass
class Server:
    stub: query_pb2_grpc.QueryServiceStub
    channel: grpc.Channel
    run_token: str  # a genuine SearchRuns token (default order, max_results 1)
    history_token: str  # a genuine GetMetricHistory token (run "r0", key "loss")


@pytest.fixture(scope="module")
def server(chdb_dsn: str) -> Iterator[Server]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    client = create_tables(chdb_dsn, database)
    w = Writer(client)
    w.experiment("e1", "first", creation_time=10, last_update_time=11, tags={"t": "v"})
    for i in range(3):
        w.run(f"r{i}", "e1", start_time=100 + i, user_id="ann", run_name=f"n{i}")
        w.params("e1", f"r{i}", {"lr": str(i), "opt": "adam"})
        w.tags("e1", f"r{i}", {"t": "x"})
        w.metrics(
            "e1",
            f"r{i}",
            [("loss", 1.0 / (s + 1), s, 1000 + s) for s in range(20)]
            + [("wide", float(s), s, s) for s in (LOW, LOW + 1, 0, HIGH - 1, HIGH)]
            + [("nan", float("nan"), 0, 0), ("inf", float("inf"), 1, 1)],
        )
    w.offsets(TOPIC, 0, 10)
    project_events(client, _model_events())
    query = QueryServer(
        QuerySettings(
            clickhouse=chdb_dsn,
            database=database,
            address="127.0.0.1:0",
            pool_size=2,
            topic=TOPIC,
            wait_timeout_s=0.1,
            max_wait_s=0.2,
        )
    ).start()
    channel = grpc.insecure_channel(query.address)
    stub = query_pb2_grpc.QueryServiceStub(channel)
    run_token = stub.SearchRuns(query_pb2.SearchRunsRequest(max_results=1)).next_page_token
    history_token = stub.GetMetricHistory(
        query_pb2.GetMetricHistoryRequest(run_id="r0", metric_key="loss", max_results=1)
    ).next_page_token
    assert run_token and history_token
    try:
        yield Server(stub, channel, run_token, history_token)
    finally:
        channel.close()
        query.stop(grace=1)
        client.close()


def _model_events() -> list[ev.RunEvent]:
    """A registry with versions, aliases and a prompt; a logged model with metrics; a run's
    dataset."""
    out: list[ev.RunEvent] = []

    def add(payload: ev.Payload, run_id: str = "", experiment_id: str = "") -> None:
        out.append(
            ev.RunEvent(f"{len(out):032x}", run_id, experiment_id, "p", len(out), 1, payload)
        )

    add(ev.RegisteredModelCreated("m1", "d", {"t": "x"}))
    add(ev.RegisteredModelCreated("p1", None, {"mlflow.prompt.is_prompt": "true"}))
    for i in range(3):
        add(ev.ModelVersionCreated("m1", f"s3://{i}", "r0", tags={"t": str(i)}))
    add(ev.RegisteredModelAliasSet("m1", "champion", 2))
    add(ev.ModelVersionStageTransitioned("m1", 1, "Production"))
    model = "m-" + "a" * 32
    add(
        ev.LoggedModelCreated(model, "model", "file:///x", "r0", "sk", {"t": "x"}, {"lr": "1"}),
        experiment_id="e1",
    )
    add(
        ev.ModelMetricsLogged((ev.ModelMetricPoint("acc", 0.5, 1, 1, model, "d", "g"),)), "r0", "e1"
    )
    data = ev.DatasetInput("d", "g", "code", "{}", None, None, {"mlflow.data.context": "train"})
    add(ev.InputsLogged((data,), (model,)), "r0", "e1")
    return out


# -- strategies -------------------------------------------------------------------------
valid_text = st.characters(codec="utf-8")  # protobuf strings are UTF-8: no surrogates
short_text = st.text(valid_text, max_size=30)
long_text = st.builds(
    lambda c, n: c * n,
    st.sampled_from(["x", "'", "\\", "\x00", "é", "["]),
    st.sampled_from([1000, 300_000]),
)
text = st.one_of(
    short_text,
    st.sampled_from(["", "r0", "r1", "e1", "loss", "wide", "nan", "inf", "lr", "first"]),
    long_text,
)
int32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, 3, 4, -1, 2**31 - 1]))
int64 = st.one_of(st.integers(LOW, HIGH), st.sampled_from([LOW, HIGH, 0, -1, 1]))
doubles = st.floats(allow_nan=True, allow_infinity=True)
enums = st.one_of(st.sampled_from([0, 1, 2, 3]), int32)  # proto3 enums are open

VOCAB = [
    "metrics.loss",
    "metrics.nan",
    "metric.inf",
    "params.lr",
    "param.opt",
    "tags.t",
    "attributes.start_time",
    "start_time",
    "end_time",
    "created",
    "run_id",
    "run_name",
    "status",
    "user_id",
    "artifact_uri",
    "datasets.name",
    "dataset.digest",
    "metrics.`a b`",
    'params."x y"',
    "`metrics`.loss",
    "name",
    "creation_time",
    "last_update_time",
    "experiment_id",
    "tags.`k`",
    "attribute.name",
    "version_number",
    "source_path",
    "model_id",
    "model_type",
    "source_run_id",
    "creation_timestamp",
    "last_updated_timestamp",
    "timestamp",
    "metrics.acc",
    "attributes.status",
    "tags.`mlflow.prompt.is_prompt`",
    "'true'",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "<>",
    "==",
    "LIKE",
    "ILIKE",
    "IN",
    "NOT IN",
    "NOT",
    "IS NULL",
    "IS NOT NULL",
    "IS",
    "AND",
    "and",
    "OR",
    "(",
    ")",
    ",",
    ".",
    "'a'",
    '"b"',
    "'%_'",
    "'\\'",
    "''",
    "'it''s'",
    "1",
    "-1",
    "0",
    "1e308",
    "1e999",
    "-1e999",
    "-0",
    ".5",
    "5.",
    "1e-400",
    "99999999999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "NaN",
    "inf",
    "('r0', 'r1')",
    "('\\ud800')",
    "('\\x00')",
    "('\\N{BULLET}')",
    '("a",)',
    "()",
    "'\x00'",
    "`",
    "'",
    '"',
    "ASC",
    "DESC",
    "asc",
]
grammar = st.lists(st.sampled_from(VOCAB), max_size=14).map(" ".join)
comparison = st.builds(
    lambda k, op, v: f"{k} {op} {v}",
    st.sampled_from(VOCAB[:25]),
    st.sampled_from(["=", "!=", "<", ">=", "LIKE", "IN", "IS NULL"]),
    st.sampled_from(VOCAB[50:80]),
)
many = st.builds(
    lambda c, n: " AND ".join([c] * n), comparison, st.sampled_from([1, 2, 19, 20, 21, 500])
)
filters = st.one_of(grammar, comparison, many, text)
order_by = st.lists(
    st.one_of(
        st.builds(
            lambda k, d: f"{k}{d}",
            st.sampled_from(VOCAB[:25]),
            st.sampled_from(["", " ASC", " DESC", " desc", "  DESC", " x"]),
        ),
        text,
    ),
    max_size=12,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | doubles | short_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(short_text, inner, max_size=3),
    max_leaves=12,
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _mutate(token: str, values: list[Any]) -> str:
    body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    body[2] = values
    return _b64(json.dumps(body).encode())


any_sort_values = st.lists(
    st.one_of(
        st.integers(),
        st.sampled_from([LOW - 1, HIGH + 1, 2**64, 256, -1, True]),
        doubles.map(lambda f: f.hex() if f == f and abs(f) != float("inf") else str(f)),
        st.sampled_from(["0x1p99999", "nan", "inf", "-inf", "0x", "\ud800"]),
        short_text,
        json_values,
    ),
    max_size=4,
)
run_sort_values = st.one_of(  # (start_time Int64, run_id String), then anything
    st.tuples(st.one_of(int64, st.integers()), text).map(list), any_sort_values
)
history_sort_values = st.one_of(  # (step Int64, timestamp Int64, value Float64 as hex)
    st.tuples(int64, int64, doubles.map(lambda f: f.hex() if f == f else "nan")).map(list),
    any_sort_values,
)
generic_tokens = st.one_of(
    text,
    json_values.map(lambda v: _b64(json.dumps(v).encode())),
    st.binary(max_size=60).map(_b64),
    st.sampled_from([_b64(b"[" * 3000 + b"]" * 3000), _b64(b"[1," * 2000 + b"]" * 2000)]),
)
write_tokens = st.one_of(
    st.none(),
    st.none(),
    st.none(),
    st.builds(
        lambda topic, offsets, wait: query_pb2.ReadOptions(
            write_token=common_pb2.WriteToken(topic=topic, offsets=offsets), wait_timeout_ms=wait
        ),
        st.one_of(st.just(""), st.just(TOPIC), short_text),
        st.dictionaries(int32, int64, max_size=4),
        st.one_of(int64, st.sampled_from([0, 50, 45_000])),
    ),
)


def _read(opt: query_pb2.ReadOptions | None) -> dict[str, Any]:
    return {} if opt is None else {"read": opt}


def _requests(srv: Server) -> dict[str, tuple[Callable[..., Any], st.SearchStrategy[Any]]]:
    s = srv.stub
    exps = st.lists(st.one_of(st.just("e1"), text), max_size=3)
    run_ids = st.lists(st.one_of(st.sampled_from(["r0", "r1", "nope"]), text), max_size=5)
    opt_int64 = st.one_of(st.none(), int64)

    # point-context filters: well-formed ones, and keys/values of any length and shape
    contexts = st.dictionaries(
        st.one_of(st.sampled_from(["rank", "node"]), text),
        st.one_of(st.sampled_from(["0", "3", "a"]), text),
        max_size=12,
    )

    def build(message: Any, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        def make(read: Any, **values: Any) -> Any:
            present = {k: v for k, v in values.items() if v is not None}
            return message(**present, **_read(read))

        return st.builds(make, write_tokens, **fields)

    return {
        "GetExperiment": (
            s.GetExperiment,
            build(query_pb2.GetExperimentRequest, experiment_id=text),
        ),
        "GetExperimentByName": (
            s.GetExperimentByName,
            build(query_pb2.GetExperimentByNameRequest, name=text),
        ),
        "SearchExperiments": (
            s.SearchExperiments,
            build(
                query_pb2.SearchExperimentsRequest,
                filter=filters,
                max_results=int32,
                order_by=order_by,
                page_token=generic_tokens,
                view_type=enums,
            ),
        ),
        "GetRun": (s.GetRun, build(query_pb2.GetRunRequest, run_id=st.one_of(st.just("r0"), text))),
        "SearchRuns": (
            s.SearchRuns,
            build(
                query_pb2.SearchRunsRequest,
                experiment_ids=exps,
                filter=filters,
                run_view_type=enums,
                max_results=int32,
                order_by=order_by,
                page_token=generic_tokens,
            ),
        ),
        "SearchRunsPaged": (  # a genuine token's fingerprint with hostile sort values
            s.SearchRuns,
            build(
                query_pb2.SearchRunsRequest,
                max_results=st.just(1),
                page_token=run_sort_values.map(lambda v: _mutate(srv.run_token, v)),
            ),
        ),
        "GetMetricHistory": (
            s.GetMetricHistory,
            build(
                query_pb2.GetMetricHistoryRequest,
                run_id=st.one_of(st.just("r0"), text),
                metric_key=text,
                max_results=int32,
                page_token=generic_tokens,
            ),
        ),
        "GetMetricHistoryPaged": (
            s.GetMetricHistory,
            build(
                query_pb2.GetMetricHistoryRequest,
                run_id=st.just("r0"),
                metric_key=st.just("loss"),
                page_token=history_sort_values.map(lambda v: _mutate(srv.history_token, v)),
            ),
        ),
        "GetMetricHistoryColumns": (
            s.GetMetricHistoryColumns,
            build(
                query_pb2.GetMetricHistoryRequest,
                run_id=st.one_of(st.just("r0"), text),
                metric_key=st.one_of(st.just("loss"), text),
                max_results=int32,
                page_token=generic_tokens,
                context=contexts,
            ),
        ),
        "GetLatestMetricsByContext": (
            s.GetLatestMetricsByContext,
            build(
                query_pb2.GetLatestMetricsByContextRequest,
                run_id=st.one_of(st.just("r0"), text),
                metric_keys=st.lists(st.one_of(st.just("loss"), text), max_size=5),
                context=contexts,
            ),
        ),
        "GetSampledMetricHistory": (
            s.GetSampledMetricHistory,
            build(
                query_pb2.GetSampledMetricHistoryRequest,
                run_id=st.one_of(st.just("r0"), text),
                metric_key=st.one_of(st.sampled_from(["loss", "wide"]), text),
                max_points=int32,
                x_axis=enums,
                start=opt_int64,
                end=opt_int64,
            ),
        ),
        "GetSampledMetricHistories": (
            s.GetSampledMetricHistories,
            build(
                query_pb2.GetSampledMetricHistoriesRequest,
                run_ids=run_ids,
                metric_key=st.one_of(st.sampled_from(["loss", "wide"]), text),
                max_points=int32,
                x_axis=enums,
                start=opt_int64,
                end=opt_int64,
            ),
        ),
        "GetMetricAggregates": (
            s.GetMetricAggregates,
            build(
                query_pb2.GetMetricAggregatesRequest,
                experiment_ids=exps,
                filter=filters,
                run_view_type=enums,
                metric_key=st.one_of(st.sampled_from(["loss", "wide", "nan"]), text),
                group_by=st.one_of(st.sampled_from(["params.opt", "tags.t", ""]), filters),
                percentiles=st.lists(doubles, max_size=4),
                start_step=opt_int64,
                end_step=opt_int64,
                max_points=int32,
            ),
        ),
        "GetBestRuns": (
            s.GetBestRuns,
            build(
                query_pb2.GetBestRunsRequest,
                experiment_ids=exps,
                filter=filters,
                run_view_type=enums,
                metric_key=st.one_of(st.sampled_from(["loss", "inf", "nan"]), text),
                rank_by=enums,
                goal=enums,
                max_results=int32,
            ),
        ),
        "CountRunsByStatus": (
            s.CountRunsByStatus,
            build(
                query_pb2.CountRunsByStatusRequest,
                experiment_ids=exps,
                filter=filters,
                run_view_type=enums,
            ),
        ),
        # -- the model half
        "SearchDatasets": (
            s.SearchDatasets,
            build(query_pb2.SearchDatasetsRequest, experiment_ids=exps),
        ),
        "GetLoggedModel": (
            s.GetLoggedModel,
            build(
                query_pb2.GetLoggedModelRequest,
                model_id=st.one_of(st.just("m-" + "a" * 32), text),
                allow_deleted=st.booleans(),
            ),
        ),
        "SearchLoggedModels": (
            s.SearchLoggedModels,
            build(
                query_pb2.SearchLoggedModelsRequest,
                experiment_ids=exps,
                filter=filters,
                datasets=st.lists(
                    st.builds(
                        lambda n, d: query_pb2.DatasetFilter(
                            dataset_name=n, **({} if d is None else {"dataset_digest": d})
                        ),
                        text,
                        st.one_of(st.none(), text),
                    ),
                    max_size=3,
                ),
                max_results=int32,
                order_by=st.lists(
                    st.builds(
                        lambda f, a, n: query_pb2.LoggedModelOrder(
                            field_name=f, ascending=a, **({} if n is None else {"dataset_name": n})
                        ),
                        st.one_of(
                            st.sampled_from(["metrics.acc", "name", "creation_time", "model_type"]),
                            text,
                        ),
                        st.booleans(),
                        st.one_of(st.none(), text),
                    ),
                    max_size=6,
                ),
                page_token=generic_tokens,
            ),
        ),
        "GetRegisteredModel": (
            s.GetRegisteredModel,
            build(query_pb2.GetRegisteredModelRequest, name=st.one_of(st.just("m1"), text)),
        ),
        "SearchRegisteredModels": (
            s.SearchRegisteredModels,
            build(
                query_pb2.SearchRegisteredModelsRequest,
                filter=filters,
                max_results=int32,
                order_by=order_by,
                page_token=generic_tokens,
            ),
        ),
        "GetModelVersion": (
            s.GetModelVersion,
            build(
                query_pb2.GetModelVersionRequest, name=st.one_of(st.just("m1"), text), version=int64
            ),
        ),
        "GetModelVersionByAlias": (
            s.GetModelVersionByAlias,
            build(
                query_pb2.GetModelVersionByAliasRequest,
                name=st.one_of(st.just("m1"), text),
                alias=st.one_of(st.sampled_from(["champion", "latest", "LATEST"]), text),
            ),
        ),
        "GetLatestVersions": (
            s.GetLatestVersions,
            build(
                query_pb2.GetLatestVersionsRequest,
                name=st.one_of(st.just("m1"), text),
                stages=st.lists(
                    st.one_of(st.sampled_from(["production", "None"]), text), max_size=4
                ),
            ),
        ),
        "SearchModelVersions": (
            s.SearchModelVersions,
            build(
                query_pb2.SearchModelVersionsRequest,
                filter=filters,
                max_results=int32,
                order_by=order_by,
                page_token=generic_tokens,
            ),
        ),
        "GetWriteOutcome": (
            s.GetWriteOutcome,
            build(
                query_pb2.GetWriteOutcomeRequest, event_id=st.one_of(st.just("0" * 31 + "2"), text)
            ),
        ),
        "Tail": (
            lambda request, timeout: _first(s.Tail(request, timeout=timeout)),
            st.builds(
                lambda run_id, experiment_id, read: query_pb2.TailRequest(
                    run_id=run_id,
                    experiment_id=experiment_id,
                    after=read.write_token if read is not None else None,
                ),
                st.one_of(st.just(""), st.sampled_from(["r0", "nope"]), text),
                st.one_of(st.just(""), st.just("e1"), text),
                write_tokens,
            ),
        ),
    }


def _first(stream: Any) -> Any:
    """The first message of a stream (then the stream is cancelled)."""
    try:
        return next(iter(stream))
    finally:
        stream.cancel()


RPCS = [
    "GetExperiment",
    "GetExperimentByName",
    "SearchExperiments",
    "GetRun",
    "SearchRuns",
    "SearchRunsPaged",
    "GetMetricHistory",
    "GetMetricHistoryPaged",
    "GetMetricHistoryColumns",
    "GetLatestMetricsByContext",
    "GetSampledMetricHistory",
    "GetSampledMetricHistories",
    "GetMetricAggregates",
    "GetBestRuns",
    "CountRunsByStatus",
    "SearchDatasets",
    "GetLoggedModel",
    "SearchLoggedModels",
    "GetRegisteredModel",
    "SearchRegisteredModels",
    "GetModelVersion",
    "GetModelVersionByAlias",
    "GetLatestVersions",
    "SearchModelVersions",
    "GetWriteOutcome",
    "Tail",
]


def test_every_rpc_of_the_service_is_covered() -> None:
    names = set(query_pb2.DESCRIPTOR.services_by_name["QueryService"].methods_by_name)
    assert names == {r.removesuffix("Paged") for r in RPCS}


@pytest.mark.parametrize("rpc", RPCS)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_request_reaches_an_internal_error(
    server: Server, rpc: str, data: st.DataObject
) -> None:
    call, requests = _requests(server)[rpc]
    request = data.draw(requests, label="request")
    _check(rpc, lambda: call(request, timeout=60))


def _check(rpc: str, call: Callable[[], Any]) -> None:
    try:
        call()
        event("OK")
    except grpc.RpcError as err:
        code = err.code()
        event(str(code))
        details = err.details()
        allowed = ALLOWED | (TAIL_ALLOWED if rpc == "Tail" else {})
        assert code in allowed, f"{rpc}: {code} {details}"
        assert error_code_of(err) == allowed[code], f"{rpc}: {code} unnamed: {details}"


METHODS = sorted(query_pb2.DESCRIPTOR.services_by_name["QueryService"].methods_by_name)
not_utf8 = st.sampled_from([b"\xff", b"\xc3", b"a\xed\xa0\x80b", b"\xc0\xaf"])
bodies = st.one_of(
    st.binary(max_size=80),
    # field 1 (a string in every request: id, name, filter or run ids) that is not UTF-8
    not_utf8.map(lambda b: b"\x0a" + bytes([len(b)]) + b),
    # field 2 (a string in most requests) likewise, after a valid field 1
    not_utf8.map(lambda b: b"\x0a\x02r0\x12" + bytes([len(b)]) + b),
    # ReadOptions (field 15) holding a WriteToken whose topic is not UTF-8
    not_utf8.map(lambda b: b"\x7a" + bytes([len(b) + 4, 0x0A, len(b) + 2, 0x0A, len(b)]) + b),
)


@pytest.mark.parametrize("method", METHODS)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies)
def test_no_request_body_reaches_an_internal_error(
    server: Server, method: str, body: bytes
) -> None:
    if method == "Tail":  # server streaming: its first message, or the error
        stream = server.channel.unary_stream(f"/runstream.v1.QueryService/{method}")
        _check(method, lambda: _first(stream(body, timeout=60)))
        return
    call = server.channel.unary_unary(f"/runstream.v1.QueryService/{method}")
    _check(method, lambda: call(body, timeout=60))
