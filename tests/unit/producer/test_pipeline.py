"""The producer pipeline against a fake Transport: batching into columnar events, seq
numbering, ordering, flush, retries, spool, buffer policies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from runstream.producer import RunstreamClient
from runstream.producer.errors import BrokerUnavailableError, BufferFullError, ProducerError
from runstream.producer.settings import ProducerSettings
from runstream.proto import events as ev
from tests.unit.producer.fakes import FakeTransport

FAST = ProducerSettings(
    uri="kafka://fake:9092",
    linger_ms=5,
    retry_backoff_s=0.01,
    retry_backoff_max_s=0.05,
    flush_timeout_s=5,
    exit_timeout_s=5,
)


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def client(transport: FakeTransport) -> Iterator[RunstreamClient]:
    with RunstreamClient(settings=FAST, transport=transport) as c:
        yield c


def test_points_travel_as_few_columnar_events(
    client: RunstreamClient, transport: FakeTransport
) -> None:
    run = client.create_run("1")
    for step in range(10_000):
        client.log_metric(run.run_id, "loss", 1.0 / (step + 1), step=step, timestamp=5)
    client.log_metric_columns(run.run_id, "acc", np.linspace(0, 1, 5000), np.arange(5000))
    client.flush()
    metrics = transport.payloads(ev.MetricsLogged)
    assert transport.points() == 15_000
    assert len(metrics) <= 4  # one per sender cycle at most, not one per point
    loss = [m.steps[np.asarray(m.key_column()) == "loss"] for m in metrics]
    assert np.concatenate(loss).tolist() == list(range(10_000))


def test_seq_counts_from_zero_without_gaps_per_producer(transport: FakeTransport) -> None:
    with (
        RunstreamClient(settings=FAST, transport=transport) as a,
        RunstreamClient(settings=FAST, transport=transport) as b,
    ):
        assert a.producer_id != b.producer_id
        for c in (a, b):
            run = c.create_run("1")
            for i in range(5):
                c.log_metric(run.run_id, "x", i)
                c.set_tag(run.run_id, "t", i)
            c.flush()
    for producer in (a.producer_id, b.producer_id):
        seqs = [e.seq for e in transport.events if e.producer_id == producer]
        assert seqs == list(range(len(seqs)))
    assert len({e.event_id for e in transport.events}) == len(transport.events)


def test_run_events_keep_their_place_among_metrics(
    client: RunstreamClient, transport: FakeTransport
) -> None:
    run = client.create_run("7", run_name="r")
    client.log_metric(run.run_id, "a", 1.0)
    client.log_param(run.run_id, "p", 1)
    client.log_metric(run.run_id, "a", 2.0, step=1)
    client.set_terminated(run.run_id, "FINISHED")
    client.flush()
    kinds = [type(e.payload).__name__ for e in transport.events]
    assert kinds == ["RunCreated", "MetricsLogged", "ParamsLogged", "MetricsLogged", "RunUpdated"]
    assert {e.run_id for e in transport.events} == {run.run_id}
    assert {e.experiment_id for e in transport.events} == {"7"}
    assert all(e.kafka_key == run.run_id.encode() for e in transport.events)


def test_flush_returns_the_write_token(client: RunstreamClient) -> None:
    run = client.create_run("1")
    client.log_metric(run.run_id, "a", 1.0)
    token = client.flush()
    assert token.topic == "t" and token.offsets == ((0, 1),)
    assert client.last_token == token


def test_flush_waits_for_the_acknowledgement(
    client: RunstreamClient, transport: FakeTransport
) -> None:
    transport.gate.clear()
    run = client.create_run("1")
    client.log_metric(run.run_id, "a", 1.0)
    with pytest.raises(BrokerUnavailableError, match="flush timed out.*no acknowledgement yet"):
        client.flush(timeout=0.2)
    transport.gate.set()
    client.flush()
    assert transport.points() == 1


def test_broker_outage_without_spool_retries_the_same_events(
    client: RunstreamClient, transport: FakeTransport
) -> None:
    run = client.create_run("1")
    client.flush()
    transport.down = True
    for i in range(100):
        client.log_metric(run.run_id, "a", float(i), step=i)
    with pytest.raises(BrokerUnavailableError) as info:
        client.flush(timeout=0.3)
    assert "fake://broker:9092" in str(info.value)
    assert "NoBrokersAvailable" in str(info.value)
    assert transport.calls > 2  # retried with backoff
    transport.down = False
    client.flush()
    assert transport.points() == 100
    seqs = [e.seq for e in transport.events]
    assert seqs == list(range(len(seqs)))  # retried events kept their seqs


def test_raise_policy_says_why_the_buffer_is_full(transport: FakeTransport) -> None:
    settings = FAST.with_overrides(buffer_points=50, buffer_policy="raise")
    with RunstreamClient(settings=settings, transport=transport) as client:
        run = client.create_run("1")
        client.flush()
        transport.down = True
        with pytest.raises(BufferFullError, match="NoBrokersAvailable"):
            for i in range(1000):
                client.log_metric(run.run_id, "a", float(i), step=i)
                if i == 10:
                    threading.Event().wait(0.1)  # let the sender hit the outage
        accepted = i
        transport.down = False
        client.flush()
        assert transport.points() == accepted  # every accepted point, none dropped


def test_refused_events_make_flush_raise_once(
    client: RunstreamClient, transport: FakeTransport
) -> None:
    run = client.create_run("1")
    client.flush()
    transport.refuse = True
    client.log_metric(run.run_id, "a", 1.0)
    with pytest.raises(ProducerError, match="MessageSizeTooLarge"):
        client.flush()
    transport.refuse = False
    client.log_metric(run.run_id, "a", 2.0)
    client.flush()


def test_spool_takes_events_during_an_outage_and_resends_them_in_order(
    tmp_path: Path, transport: FakeTransport
) -> None:
    settings = FAST.with_overrides(spool_dir=str(tmp_path))
    with RunstreamClient(settings=settings, transport=transport) as client:
        run = client.create_run("1")
        client.flush()
        transport.down = True
        for i in range(300):
            client.log_metric(run.run_id, "a", float(i), step=i)
            if i % 100 == 99:
                client.flush()  # returns: the points are safe on disk
        assert client.spool_pending
        assert list(tmp_path.glob("*/*.seg"))
        transport.down = False
        for _ in range(200):
            if not client.spool_pending:
                break
            threading.Event().wait(0.02)
        client.log_metric(run.run_id, "a", 300.0, step=300)
        client.flush()
    steps = np.concatenate([m.steps for m in transport.payloads(ev.MetricsLogged)])
    assert steps.tolist() == list(range(301))  # in order, none lost, none twice
    seqs = [e.seq for e in transport.events]
    assert seqs == list(range(len(seqs)))
    assert not list(tmp_path.iterdir())  # drained spool folders are removed


def test_a_later_producer_resends_what_an_earlier_one_left_in_the_spool(tmp_path: Path) -> None:
    settings = FAST.with_overrides(spool_dir=str(tmp_path), exit_timeout_s=0.5)
    down = FakeTransport()
    down.down = True
    first = RunstreamClient(settings=settings, transport=down)
    run = first.create_run("1")
    first.log_metric_columns(run.run_id, "a", np.arange(1000.0), np.arange(1000))
    first.close()  # the broker is down: events stay on disk
    assert list(tmp_path.glob("*/*.seg"))
    up = FakeTransport()
    with RunstreamClient(settings=settings, transport=up) as second:
        for _ in range(200):
            if up.points() == 1000:
                break
            threading.Event().wait(0.02)
    assert up.points() == 1000
    assert {e.producer_id for e in up.events} == {first.producer_id}
    assert not list(tmp_path.iterdir())
    assert second.producer_id != first.producer_id


def test_close_flushes_and_refuses_further_calls(transport: FakeTransport) -> None:
    client = RunstreamClient(settings=FAST, transport=transport)
    run = client.create_run("1")
    client.log_metric(run.run_id, "a", 1.0)
    client.close()
    assert transport.points() == 1 and transport.closed
    with pytest.raises(ProducerError, match="closed"):
        client.log_metric(run.run_id, "a", 2.0)
    client.close()  # idempotent


class _Entered(FakeTransport):
    """Tells when a publish has started (before it waits at the gate)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()

    def publish(self, events, timeout=None):  # type: ignore[no-untyped-def]
        self.entered.set()
        return super().publish(events, timeout)


