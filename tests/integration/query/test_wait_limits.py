"""Read-your-writes waits cannot exhaust the server (issue 11, item 7): against a real
broker, real chDB and the stack's own server shell (WriteService and QueryService on one
16-thread pool, as ``runstream up`` serves them).

* a forged token (offset 10^18) is refused at once, not waited on;
* a cancelled call stops waiting and frees its slot;
* 20 calls that would each wait 45 s take at most ``max_waiting`` slots; the rest are
  refused with RESOURCE_EXHAUSTED, and writes, plain reads and health checks still answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from runstream.producer.gateway import Gateway, GatewaySettings, add_gateway
from runstream.proto.endpoints import ServerOptions
from runstream.proto.rpc import Server, error_code_of, start_server
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc, write_pb2, write_pb2_grpc
from runstream.query import QueryService, QuerySettings, add_query_service
from runstream.query.errors import LogUnavailableError
from runstream.query.kafka_log_end import KafkaLogEnd
from tests.integration.query.rows import Writer

RECORDS = 5  # written to partition 0 of the topic: the log ends at offset 5


@dataclass
class Stack:
    query: query_pb2_grpc.QueryServiceStub
    write: write_pb2_grpc.WriteServiceStub
    health: health_pb2_grpc.HealthStub
    service: QueryService
    topic: str


@pytest.fixture
def topic(kafka_bootstrap: str, topic_prefix: str, fresh_database: str) -> str:
    name = f"{topic_prefix}.waits.{fresh_database}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(name, 2, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for _ in range(RECORDS):
        producer.send(name, b"not an event", partition=0)
    producer.flush()
    producer.close()
    return name


@pytest.fixture
def stack(
    writer: Writer, settings: QuerySettings, kafka_bootstrap: str, topic: str
) -> Iterator[Stack]:
    writer.experiment("e1", "first")
    writer.run("r1", "e1")
    gateways: list[Gateway] = []
    services: list[QueryService] = []
    query = replace(settings, kafka=kafka_bootstrap, topic=topic)

    def add(server: Server) -> list[str]:  # as the stack composes its one server
        gateways.append(add_gateway(server, GatewaySettings(kafka=kafka_bootstrap, topic=topic)))
        services.append(add_query_service(server, query))
        return [
            write_pb2.DESCRIPTOR.services_by_name["WriteService"].full_name,
            query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name,
        ]

    running = start_server(ServerOptions(address="127.0.0.1:0", workers=16, name="t"), add)
    running.on_stop(services[0].close)
    running.on_stop(gateways[0].close)
    channel = grpc.insecure_channel(running.address)
    try:
        yield Stack(
            query_pb2_grpc.QueryServiceStub(channel),
            write_pb2_grpc.WriteServiceStub(channel),
            health_pb2_grpc.HealthStub(channel),
            services[0],
            topic,
        )
    finally:
        channel.close()
        running.stop(grace=1)


def _read(topic: str, offsets: dict[int, int], wait_ms: int = 45_000) -> query_pb2.ReadOptions:
    token = common_pb2.WriteToken(topic=topic, offsets=offsets)
    return query_pb2.ReadOptions(write_token=token, wait_timeout_ms=wait_ms)


def _until(condition: Callable[[], bool], limit_s: float = 10.0) -> bool:
    """Poll ``condition`` for at most ``limit_s`` (a bound, not a measurement)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_forged_token_is_refused_at_once(stack: Stack) -> None:
    for offsets, message in [
        ({0: 10**18}, "beyond the end of the log: partition 0 offset 1000000000000000000"),
        ({0: RECORDS}, f"partition 0 offset {RECORDS}, but the log ends at {RECORDS}"),
        ({7: 0}, "does not have: 7"),
    ]:
        req = query_pb2.GetRunRequest(run_id="r1", read=_read(stack.topic, offsets))
        with pytest.raises(grpc.RpcError) as info:
            stack.query.GetRun(req, timeout=10)  # main waited 45 s: DEADLINE_EXCEEDED here
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
        assert message in info.value.details()
    other = query_pb2.GetRunRequest(run_id="r1", read=_read("elsewhere", {0: 1}))
    with pytest.raises(grpc.RpcError) as info:
        stack.query.GetRun(other, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stack.service.log_ends.questions >= 1
    # the last offset written is within the log: once ingest applied it, the read answers
    writer_ok = query_pb2.GetRunRequest(run_id="r1", read=_read(stack.topic, {0: RECORDS - 1}))
    with pytest.raises(grpc.RpcError) as info:
        stack.query.GetRun(writer_ok, timeout=1)  # nothing applied it yet: it waited
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_a_cancelled_wait_frees_its_slot_at_once(stack: Stack) -> None:
    req = query_pb2.GetRunRequest(run_id="r1", read=_read(stack.topic, {0: RECORDS - 1}))
    call = stack.query.GetRun.future(req)  # no deadline; would wait 45 s
    assert _until(lambda: stack.service.admission.waits == 1)
    call.cancel()
    assert _until(lambda: stack.service.admission.waits == 0)
    assert _until(lambda: stack.service.admission.calls == 0)
    assert call.cancelled()


def test_waiting_reads_cannot_starve_writes_or_other_reads(stack: Stack) -> None:
    req = query_pb2.GetRunRequest(run_id="r1", read=_read(stack.topic, {0: RECORDS - 1}))
    calls = [stack.query.GetRun.future(req) for _ in range(20)]  # 45 s each, no deadline
    limit = stack.service.settings.max_waiting
    try:
        assert _until(lambda: sum(c.done() for c in calls) == len(calls) - limit)
        refused = [c for c in calls if c.done()]
        for c in refused:
            assert c.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert error_code_of(c.exception()) == "RESOURCE_EXHAUSTED"
        assert stack.service.admission.waits == limit
        # The pool still has threads: a write, a plain read and a health check answer.
        created = stack.write.CreateExperiment(
            write_pb2.CreateExperimentRequest(name="while-reads-wait"), timeout=10
        )
        assert created.experiment_id
        runs = stack.query.SearchRuns(query_pb2.SearchRunsRequest(), timeout=10).runs
        assert [r.info.run_id for r in runs] == ["r1"]
        status = stack.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert status.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        for c in calls:
            c.cancel()
    assert _until(lambda: stack.service.admission.calls == 0)
    assert stack.service.admission.waits == 0


def test_the_kafka_adapter_reads_ends_and_names_an_unreachable_broker(
    kafka_bootstrap: str, topic: str, free_ports: Callable[[int], list[int]]
) -> None:
    log = KafkaLogEnd(kafka_bootstrap)
    try:
        assert log.end_offsets(topic, [0, 1, 9]) == {0: RECORDS, 1: 0}  # 9: no such partition
        assert log.end_offsets("no.such.topic", [0]) == {}
    finally:
        log.close()
    (port,) = free_ports(1)
    nowhere = KafkaLogEnd(f"127.0.0.1:{port}", timeout_s=0.5)
    with pytest.raises(LogUnavailableError, match="cannot"):
        nowhere.end_offsets(topic, [0])
    nowhere.close()
