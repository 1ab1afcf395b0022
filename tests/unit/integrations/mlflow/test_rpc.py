"""The plugin's typed RPC client and its settings.

Every RPC the plugin makes is declared once (service, name, request and response class),
checked against the services' descriptors, and called through a method typed with the
generated messages.  Store URIs and environment variables become :class:`ClientSettings`;
what cannot be used is refused by name.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.protos import databricks_pb2  # noqa: E402

from runstream.integrations.mlflow import rpc  # noqa: E402
from runstream.integrations.mlflow.entry_points import RunstreamStore  # noqa: E402
from runstream.integrations.mlflow.settings import (  # noqa: E402
    ClientSettings,
    StoreAddress,
    parse_store_uri,
)
from runstream.proto.endpoints import ChannelOptions  # noqa: E402
from runstream.proto.tokens import TokenTracker  # noqa: E402
from runstream.proto.v1 import common_pb2, query_pb2, write_pb2  # noqa: E402
from tests.unit.integrations.mlflow.fake_runstream import FakeRunstream, serve  # noqa: E402


def _code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


# --------------------------------------------------------------------- store URIs


@pytest.mark.parametrize(
    ("uri", "address"),
    [
        ("runstream://localhost:50051", StoreAddress("localhost:50051")),
        ("runstream://10.1.2.3:7000", StoreAddress("10.1.2.3:7000")),
        ("runstream://gateway", StoreAddress("gateway:50051")),
        ("runstream://[::1]:9000", StoreAddress("[::1]:9000")),
        ("runstream+tls://gateway:443", StoreAddress("gateway:443", tls=True)),
        ("runstream+tls://gateway", StoreAddress("gateway:50051", tls=True)),
    ],
)
def test_store_uri_to_address(uri: str, address: StoreAddress) -> None:
    assert parse_store_uri(uri) == address


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost:5000",
        "grpcs://localhost:50051",
        "runstream://",
        "runstream+tls://",
        "runstream://h:1/x",
        "runstream://h:port",
        "runstream://h:70000",
    ],
)
def test_bad_uris_are_refused(uri: str) -> None:
    with pytest.raises(MlflowException) as exc:
        parse_store_uri(uri)
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    assert repr(uri) in str(exc.value)


# ---------------------------------------------------------- environment variables


def test_settings_come_from_the_uri_and_the_environment() -> None:
    env = {
        "RUNSTREAM_TOKEN": "s3cret",
        "RUNSTREAM_TLS_CA": "/etc/runstream/ca.pem",
        "RUNSTREAM_MLFLOW_TIMEOUT": "2.5",
        "RUNSTREAM_MLFLOW_READ_WAIT_MS": "1500",
    }
    settings = ClientSettings.from_uri("runstream+tls://gateway:443", env)
    assert settings.channel == ChannelOptions(
        target="gateway:443", tls=True, tls_ca="/etc/runstream/ca.pem", token="s3cret"
    )
    assert settings.channel.metadata == (("authorization", "Bearer s3cret"),)
    assert (settings.call_timeout, settings.read_wait_ms) == (2.5, 1500)
    # Plaintext ignores the CA; unset (or empty) variables take their defaults.
    plain = ClientSettings.from_uri("runstream://gateway", {**env, "RUNSTREAM_MLFLOW_TIMEOUT": ""})
    assert (plain.channel.tls, plain.channel.tls_ca, plain.call_timeout) == (False, None, 60.0)
    assert ClientSettings.from_uri("runstream://h", {}) == ClientSettings(ChannelOptions("h:50051"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RUNSTREAM_MLFLOW_TIMEOUT", "soon"),
        ("RUNSTREAM_MLFLOW_TIMEOUT", "0"),
        ("RUNSTREAM_MLFLOW_READ_WAIT_MS", "-1"),
        ("RUNSTREAM_MLFLOW_READ_WAIT_MS", "1.5"),
    ],
)
def test_a_bad_variable_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(MlflowException) as exc:
        ClientSettings.from_uri("runstream://h", {name: value})
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    assert name in str(exc.value) and repr(value) in str(exc.value)


def test_an_unreadable_tls_ca_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing-ca.pem"
    monkeypatch.setenv("RUNSTREAM_TLS_CA", str(missing))
    with pytest.raises(MlflowException) as exc:
        RunstreamStore("runstream+tls://127.0.0.1:9")
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    assert str(missing) in str(exc.value)


# ------------------------------------------------------------ the declared methods


def _declared() -> list[rpc.Unary[typing.Any, typing.Any]]:
    return [value for value in vars(rpc).values() if isinstance(value, rpc.Unary)]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_client_method_is_typed_with_its_rpcs_messages() -> None:
    declared = _declared()
    assert len(declared) == 20
    for unary in declared:
        method = unary.service.methods_by_name[unary.name]
        assert method.input_type is unary.request.DESCRIPTOR
        assert method.output_type is unary.response.DESCRIPTOR
        hints = typing.get_type_hints(getattr(rpc.RunstreamRpc, _snake(unary.name)))
        hints.pop("scope", None)  # what a write concerns or a read reads (read-your-writes)
        hints.pop("wait", None)  # a read that waits for none of its writes (get_run)
        assert hints == {"request": unary.request, "return": unary.response}, unary.name
    public = {
        name
        for name, member in vars(rpc.RunstreamRpc).items()
        if callable(member) and not name.startswith("_")
    }
    assert public - {"close"} == {_snake(u.name) for u in declared}


@pytest.mark.parametrize(
    ("service", "name", "request_type", "response_type", "complaint"),
    [
        (
            rpc.QUERY_SERVICE,
            "GetExperimnt",
            query_pb2.GetExperimentRequest,
            query_pb2.ExperimentResponse,
            "no method",
        ),
        (
            rpc.QUERY_SERVICE,
            "GetExperiment",
            query_pb2.GetRunRequest,
            query_pb2.ExperimentResponse,
            "takes runstream.v1.GetExperimentRequest",
        ),
        (
            rpc.QUERY_SERVICE,
            "GetExperiment",
            query_pb2.GetExperimentRequest,
            query_pb2.GetRunResponse,
            "returns runstream.v1.ExperimentResponse",
        ),
        (
            rpc.WRITE_SERVICE,
            "LogStream",
            write_pb2.LogBatchRequest,
            write_pb2.WriteResponse,
            "streaming",
        ),
        (
            rpc.WRITE_SERVICE,
            "GetExperiment",
            query_pb2.GetExperimentRequest,
            query_pb2.ExperimentResponse,
            "no method",
        ),
    ],
)
def test_a_declaration_the_proto_does_not_match_fails_at_once(
    service: typing.Any,
    name: str,
    request_type: typing.Any,
    response_type: typing.Any,
    complaint: str,
) -> None:
    with pytest.raises(TypeError, match=complaint):
        rpc.unary(service, name, request_type, response_type)


# ---------------------------------------------------------- over the stand-in server


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[FakeRunstream, str]]:
    state = FakeRunstream(f"sqlite:///{tmp_path / 'fake.db'}", str(tmp_path / "artifacts"))
    server, port = serve(state)
    yield state, f"runstream://127.0.0.1:{port}"
    server.stop(grace=None)


def test_writes_merge_their_tokens_and_every_read_carries_them(
    fake: tuple[FakeRunstream, str],
) -> None:
    state, uri = fake
    client = rpc.RunstreamRpc(ClientSettings.from_uri(uri, {"RUNSTREAM_TOKEN": "t0k"}))
    try:
        created = client.create_experiment(write_pb2.CreateExperimentRequest(name="typed"))
        assert isinstance(created, write_pb2.CreateExperimentResponse)
        exp_id = created.experiment_id
        first = client.tokens.current().offset_map[0]
        client.set_experiment_tag(
            write_pb2.SetExperimentTagRequest(experiment_id=exp_id, key="k", value="v")
        )
        assert client.tokens.current().offset_map[0] == first + 1
        got = client.get_experiment(query_pb2.GetExperimentRequest(experiment_id=exp_id))
        assert isinstance(got, query_pb2.ExperimentResponse)
        assert got.experiment.name == "typed"
        assert {t.key: t.value for t in got.experiment.tags} == {"k": "v"}
        assert state.reads[-1] == ("GetExperiment", first + 1)
        assert state.metadata[-1].get("authorization") == "Bearer t0k"
    finally:
        client.close()


def test_runstream_errors_become_mlflow_error_codes(fake: tuple[FakeRunstream, str]) -> None:
    _, uri = fake
    client = rpc.RunstreamRpc(ClientSettings.from_uri(uri, {}))
    try:
        with pytest.raises(MlflowException) as exc:
            client.get_run(query_pb2.GetRunRequest(run_id="f" * 32))
        assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"
        client.create_experiment(write_pb2.CreateExperimentRequest(name="twice"))
        with pytest.raises(MlflowException) as exc:
            client.create_experiment(write_pb2.CreateExperimentRequest(name="twice"))
        assert _code(exc) == "RESOURCE_ALREADY_EXISTS"
    finally:
        client.close()


def test_a_write_without_offsets_leaves_the_token_alone() -> None:
    tracker = TokenTracker()
    tracker.observe(write_pb2.WriteResponse().token)
    assert not tracker.current()
    tracker.observe(common_pb2.WriteToken(topic="t", offsets={1: 4}))
    assert tracker.current().offset_map == {1: 4}


def test_every_model_method_is_typed_with_its_rpcs_messages() -> None:
    from runstream.integrations.mlflow import model_rpc

    declared = [v for v in vars(model_rpc).values() if isinstance(v, rpc.Unary)]
    assert len(declared) == 34  # 24 writes, 10 reads of the model half
    for unary in declared:
        hints = typing.get_type_hints(getattr(rpc.RunstreamRpc, _snake(unary.name)))
        hints.pop("scope", None)  # what a write concerns or a read reads (read-your-writes)
        hints.pop("wait", None)  # a read that waits for none of its writes (get_run)
        assert hints == {"request": unary.request, "return": unary.response}, unary.name
    every = set(rpc.WRITE_SERVICE.methods_by_name) | set(rpc.QUERY_SERVICE.methods_by_name)
    covered = {u.name for u in declared} | {u.name for u in _declared()}
    # the streaming call (the SDK's) and reads MLflow has no call for
    assert every - covered == {
        "LogStream",
        "CountRunsByStatus",
        "GetBestRuns",
        "GetMetricAggregates",
        "GetSampledMetricHistory",
        "Tail",
    }


def test_an_overloaded_query_service_is_retried_for_reads_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RESOURCE_EXHAUSTED ("retry later": too many reads already waiting for ingest) is
    retried with back-off within the read's wait budget; writes are never repeated."""
    client = rpc.RunstreamRpc(
        ClientSettings.from_uri(
            "runstream://127.0.0.1:9", {"RUNSTREAM_MLFLOW_READ_WAIT_MS": "2000"}
        )
    )
    calls: list[str] = []

    def busy_twice(unary: typing.Any, request: typing.Any) -> typing.Any:
        calls.append(unary.name)
        if len(calls) <= 2:
            raise MlflowException(
                "4 reads are already waiting", error_code=databricks_pb2.RESOURCE_EXHAUSTED
            )
        return unary.response()

    monkeypatch.setattr(client, "_invoke", busy_twice)
    answer = client.get_write_outcome(query_pb2.GetWriteOutcomeRequest(event_id="e"))
    assert isinstance(answer, query_pb2.GetWriteOutcomeResponse) and len(calls) == 3
    calls.clear()
    with pytest.raises(MlflowException) as exc:
        client.create_registered_model(write_pb2.CreateRegisteredModelRequest(name="m"))
    assert exc.value.error_code == "RESOURCE_EXHAUSTED" and calls == ["CreateRegisteredModel"]

    def always_busy(unary: typing.Any, request: typing.Any) -> typing.Any:
        calls.append(unary.name)
        raise MlflowException("busy", error_code=databricks_pb2.RESOURCE_EXHAUSTED)

    short = rpc.RunstreamRpc(
        ClientSettings.from_uri("runstream://127.0.0.1:9", {"RUNSTREAM_MLFLOW_READ_WAIT_MS": "100"})
    )
    monkeypatch.setattr(short, "_invoke", always_busy)
    calls.clear()
    with pytest.raises(MlflowException) as exc:
        short.get_registered_model(query_pb2.GetRegisteredModelRequest(name="m"))
    assert exc.value.error_code == "RESOURCE_EXHAUSTED" and 1 < len(calls) < 10
    client.close()
    short.close()
