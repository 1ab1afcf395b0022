"""The gRPC gateway in front of a real broker: LogBatch, LogStream, validation, tokens,
health, reflection, bearer tokens, and the SDK through grpc://."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from runstream.producer import ProducerError, RunstreamClient
from runstream.producer.gateway import GatewaySettings, RunningGateway, start_gateway
from runstream.proto import events as ev
from runstream.proto.rpc import error_code_of
from runstream.proto.v1 import common_pb2, write_pb2, write_pb2_grpc
from tests.integration.producer.topic import read_topic

RUN = "d" * 32


@pytest.fixture
def topic(topic_prefix: str) -> str:
    return f"{topic_prefix}.producer.{uuid.uuid4().hex[:8]}"


@pytest.fixture
def gateway(kafka_bootstrap: str, topic: str) -> Iterator[RunningGateway]:
    running = start_gateway(
        GatewaySettings(address="127.0.0.1:0", kafka=kafka_bootstrap, topic=topic)
    )
    yield running
    running.stop(grace=1)


@pytest.fixture
def stub(gateway: RunningGateway) -> Iterator[write_pb2_grpc.WriteServiceStub]:
    with grpc.insecure_channel(gateway.address) as channel:
        yield write_pb2_grpc.WriteServiceStub(channel)


def _columns(n: int) -> common_pb2.MetricColumns:
    return common_pb2.MetricColumns(
        keys=["loss"],
        key_index=np.zeros(n, "<u2").tobytes(),
        values=np.arange(n, dtype="<f8").tobytes(),
        steps=np.arange(n, dtype="<i8").tobytes(),
        timestamps=np.full(n, 7, "<i8").tobytes(),
    )


def test_log_batch_answers_with_the_token_after_kafka_acknowledged(
    stub: write_pb2_grpc.WriteServiceStub, kafka_bootstrap: str, topic: str
) -> None:
    response = stub.LogBatch(
        write_pb2.LogBatchRequest(
            run_id=RUN,
            experiment_id="5",
            metrics=[common_pb2.Metric(key="acc", value=0.5, timestamp=3, step=1)],
            params=[common_pb2.Param(key="lr", value="0.1")],
            tags=[common_pb2.Tag(key="t", value="v")],
            metric_columns=_columns(5000),
        )
    )
    assert response.token.topic == topic and response.token.offsets
    assert (response.events, response.points) == (3, 5001)
    records = read_topic(kafka_bootstrap, topic)
    (partition,) = {r.partition for r in records}
    assert dict(response.token.offsets) == {partition: max(r.offset for r in records)}
    kinds = [type(r.event.payload).__name__ for r in records]
    assert kinds == ["ParamsLogged", "TagsSet", "MetricsLogged"]
    assert all(r.key == RUN.encode() and r.event.experiment_id == "5" for r in records)


def test_log_stream_and_run_calls(
    stub: write_pb2_grpc.WriteServiceStub, kafka_bootstrap: str, topic: str
) -> None:
    created = stub.CreateRun(write_pb2.CreateRunRequest(experiment_id="5", run_name="g"))
    run_id = created.run.run_id
    assert len(run_id) == 32 and created.token.offsets
    requests = [
        write_pb2.LogBatchRequest(run_id=run_id, experiment_id="5", metric_columns=_columns(1000))
        for _ in range(20)
    ]
    response = stub.LogStream(iter(requests))
    assert (response.events, response.points) == (20, 20_000)
    stub.UpdateRun(
        write_pb2.UpdateRunRequest(
            run_id=run_id, status=common_pb2.FINISHED, end_time=9, experiment_id="5"
        )
    )
    events = [r.event for r in read_topic(kafka_bootstrap, topic)]
    assert [e.seq for e in events] == list(range(22))
    assert isinstance(events[0].payload, ev.RunCreated)
    assert events[-1].payload == ev.RunUpdated(status="FINISHED", end_time=9)


def test_run_calls_are_built_like_the_sdk_builds_them(
    gateway: RunningGateway, stub: write_pb2_grpc.WriteServiceStub, kafka_bootstrap: str, topic: str
) -> None:
    """CreateRun invents no system tags; a rename is also the mlflow.runName tag (once,
    also for the SDK through the gateway); an unknown status number is INVALID_ARGUMENT."""
    created = stub.CreateRun(
        write_pb2.CreateRunRequest(
            experiment_id="5", tags=[common_pb2.Tag(key="mlflow.runName", value="from-tag")]
        )
    )
    run_id = created.run.run_id
    assert created.run.run_name == "from-tag" and created.run.status == common_pb2.RUNNING
    renamed = stub.UpdateRun(write_pb2.UpdateRunRequest(run_id=run_id, run_name="better"))
    assert renamed.events == 2
    with pytest.raises(grpc.RpcError) as info:
        stub.UpdateRun(write_pb2.UpdateRunRequest(run_id=run_id, status=99))  # type: ignore[arg-type]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("invalid status: must be one of RUNNING")
    with RunstreamClient(f"grpc://{gateway.address}", linger_ms=5) as client:
        client.update_run(run_id, name="best")
        client.flush()
    events = [r.event for r in read_topic(kafka_bootstrap, topic)]
    payloads = [e.payload for e in events if e.run_id == run_id]
    assert payloads[0] == ev.RunCreated(
        payloads[0].start_time,  # type: ignore[union-attr]
        "from-tag",
        "",
        "RUNNING",
        "",
        "",
        {"mlflow.runName": "from-tag"},
    )
    assert payloads[1:] == [
        ev.RunUpdated(run_name="better"),
        ev.TagsSet(("mlflow.runName",), ("better",)),
        ev.RunUpdated(run_name="best"),
        ev.TagsSet(("mlflow.runName",), ("best",)),
    ]


def test_invalid_argument_names_the_field(
    stub: write_pb2_grpc.WriteServiceStub, kafka_bootstrap: str, topic: str
) -> None:
    request = write_pb2.LogBatchRequest(
        run_id=RUN,
        metrics=[
            common_pb2.Metric(key="ok", value=1.0, timestamp=1),
            common_pb2.Metric(key="bad/../key", value=1.0, timestamp=1),
        ],
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.LogBatch(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "metrics[1].key" in info.value.details()
    assert error_code_of(info.value) == "INVALID_PARAMETER_VALUE"
    too_many = write_pb2.LogBatchRequest(
        run_id=RUN, params=[common_pb2.Param(key=f"p{i}", value="v") for i in range(101)]
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.LogBatch(too_many)
    assert "params" in info.value.details() and "100" in info.value.details()
    bad_columns = write_pb2.LogBatchRequest(
        run_id=RUN, metric_columns=common_pb2.MetricColumns(keys=["k"], values=b"\0" * 12)
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.LogBatch(bad_columns)
    assert "metric_columns.values" in info.value.details()
    events = [r.event for r in read_topic(kafka_bootstrap, topic)]
    assert [k for e in events for k in e.payload.key_column()] == ["ok"]  # the good one stays


def test_point_contexts_through_the_gateway(
    stub: write_pb2_grpc.WriteServiceStub, kafka_bootstrap: str, topic: str
) -> None:
    request = write_pb2.LogBatchRequest(
        run_id=RUN,
        metrics=[
            common_pb2.Metric(key="loss", value=1.0, timestamp=1, context={"rank": "3"}),
            common_pb2.Metric(key="loss", value=2.0, timestamp=1, context={"rank": "x"}),
        ],
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.LogBatch(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "metrics[1].context.rank" in info.value.details()
    events = [r.event for r in read_topic(kafka_bootstrap, topic)]
    (landed,) = [e.payload for e in events]
    assert landed.key_column() == ["loss"] and landed.values.tolist() == [1.0]
    assert landed.context_table() == ((("rank", "3"),),)  # the good point, with its context


def test_health_and_reflection(gateway: RunningGateway) -> None:
    with grpc.insecure_channel(gateway.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "runstream.v1.WriteService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = reflect.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for r in replies for s in r.list_services_response.service}
        assert "runstream.v1.WriteService" in names


def test_bearer_tokens_refused_and_accepted(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text("# ops\nsecret-1\n")
    running = start_gateway(
        GatewaySettings(
            address="127.0.0.1:0",
            kafka=kafka_bootstrap,
            topic=topic,
            auth_token_file=str(token_file),
        )
    )
    try:
        with grpc.insecure_channel(running.address) as channel:
            stub = write_pb2_grpc.WriteServiceStub(channel)
            request = write_pb2.LogBatchRequest(
                run_id=RUN, tags=[common_pb2.Tag(key="a", value="b")]
            )
            for metadata in ((), (("authorization", "Bearer wrong"),)):
                with pytest.raises(grpc.RpcError) as info:
                    stub.LogBatch(request, metadata=metadata)
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            ok = stub.LogBatch(request, metadata=(("authorization", "Bearer secret-1"),))
            assert ok.token.offsets
            health = health_pb2_grpc.HealthStub(channel)  # stays open without a token
            assert health.Check(health_pb2.HealthCheckRequest()).status == 1
        with RunstreamClient(f"grpc://{running.address}", token="secret-1") as client:
            run = client.create_run("1")
            client.log_metric(run.run_id, "x", 1.0)
            assert client.flush().offsets
    finally:
        running.stop(grace=1)


def test_the_sdk_through_the_gateway(
    gateway: RunningGateway, kafka_bootstrap: str, topic: str
) -> None:
    with RunstreamClient(f"grpc://{gateway.address}", linger_ms=20) as client:
        eid = client.create_experiment("via-gateway")
        run = client.create_run(eid, run_name="g")
        client.log_params(run.run_id, {f"p{i}": i for i in range(150)})  # > 100: split
        for step in range(5000):
            client.log_metric(run.run_id, "loss", float(step), step=step)
        client.log_metric_columns(run.run_id, "acc", np.ones(100_000), np.arange(100_000))
        client.set_terminated(run.run_id)
        token = client.flush()
    assert token.topic == topic and token.offsets
    events = [r.event for r in read_topic(kafka_bootstrap, topic)]
    # stamped with the SDK's producer id (its requests name their Origin), one seq each
    assert {e.producer_id for e in events} == {client.producer_id}
    assert len({e.seq for e in events}) == len(events)
    assert [e.seq for e in events if e.run_id == run.run_id] == sorted(
        e.seq for e in events if e.run_id == run.run_id
    )
    mine = [e for e in events if e.run_id == run.run_id]
    assert isinstance(mine[0].payload, ev.RunCreated) and mine[0].payload.run_name == "g"
    assert mine[-1].payload.status == "FINISHED"  # type: ignore[union-attr]
    assert sum(len(e.payload) for e in mine if isinstance(e.payload, ev.MetricsLogged)) == 105_000
    assert sum(len(e.payload.keys) for e in mine if isinstance(e.payload, ev.ParamsLogged)) == 150
    assert {e.experiment_id for e in mine} == {eid}


CLI = (
    "import argparse, sys\n"
    "from runstream.producer.gateway import cli\n"
    "parser = argparse.ArgumentParser()\n"
    "cli.register(parser.add_subparsers())\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_the_gateway_command_with_tls_and_tokens_from_the_environment(
    kafka_bootstrap: str, topic: str, tmp_path: Path, free_ports: Any
) -> None:
    cert, key = _self_signed(tmp_path)
    (port,) = free_ports(1)
    env = {
        **os.environ,
        "RUNSTREAM_AUTH_TOKENS": "tok-1,tok-2",
        "RUNSTREAM_TOPIC": topic,
        "RUNSTREAM_GATEWAY_ADDRESS": f"127.0.0.1:{port}",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLI,
            "gateway",
            "--kafka",
            kafka_bootstrap,
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ],
        env=env,
    )
    try:
        client = RunstreamClient(
            f"grpcs://127.0.0.1:{port}", token="tok-2", tls_ca=str(cert), connect_timeout_s=1
        )
        deadline = time.monotonic() + 30
        run = client.create_run("1")
        while True:  # the command needs a moment to listen
            try:
                token = client.flush(timeout=5)
                break
            except ProducerError:
                assert time.monotonic() < deadline
        client.log_metric(run.run_id, "x", 1.0)
        token = client.flush()
        client.close()
        assert token.topic == topic and token.offsets
        with grpc.secure_channel(
            f"127.0.0.1:{port}", grpc.ssl_channel_credentials(cert.read_bytes())
        ) as channel:
            stub = write_pb2_grpc.WriteServiceStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                stub.DeleteRun(write_pb2.RunRef(run_id=run.run_id))
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
