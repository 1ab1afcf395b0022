"""The standalone gateway in front of a real broker, given hostile input (issue 11, item 3
and the "smaller" items): bytes that are not a valid message (a string field holding
invalid UTF-8, which only a hand-built message can carry) are INVALID_ARGUMENT, never
INTERNAL; errors echo a bounded part of the input; "accepted" counts items."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from runstream.producer.gateway import GatewaySettings, RunningGateway, start_gateway
from runstream.proto.errors import MAX_ECHO_CHARS
from runstream.proto.rpc import error_code_of
from runstream.proto.v1 import common_pb2, write_pb2, write_pb2_grpc
from tests.integration.producer.topic import read_topic

RUN = "e" * 32
SERVICE = "/runstream.v1.WriteService/"


@pytest.fixture
def topic(topic_prefix: str) -> str:
    return f"{topic_prefix}.input.{uuid.uuid4().hex[:8]}"


@pytest.fixture
def gateway(kafka_bootstrap: str, topic: str) -> Iterator[RunningGateway]:
    running = start_gateway(
        GatewaySettings(address="127.0.0.1:0", kafka=kafka_bootstrap, topic=topic)
    )
    yield running
    running.stop(grace=1)


@pytest.fixture
def channel(gateway: RunningGateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.address) as ch:
        yield ch


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2), lengths under 128."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


BAD_UTF8 = b"a\xff\xfeb"
RAW: dict[str, tuple[str, bytes]] = {
    "LogBatch run_id": ("LogBatch", _field(1, BAD_UTF8)),
    "LogBatch param value": (
        "LogBatch",
        _field(1, RUN.encode()) + _field(3, _field(1, b"lr") + _field(2, BAD_UTF8)),
    ),
    "CreateRun run_name": ("CreateRun", _field(1, b"0") + _field(2, BAD_UTF8)),
    "CreateExperiment name": ("CreateExperiment", _field(1, BAD_UTF8)),
    "SetExperimentTag value": (
        "SetExperimentTag",
        _field(1, b"0") + _field(2, b"k") + _field(3, b"\xed\xa0\x80"),  # a surrogate
    ),
}


@pytest.mark.parametrize("case", sorted(RAW))
def test_invalid_utf8_is_invalid_argument(channel: grpc.Channel, case: str) -> None:
    method, body = RAW[case]
    call = channel.unary_unary(
        SERVICE + method,
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.RpcError) as info:
        call(body, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert "not a valid message" in (info.value.details() or "")
    assert error_code_of(info.value) == "INVALID_PARAMETER_VALUE"


def test_invalid_utf8_on_a_stream_is_invalid_argument_after_the_good_requests(
    channel: grpc.Channel, kafka_bootstrap: str, topic: str
) -> None:
    good = write_pb2.LogBatchRequest(
        run_id=RUN, params=[common_pb2.Param(key="ok", value="1")]
    ).SerializeToString()
    stream = channel.stream_unary(
        SERVICE + "LogStream",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.RpcError) as info:
        stream(iter([good, _field(1, BAD_UTF8)]), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (record,) = read_topic(kafka_bootstrap, topic)  # the good request before it is there
    assert record.event.payload.keys == ("ok",)  # type: ignore[union-attr]


def test_errors_echo_a_bounded_part_of_the_input(channel: grpc.Channel) -> None:
    stub = write_pb2_grpc.WriteServiceStub(channel)
    huge = "-" + "x" * 1_000_000
    calls = [
        lambda: stub.LogBatch(write_pb2.LogBatchRequest(run_id=huge), timeout=10),
        lambda: stub.DeleteRun(write_pb2.RunRef(run_id=huge), timeout=10),
        lambda: stub.CreateRun(write_pb2.CreateRunRequest(experiment_id=huge), timeout=10),
        lambda: stub.LogBatch(
            write_pb2.LogBatchRequest(
                run_id=RUN, params=[common_pb2.Param(key="k;" + huge[:200_000], value="v")]
            ),
            timeout=10,
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(info.value.details() or "") < 4 * MAX_ECHO_CHARS


def test_accepted_counts_items_not_events(channel: grpc.Channel) -> None:
    stub = write_pb2_grpc.WriteServiceStub(channel)
    n = 10
    request = write_pb2.LogBatchRequest(
        run_id=RUN,
        params=[common_pb2.Param(key="a", value="1"), common_pb2.Param(key="b", value="2")],
        tags=[common_pb2.Tag(key="bad;key", value="x")],
        metric_columns=common_pb2.MetricColumns(
            keys=["loss"],
            key_index=np.zeros(n, "<u2").tobytes(),
            values=np.arange(n, dtype="<f8").tobytes(),
            steps=np.arange(n, dtype="<i8").tobytes(),
            timestamps=np.full(n, 7, "<i8").tobytes(),
        ),
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.LogBatch(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "the other 12 item(s) were accepted" in (info.value.details() or "")
