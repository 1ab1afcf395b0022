"""TLS and bearer tokens on every server: the all-in-one stack and the standalone query
service (the gateway's own test is in tests/integration/producer), through the one server
shell.  Real servers, real certificates (a throwaway CA), real Kafka and chDB."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runstream.infra.stack import Stack, StackSettings
from runstream.proto.endpoints import ChannelOptions
from runstream.proto.errors import SettingsError
from runstream.proto.rpc import open_channel
from runstream.proto.tokens import WriteToken
from runstream.proto.v1 import query_pb2, query_pb2_grpc, write_pb2, write_pb2_grpc
from runstream.query import QuerySettings
from runstream.query.grpc_server import QueryServer
from tests.fixtures.tls import make_tls_files

TOKEN = "s3cret-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


def _health(channel: grpc.Channel, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status)


def test_the_stack_serves_tls_with_tokens_and_refuses_plaintext(
    kafka_bootstrap: str, chdb_dsn: str, topic_prefix: str, tmp_path: Path
) -> None:
    tls = make_tls_files(tmp_path / "tls")
    settings = StackSettings(
        kafka=kafka_bootstrap,
        clickhouse=chdb_dsn,
        database=f"tls_{uuid.uuid4().hex[:10]}",
        topic=f"{topic_prefix}.tls.{uuid.uuid4().hex[:6]}",
        address="127.0.0.1:0",
        partitions=2,
        auth_tokens=(TOKEN,),
        tls_cert=str(tls.cert),
        tls_key=str(tls.key),
    )
    with Stack(settings) as stack:
        assert stack.url.startswith("grpcs://")
        # plaintext against a TLS port: the handshake fails, nothing is served
        with grpc.insecure_channel(stack.address) as plain:
            with pytest.raises(grpc.RpcError) as refused:
                _health(plain, "")
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

        options = ChannelOptions(stack.address, tls=True, tls_ca=str(tls.ca), token=TOKEN)
        with open_channel(options) as channel:
            assert _health(channel, "runstream.v1.QueryService") == 1  # SERVING
            write = write_pb2_grpc.WriteServiceStub(channel)
            query = query_pb2_grpc.QueryServiceStub(channel)
            # health is open; every other call needs the token, over TLS too
            with pytest.raises(grpc.RpcError) as anonymous:
                write.CreateExperiment(write_pb2.CreateExperimentRequest(name="x"), timeout=10)
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

            name = f"tls-{uuid.uuid4().hex[:6]}"
            created = write.CreateExperiment(
                write_pb2.CreateExperimentRequest(name=name), timeout=10, metadata=options.metadata
            )
            token = WriteToken.from_proto(created.token)
            found = query.GetExperimentByName(
                query_pb2.GetExperimentByNameRequest(
                    name=name,
                    read=query_pb2.ReadOptions(
                        write_token=token.to_proto(), wait_timeout_ms=30_000
                    ),
                ),
                timeout=40,
                metadata=AUTH,
            )
            assert found.experiment.name == name
            assert found.experiment.experiment_id == created.experiment_id


def test_the_standalone_query_service_serves_tls(chdb_dsn: str, tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls")
    settings = QuerySettings(
        clickhouse=chdb_dsn,
        database=f"tlsq_{uuid.uuid4().hex[:10]}",
        address="127.0.0.1:0",
        tls_cert=str(tls.cert),
        tls_key=str(tls.key),
    )
    server = QueryServer(settings).start()
    try:
        assert server.running.url.startswith("grpcs://")
        options = ChannelOptions(server.address, tls=True, tls_ca=str(tls.ca))
        with open_channel(options) as channel:
            assert _health(channel, "runstream.v1.QueryService") == 1
            query = query_pb2_grpc.QueryServiceStub(channel)
            # the call reaches the service over TLS: an empty database answers by name
            with pytest.raises(grpc.RpcError) as empty:
                query.GetExperiment(query_pb2.GetExperimentRequest(experiment_id="42"), timeout=10)
            assert empty.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "tables do not exist" in (empty.value.details() or "")
        with grpc.insecure_channel(server.address) as plain:
            with pytest.raises(grpc.RpcError) as refused:
                _health(plain, "")
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


@pytest.mark.parametrize(
    "content", ["# only a comment\n", "\n\n", "   # an indented comment\n#another\n"]
)
def test_auth_that_was_asked_for_never_turns_off(
    kafka_bootstrap: str, chdb_dsn: str, tmp_path: Path, content: str
) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text(content)
    settings = StackSettings(
        data_dir=tmp_path / "data",
        kafka=kafka_bootstrap,
        clickhouse=chdb_dsn,
        address="127.0.0.1:0",
        auth_token_file=str(token_file),
    )
    stack = Stack(settings)
    with pytest.raises(SettingsError, match="holds no token"):
        stack.start()
    assert not (tmp_path / "data").exists()  # refused before anything started
    with pytest.raises(SettingsError, match="holds no token"):
        QueryServer(
            QuerySettings(
                clickhouse=chdb_dsn, address="127.0.0.1:0", auth_token_file=str(token_file)
            )
        )
