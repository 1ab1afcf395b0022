"""Issue 11, item 5, at the edge: the all-in-one stack's gateway asks its query side what
it knows of a run, and refuses with a named error what ingest would dead-letter after the
write was acknowledged.  Real broker, real chDB, the stack in this process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest

from runstream.infra.stack import Stack, StackSettings
from runstream.producer import RunstreamClient
from runstream.proto.rpc import error_code_of
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc, write_pb2, write_pb2_grpc


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, chdb_dsn: str, topic_prefix: str) -> Iterator[Stack]:
    patch = pytest.MonkeyPatch()
    patch.setenv("RUNSTREAM_RUN_FACTS_TTL", "0")  # a run's stage is asked on every write
    settings = StackSettings(
        kafka=kafka_bootstrap,
        clickhouse=chdb_dsn,
        database=f"edge_{uuid.uuid4().hex[:10]}",
        topic=f"{topic_prefix}.edge.{uuid.uuid4().hex[:6]}",
        address="127.0.0.1:0",
        partitions=2,
    )
    try:
        with Stack(settings) as running:
            yield running
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def channel(stack: Stack) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(stack.address) as ch:
        yield ch


@pytest.fixture(scope="module")
def write(channel: grpc.Channel) -> write_pb2_grpc.WriteServiceStub:
    return write_pb2_grpc.WriteServiceStub(channel)


@pytest.fixture(scope="module")
def query(channel: grpc.Channel) -> query_pb2_grpc.QueryServiceStub:
    return query_pb2_grpc.QueryServiceStub(channel)


def _refused(call: object, code: grpc.StatusCode, error_code: str) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    assert info.value.code() == code, info.value.details()
    assert error_code_of(info.value) == error_code
    return info.value.details() or ""


def _params(run_id: str, **params: str) -> write_pb2.LogBatchRequest:
    return write_pb2.LogBatchRequest(
        run_id=run_id, params=[common_pb2.Param(key=k, value=v) for k, v in params.items()]
    )


def _run(query: query_pb2_grpc.QueryServiceStub, run_id: str, token: object) -> object:
    read = query_pb2.ReadOptions(write_token=token, wait_timeout_ms=60_000)
    return query.GetRun(query_pb2.GetRunRequest(run_id=run_id, read=read)).run


def test_writes_ingest_would_refuse_are_refused_at_the_edge(
    write: write_pb2_grpc.WriteServiceStub, query: query_pb2_grpc.QueryServiceStub
) -> None:
    unknown = uuid.uuid4().hex
    text = _refused(
        lambda: write.LogBatch(_params(unknown, lr="1"), timeout=30),
        grpc.StatusCode.NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert unknown in text
    _refused(
        lambda: write.UpdateRun(write_pb2.UpdateRunRequest(run_id=unknown, end_time=5), timeout=30),
        grpc.StatusCode.NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
    )
    run = write.CreateRun(write_pb2.CreateRunRequest(experiment_id="0"), timeout=30).run
    write.LogBatch(_params(run.run_id, lr="0.1"), timeout=30)  # right after creation: known
    mismatch = _params(run.run_id, x="1")
    mismatch.experiment_id = "12345"
    text = _refused(
        lambda: write.LogBatch(mismatch, timeout=30),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PARAMETER_VALUE",
    )
    assert "experiment_id" in text
    text = _refused(
        lambda: write.LogBatch(_params(run.run_id, lr="0.2", bs="32"), timeout=30),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PARAMETER_VALUE",
    )
    assert "params[0].value" in text and "write-once" in text and "1 item(s) were accepted" in text
    same = write.LogBatch(_params(run.run_id, lr="0.1"), timeout=30)  # the same value: fine
    got = _run(query, run.run_id, same.token)
    assert {p.key: p.value for p in got.data.params} == {"lr": "0.1", "bs": "32"}  # type: ignore[attr-defined]

    write.DeleteRun(write_pb2.RunRef(run_id=run.run_id), timeout=30)
    for call in (
        lambda: write.LogBatch(_params(run.run_id, y="1"), timeout=30),
        lambda: write.UpdateRun(
            write_pb2.UpdateRunRequest(run_id=run.run_id, status=common_pb2.FINISHED), timeout=30
        ),
        lambda: write.DeleteTag(write_pb2.DeleteTagRequest(run_id=run.run_id, key="t"), timeout=30),
    ):
        text = _refused(call, grpc.StatusCode.FAILED_PRECONDITION, "INVALID_STATE")
        assert "deleted" in text
    write.RestoreRun(write_pb2.RunRef(run_id=run.run_id), timeout=30)
    back = write.LogBatch(_params(run.run_id, y="1"), timeout=30)
    got = _run(query, run.run_id, back.token)
    assert {p.key for p in got.data.params} == {"lr", "bs", "y"}  # type: ignore[attr-defined]


def test_runs_written_elsewhere_are_checked_through_the_read_side(
    stack: Stack,
    write: write_pb2_grpc.WriteServiceStub,
    query: query_pb2_grpc.QueryServiceStub,
) -> None:
    sdk = RunstreamClient(f"kafka://{stack.bootstrap}", topic=stack.settings.topic)
    run = sdk.create_run("0")
    sdk.log_param(run.run_id, "lr", "0.1")
    _run(query, run.run_id, sdk.flush(timeout=60).to_proto())  # readable
    text = _refused(
        lambda: write.LogBatch(_params(run.run_id, lr="0.5"), timeout=30),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PARAMETER_VALUE",
    )
    assert "'0.1'" in text
    sdk.delete_run(run.run_id)
    _run(query, run.run_id, sdk.flush(timeout=60).to_proto())
    sdk.close()
    _refused(
        lambda: write.LogBatch(_params(run.run_id, z="1"), timeout=30),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATE",
    )
