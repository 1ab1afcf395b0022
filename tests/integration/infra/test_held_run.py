"""GetRun answers a run whose creation ingest polled but has not applied yet
(``query/held_run.py``), and only when ingest is sure to apply it.

Real broker, real chDB, a real ingest worker and query service sharing one
:class:`AppliedFeed`, as ``runstream up`` wires them; the permission case goes through the
gRPC server with a principals file.  Records are held "polled, not applied" by the test
(``tests/fixtures/feed.py``), then a worker applies them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from runstream.ingest import BatchSettings, IngestSettings, IngestWorker
from runstream.producer import RunstreamClient
from runstream.producer.kafka_transport import KafkaTransport
from runstream.producer.settings import KafkaOptions
from runstream.proto import events as ev
from runstream.proto.applied import AppliedFeed
from runstream.proto.endpoints import ChannelOptions
from runstream.proto.rpc import error_code_of, open_channel
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc
from runstream.query import NotFoundError, QueryService, QuerySettings, open_query_service
from runstream.query.entities import Run
from runstream.query.grpc_server import QueryServer
from tests.fixtures.feed import apply_until, hold_until

PRINCIPALS = """
default_permission = "READ"

[[principal]]
name = "reader"
token = "reader-token"

[[principal]]
name = "outsider"
token = "outsider-token"
default_permission = "NO_PERMISSIONS"

