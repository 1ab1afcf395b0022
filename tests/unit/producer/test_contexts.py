"""Point contexts in the SDK: the launcher's rank/node, ``context=`` on every metric call,
refusals that name the field (the rest of a batch lands), one event per (run, context)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest

from runstream.producer import RunstreamClient
from runstream.producer.contexts import process_context
from runstream.producer.errors import ValidationError
from runstream.producer.settings import ProducerSettings, SettingsError
from runstream.proto import events as ev
from tests.unit.producer.fakes import FakeTransport

SETTINGS = ProducerSettings(uri="kafka://fake:9092", linger_ms=5, flush_timeout_s=5)


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def client(transport: FakeTransport, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunstreamClient]:
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "8")
    with RunstreamClient(settings=SETTINGS, transport=transport) as c:
        yield c


def _points(transport: FakeTransport) -> list[tuple[str, float, tuple[tuple[str, str], ...]]]:
    """Every published point as (key, value, context)."""
    out = []
    for p in transport.payloads(ev.MetricsLogged):
        table = p.context_table()
        for key, value, code in zip(
            p.key_column(), p.values.tolist(), p.context_codes().tolist(), strict=True
        ):
            out.append((key, value, table[code]))
    return out


def test_the_launcher_variables_make_the_process_context() -> None:
    host = socket.gethostname()
    assert process_context({}) == ()
    assert process_context({"RANK": "5", "WORLD_SIZE": "8", "NODE_RANK": "1"}) == (
        ("node", host),
        ("node_rank", "1"),
        ("rank", "5"),
    )
    assert process_context({"LOCAL_RANK": "2"}) == (
        ("local_rank", "2"),
        ("node", host),
        ("rank", "2"),
    )
    with pytest.raises(SettingsError, match="RANK"):
        process_context({"RANK": "-1"})


def test_points_carry_the_process_context_and_the_calls_own(
    client: RunstreamClient, transport: FakeTransport
) -> None:
    host = socket.gethostname()
    base = (("local_rank", "1"), ("node", host), ("rank", "3"))
    assert client.context == base
    run = client.create_run("1").run_id
    client.log_metric(run, "loss", 1.0, step=1)
    client.log_metric(run, "loss", 2.0, step=1, context={"device": "cuda:1"})
    client.log_metrics(run, {"a": 3.0}, context={"rank": 4})  # the call's pair wins
    client.log_metric_columns(run, "b", np.array([4.0, 5.0]), context={"phase": "eval"})
    client.flush()
    got = _points(transport)
    assert ("loss", 1.0, base) in got
    assert ("loss", 2.0, tuple(sorted((*base, ("device", "cuda:1"))))) in got
    assert ("a", 3.0, (("local_rank", "1"), ("node", host), ("rank", "4"))) in got
    assert [p for p in got if p[0] == "b"] == [
        ("b", v, tuple(sorted((*base, ("phase", "eval"))))) for v in (4.0, 5.0)
    ]
    # one context per event (the sender groups points by run and context)
    assert all(len(p.context_table()) == 1 for p in transport.payloads(ev.MetricsLogged))


def test_a_plain_process_logs_with_the_empty_context(
    transport: FakeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    with RunstreamClient(settings=SETTINGS, transport=transport) as c:
        run = c.create_run("1").run_id
        c.log_metric(run, "loss", 1.0)
        c.flush()
    (payload,) = transport.payloads(ev.MetricsLogged)
    assert payload.contexts == () and payload.context_index is None


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({f"k{i}": "v" for i in range(9)}, "context"),
        ({f"k{i}": "v" for i in range(6)}, "context"),  # 6 + the process's 3 > 8
        ({"": "v"}, "context"),
        ({"k": "x" * 257}, "context.k"),
        ({"k": ""}, "context.k"),
        ({"k": 1}, "context.k"),
        ({"rank": "-2"}, "context.rank"),
        ({"local_rank": 1.5}, "context.local_rank"),
    ],
)
def test_a_bad_context_is_refused_at_the_call_naming_the_field(
    client: RunstreamClient, transport: FakeTransport, context: dict[str, object], field: str
) -> None:
    run = client.create_run("1").run_id
    with pytest.raises(ValidationError) as refused:
        client.log_metric(run, "loss", 1.0, context=context)
    assert refused.value.field == field
    with pytest.raises(ValidationError) as refused_cols:
        client.log_metric_columns(run, "loss", np.array([1.0]), context=context)
    assert refused_cols.value.field == field
    client.flush()
    assert _points(transport) == []


@dataclass
class _Metric:
    key: str
    value: float
    timestamp: int = 1
    step: int = 0
    context: dict[str, object] = field(default_factory=dict)


def test_the_rest_of_a_batch_lands(client: RunstreamClient, transport: FakeTransport) -> None:
    run = client.create_run("1").run_id
    with pytest.raises(ValidationError) as refused:
        client.log_batch(
            run,
            metrics=[
                _Metric("a", 1.0, context={"device": "cuda:0"}),
                _Metric("b", 2.0, context={"rank": "three"}),
                _Metric("c", 3.0),
            ],
        )
    assert refused.value.field == "metrics[1].context.rank" and refused.value.accepted == 2
    client.flush()
    assert sorted(k for k, _, _ in _points(transport)) == ["a", "c"]