def test_an_idle_sender_sends_at_once_and_a_busy_one_batches_what_came_meanwhile() -> None:
    transport = _Entered()
    eager = ProducerSettings(
        uri="kafka://fake:9092", linger_ms=0, flush_timeout_s=5, exit_timeout_s=5
    )
    with RunstreamClient(settings=eager, transport=transport) as client:
        run = client.create_run("1").run_id
        client.flush()
        transport.entered.clear()
        transport.gate.clear()  # the next publish is held: the sender stays busy
        client.log_metric(run, "loss", 0.5, step=0)
        # no flush, and no linger to wait out: the idle sender publishes this point alone
        assert transport.entered.wait(5)
        calls = transport.calls
        for step in range(1, 501):  # logged while that publish is in flight
            client.log_metric(run, "loss", 0.5, step=step)
        transport.gate.set()
        client.flush()
        metrics = transport.payloads(ev.MetricsLogged)
        assert [len(m) for m in metrics] == [1, 500]  # one round trip's worth, in one event
        assert transport.calls == calls + 2


def test_a_fixed_linger_holds_points_until_it_passes(transport: FakeTransport) -> None:
    held = ProducerSettings(
        uri="kafka://fake:9092", linger_ms=60_000, flush_timeout_s=5, exit_timeout_s=5
    )
    with RunstreamClient(settings=held, transport=transport) as client:
        run = client.create_run("1").run_id
        client.log_metric(run, "loss", 0.5, step=0)
        threading.Event().wait(0.3)
        assert transport.calls == 0  # still lingering
        client.flush()
        assert transport.points() == 1