[[principal]]
name = "named"                  # reads everything but the experiment of that name
token = "named-token"
grants = [{ experiment = "NAME", permission = "NO_PERMISSIONS" }]
"""


@pytest.fixture
def ingest(
    chdb_dsn: str, fresh_database: str, kafka_bootstrap: str, topic_prefix: str
) -> IngestSettings:
    topic = f"{topic_prefix}.held.{uuid.uuid4().hex[:6]}"
    return IngestSettings(
        clickhouse=chdb_dsn,
        database=fresh_database,
        kafka=kafka_bootstrap,
        topic=topic,
        group=f"{topic}-group",
        partitions=1,
        batch=BatchSettings(max_points=100_000, max_interval_s=0.2),
        session_timeout_ms=6000,
    )


@pytest.fixture
def feed(ingest: IngestSettings) -> AppliedFeed:
    return AppliedFeed(ingest.topic)


@pytest.fixture
def settings(ingest: IngestSettings) -> QuerySettings:
    IngestWorker(ingest).prepare()  # the tables
    return QuerySettings(
        clickhouse=ingest.clickhouse, database=ingest.database, topic=ingest.topic, pool_size=2
    )


@pytest.fixture
def service(settings: QuerySettings, feed: AppliedFeed) -> Iterator[QueryService]:
    svc = open_query_service(settings, applied_feed=feed)
    yield svc
    svc.close()


@pytest.fixture
def client(ingest: IngestSettings) -> Iterator[RunstreamClient]:
    c = RunstreamClient(uri=f"kafka://{ingest.kafka}", topic=ingest.topic)
    yield c
    c.close()


def _read(service: QueryService, run_id: str) -> tuple[Run, bool]:
    read = service.read_run(run_id)
    return read.run, read.held


def _as_dict(answer: query_pb2.GetRunResponse) -> dict[str, object]:
    """A GetRun answer, tags and params unordered (the tables list them in any order)."""
    data = answer.run.data
    return {
        "info": answer.run.info.SerializeToString(deterministic=True),
        "metrics": sorted((m.key, m.value, m.timestamp, m.step) for m in data.metrics),
        "params": {p.key: p.value for p in data.params},
        "tags": {t.key: t.value for t in data.tags},
    }


def test_a_run_whose_creation_is_held_is_answered_as_it_will_be_applied(
    ingest: IngestSettings, feed: AppliedFeed, service: QueryService, client: RunstreamClient
) -> None:
    exp = client.create_experiment(f"h-{uuid.uuid4().hex[:6]}")
    apply_until(ingest, feed, client.flush(timeout=60))

    run_id = client.create_run(exp, run_name="first", tags={"team": "a"}).run_id
    client.log_params(run_id, {"lr": 0.1, "layers": 4})
    client.set_tag(run_id, "phase", "warmup")
    client.log_metric(run_id, "loss", 3.0, step=0, timestamp=10)
    client.log_metric(run_id, "loss", 2.5, step=2, timestamp=12)
    client.log_metric(run_id, "loss", 2.0, step=1, timestamp=11)  # not the latest
    client.log_metric(run_id, "acc", 0.25, step=0, timestamp=10)
    client.update_run(run_id, name="renamed")
    token = client.flush(timeout=60)
    assert hold_until(ingest, feed, token) >= 1

    with pytest.raises(NotFoundError):
        service.get_run(run_id)  # the tables' answer (and the gateway's run directory)
    held, from_held = _read(service, run_id)
    assert from_held
    assert held.info.experiment_id == exp
    assert held.info.run_name == "renamed"
    assert held.info.status == "RUNNING"
    assert held.params == {"lr": "0.1", "layers": "4"}
    assert held.tags["team"] == "a" and held.tags["phase"] == "warmup"
    assert {m.key: (m.value, m.step) for m in held.metrics} == {
        "acc": (0.25, 0),
        "loss": (2.5, 2),
    }
    # Not kept: the run cache holds only what the tables answered.
    assert service.run_cache is not None and service.run_cache.get(run_id) is None

    apply_until(ingest, feed, token)
    applied, from_held = _read(service, run_id)
    assert not from_held
    assert applied == held
    assert service.runs.get(run_id) == held  # the tables alone


def test_while_the_creations_batch_is_written_the_held_events_answer(
    ingest: IngestSettings, feed: AppliedFeed, service: QueryService, client: RunstreamClient
) -> None:
    """The tables hold the run before the feed moves (its batch is written, the offsets
    not recorded yet): they may hold part of it, so GetRun still answers from the held
    events, which the projection has accepted (its audit row).  Here a worker that does not
    tell the feed writes the batch: the feed never moves."""
    exp = client.create_experiment(f"w-{uuid.uuid4().hex[:6]}")
    apply_until(ingest, feed, client.flush(timeout=60))
    run_id = client.create_run(exp, run_name="written").run_id
    client.log_metric(run_id, "loss", 1.5, step=3, timestamp=3)
    token = client.flush(timeout=60)
    hold_until(ingest, feed, token)
    held, from_held = _read(service, run_id)
    assert from_held

    worker = IngestWorker(ingest)  # tells no feed
    worker.start()
    try:
        assert worker.wait_ready(120), f"worker did not start: {worker.error}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if service.runs.get(run_id).metrics:
                    break
            except NotFoundError:
                pass
            assert time.monotonic() < deadline, "the batch was not written"
            time.sleep(0.1)
    finally:
        worker.stop()
    assert feed.pending.snapshot(run_id).created  # the feed did not move
    assert _read(service, run_id) == (held, True)
    assert service.runs.get(run_id) == held


def test_a_held_creation_ingest_would_refuse_or_drop_is_not_shown(
    ingest: IngestSettings, feed: AppliedFeed, service: QueryService, client: RunstreamClient
) -> None:
    first = client.create_experiment(f"a-{uuid.uuid4().hex[:6]}")
    other = client.create_experiment(f"b-{uuid.uuid4().hex[:6]}")
    gone = client.create_experiment(f"g-{uuid.uuid4().hex[:6]}")
    closing = client.create_experiment(f"c-{uuid.uuid4().hex[:6]}")
    taken = client.create_run(first, run_name="taken").run_id
    client.log_metric(taken, "loss", 1.0, step=0, timestamp=1)
    client.delete_experiment(gone)
    token = client.flush(timeout=60)
    transport = KafkaTransport(KafkaOptions(bootstrap=ingest.kafka, topic=ingest.topic))
    try:
        purge = ev.RunEvent(
            ev.new_event_id(), "", gone, uuid.uuid4().hex, 0, 1, ev.ExperimentPurged("test")
        )
        token = token.merge(transport.publish([purge], 60))
    finally:
        transport.close()
    apply_until(ingest, feed, token)
    before = service.runs.get(taken)

    # A RunCreated of an id the tables hold (under another experiment): refused.
    again = RunstreamClient(uri=f"kafka://{ingest.kafka}", topic=ingest.topic)
    try:
        again.create_run(other, run_name="again", run_id=taken)
        again.log_metric(taken, "loss", 9.0, step=5, timestamp=5)
        token = again.flush(timeout=60)
    finally:
        again.close()
    # A run in a purged experiment, and one in an experiment whose deletion is held.
    in_gone = client.create_run(gone, run_name="in-gone").run_id
    client.log_metric(in_gone, "loss", 1.0, step=0, timestamp=1)
    in_closing = client.create_run(closing, run_name="in-closing").run_id
    client.log_metric(in_closing, "loss", 1.0, step=0, timestamp=1)
    client.delete_experiment(closing)
    token = token.merge(client.flush(timeout=60))
    assert hold_until(ingest, feed, token) >= 1

    run, from_held = _read(service, taken)
    assert not from_held and run == before  # the tables' run, nothing of the refused one
    for run_id in (in_gone, in_closing):
        with pytest.raises(NotFoundError):
            _read(service, run_id)

    apply_until(ingest, feed, token)
    assert _read(service, taken) == (before, False)


def test_a_caller_who_may_not_read_the_experiment_learns_nothing_of_a_held_run(
    ingest: IngestSettings,
    feed: AppliedFeed,
    settings: QuerySettings,
    service: QueryService,
    client: RunstreamClient,
    tmp_path: Path,
) -> None:
    name = f"p-{uuid.uuid4().hex[:6]}"
    (tmp_path / "principals.toml").write_text(PRINCIPALS.replace("NAME", name))
    server_settings = QuerySettings(
        clickhouse=settings.clickhouse,
        database=settings.database,
        topic=settings.topic,
        address="127.0.0.1:0",
        auth_principals=str(tmp_path / "principals.toml"),
    )
    server = QueryServer(server_settings, service).start()
    channels: list[grpc.Channel] = []

    def get_run(name: str, run_id: str) -> query_pb2.GetRunResponse | str:
        options = ChannelOptions(server.address, token=f"{name}-token")
        channel = open_channel(options)
        channels.append(channel)
        stub = query_pb2_grpc.QueryServiceStub(channel)
        request = query_pb2.GetRunRequest(run_id=run_id)
        try:
            return stub.GetRun(request, timeout=60, metadata=options.metadata)
        except grpc.RpcError as exc:
            return str(error_code_of(exc))

    try:
        # The experiment's creation is held too: its permission is judged on its name.
        exp = client.create_experiment(name)
        run_id = client.create_run(exp, run_name="secret").run_id
        client.log_metric(run_id, "loss", 1.0, step=0, timestamp=1)
        token = client.flush(timeout=60)
        hold_until(ingest, feed, token)

        unknown = common_pb2.ErrorCode.Name(common_pb2.RESOURCE_DOES_NOT_EXIST)
        denied = common_pb2.ErrorCode.Name(common_pb2.PERMISSION_DENIED)
        answer = get_run("reader", run_id)
        assert not isinstance(answer, str) and answer.run.info.run_name == "secret"
        assert {m.key: m.value for m in answer.run.data.metrics} == {"loss": 1.0}
        assert get_run("outsider", run_id) == get_run("outsider", uuid.uuid4().hex) == unknown
        assert get_run("named", run_id) == unknown

        apply_until(ingest, feed, token)
        assert get_run("outsider", run_id) == get_run("named", run_id) == denied
        applied = get_run("reader", run_id)
        assert not isinstance(applied, str) and _as_dict(applied) == _as_dict(answer)
    finally:
        for channel in channels:
            channel.close()
        server.running.stop(0)
