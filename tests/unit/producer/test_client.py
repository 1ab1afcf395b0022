"""The client and the fluent API: runs, params, tags, metrics, experiments, joins."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest

import runstream.producer as rs
from runstream.producer import RunstreamClient, fluent
from runstream.producer.errors import InvalidStateError, ValidationError
from runstream.producer.settings import ProducerSettings
from runstream.proto import events as ev
from runstream.proto.vocabulary import experiment_id_for_name
from tests.unit.producer.fakes import FakeTransport

SETTINGS = ProducerSettings(uri="kafka://fake:9092", linger_ms=5, flush_timeout_s=5)


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTransport]:
    """The fluent API over a fresh client on a fake transport."""
    for name in ("RUNSTREAM_RUN_ID", "RUNSTREAM_EXPERIMENT_ID", "RUNSTREAM_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeTransport()
    rs.set_uri("kafka://fake:9092", transport=fake, linger_ms=5)
    monkeypatch.setattr(fluent, "_runs", [])
    monkeypatch.setattr(fluent, "_experiment_id", None)
    monkeypatch.setattr(fluent, "_announced", set())
    monkeypatch.setattr(fluent, "_env_run_used", False)
    yield fake
    rs.close()
    rs.set_uri(None)


def _events(fake: FakeTransport, kind: type) -> list[ev.RunEvent]:
    rs.flush()
    return [e for e in fake.events if isinstance(e.payload, kind)]


def test_context_manager_ends_finished(transport: FakeTransport) -> None:
    with rs.start_run(run_name="ok") as run:
        assert rs.active_run() is run
        rs.log_metric("loss", 0.5)
    assert rs.active_run() is None
    (created,) = _events(transport, ev.RunCreated)
    (ended,) = _events(transport, ev.RunUpdated)
    assert created.run_id == ended.run_id == run.run_id
    assert ended.payload.status == "FINISHED" and ended.payload.end_time
    assert len(run.run_id) == 32 and int(run.run_id, 16) >= 0


def test_context_manager_ends_failed_when_an_exception_escapes(transport: FakeTransport) -> None:
    with pytest.raises(RuntimeError), rs.start_run():
        raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt), rs.start_run():
        raise KeyboardInterrupt
    statuses = [e.payload.status for e in _events(transport, ev.RunUpdated)]
    assert statuses == ["FAILED", "KILLED"]


def test_system_tags_run_name_and_user(transport: FakeTransport) -> None:
    with rs.start_run(run_name="baseline", tags={"team": "vision"}, description="notes"):
        pass
    created = _events(transport, ev.RunCreated)[0].payload
    assert created.run_name == "baseline" and created.status == "RUNNING"
    tags = created.tags
    assert tags["mlflow.runName"] == "baseline"
    assert tags["team"] == "vision"
    assert tags["mlflow.note.content"] == "notes"
    assert tags["mlflow.user"] == created.user_id != ""
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["runstream.host"]
    assert "mlflow.source.name" in tags
    assert len(tags.get("mlflow.source.git.commit", "x" * 40)) == 40


def test_nested_runs_carry_the_parent(transport: FakeTransport) -> None:
    with rs.start_run() as parent:
        with pytest.raises(InvalidStateError, match="already active"):
            rs.start_run()
        with rs.start_run(nested=True) as child:
            rs.log_metric("x", 1)
        assert rs.active_run() is parent
    created = {e.run_id: e.payload for e in _events(transport, ev.RunCreated)}
    assert created[child.run_id].parent_run_id == parent.run_id
    assert created[child.run_id].tags["mlflow.parentRunId"] == parent.run_id
    ended = [e.run_id for e in _events(transport, ev.RunUpdated)]
    assert ended == [child.run_id, parent.run_id]


def test_joining_a_run_emits_no_creation_and_never_ends_it(transport: FakeTransport) -> None:
    run_id = "a" * 32
    with rs.start_run(run_id=run_id, experiment_id="42") as run:
        assert run.info.joined
        rs.log_metric("x", 1.0)
    assert _events(transport, ev.RunCreated) == []
    assert _events(transport, ev.RunUpdated) == []
    (metrics,) = _events(transport, ev.MetricsLogged)
    assert (metrics.run_id, metrics.experiment_id) == (run_id, "42")


def test_joining_by_environment(transport: FakeTransport, monkeypatch: pytest.MonkeyPatch) -> None:
    rs.close()
    monkeypatch.setenv("RUNSTREAM_RUN_ID", "b" * 32)
    monkeypatch.setenv("RUNSTREAM_EXPERIMENT_ID", "9")
    rs.set_uri("kafka://fake:9092", transport=transport, linger_ms=5)
    with rs.start_run() as run:
        assert run.run_id == "b" * 32 and run.experiment_id == "9"
        assert run.env == {"RUNSTREAM_RUN_ID": "b" * 32, "RUNSTREAM_EXPERIMENT_ID": "9"}
    with rs.start_run() as second:  # the variable serves the first start_run only
        assert second.run_id != "b" * 32
    assert [e.run_id for e in _events(transport, ev.RunCreated)] == [second.run_id]


def test_logging_without_an_active_run_starts_one(transport: FakeTransport) -> None:
    rs.log_metric("x", 1.0)
    run = rs.active_run()
    assert run is not None
    rs.end_run()
    assert [e.run_id for e in _events(transport, ev.RunCreated)] == [run.run_id]


def test_experiment_ids_derive_from_names(transport: FakeTransport) -> None:
    exp = rs.set_experiment("mnist")
    assert exp.experiment_id == experiment_id_for_name("mnist")
    assert exp.experiment_id.isdigit() and exp.experiment_id != "0"
    assert experiment_id_for_name("Default") == "0"
    rs.set_experiment("mnist")  # announced once per process
    with rs.start_run() as run:
        pass
    assert run.experiment_id == exp.experiment_id
    created = _events(transport, ev.ExperimentCreated)
    assert [(e.experiment_id, e.payload.name) for e in created] == [(exp.experiment_id, "mnist")]
    assert created[0].kafka_key == f"experiment:{exp.experiment_id}".encode()


def test_experiment_lifecycle_events(transport: FakeTransport) -> None:
    eid = rs.create_experiment("e", tags={"k": "v"})
    rs.set_experiment(experiment_id=eid)
    rs.set_experiment_tag("owner", "me")
    rs.rename_experiment(eid, "e2")
    rs.delete_experiment(eid)
    rs.restore_experiment(eid)
    rs.flush()
    kinds = [type(e.payload).__name__ for e in transport.events]
    assert kinds == [
        "ExperimentCreated",
        "ExperimentTagSet",
        "ExperimentRenamed",
        "ExperimentDeleted",
        "ExperimentRestored",
    ]
    assert {e.experiment_id for e in transport.events} == {eid}


def test_run_lifecycle_and_tags(transport: FakeTransport) -> None:
    with rs.start_run() as run:
        rs.set_tags({"a": 1, "b": "2"})
        rs.delete_tag("a")
    rs.delete_run(run.run_id)
    rs.restore_run(run.run_id)
    rs.flush()
    kinds = [type(e.payload).__name__ for e in transport.events]
    assert kinds == [
        "RunCreated",
        "TagsSet",
        "TagDeleted",
        "RunUpdated",
        "RunDeleted",
        "RunRestored",
    ]
    tags = _events(transport, ev.TagsSet)[0].payload
    assert (tags.keys, tags.values) == (("a", "b"), ("1", "2"))


def test_params_are_write_once(transport: FakeTransport) -> None:
    with rs.start_run():
        assert rs.log_param("lr", 0.01) == 0.01
        rs.log_param("lr", 0.01)  # the same value again is fine
        with pytest.raises(ValidationError, match="write-once") as info:
            rs.log_param("lr", 0.02)
        assert info.value.field == "value"
    params = _events(transport, ev.ParamsLogged)
    assert [(p.payload.keys, p.payload.values) for p in params] == [(("lr",), ("0.01",))]


def test_bad_items_are_refused_and_the_rest_of_the_batch_kept(transport: FakeTransport) -> None:
    with rs.start_run():
        with pytest.raises(ValidationError) as info:
            rs.log_params({"good": 1, "bad/../p": 2, "long": "x" * 6001})
        assert [p.field for p in info.value.problems] == [
            "params['bad/../p'].key",
            "params['long'].value",
        ]
        assert info.value.accepted == 1
        with pytest.raises(ValidationError) as info:
            rs.log_metrics({"ok": 1.0, "nan": float("nan"), "s": "high", "": 2.0}, step=3)
        assert [p.field for p in info.value.problems] == ["metrics['s']", "metrics['']"]
        with pytest.raises(ValidationError) as info:
            rs.log_metric("loss", "0.5")
        assert info.value.field == "value"
        with pytest.raises(ValidationError) as info:
            rs.log_metric("a" * 251, 1.0)
        assert info.value.field == "key" and "250" in str(info.value)
    (params,) = _events(transport, ev.ParamsLogged)
    assert params.payload.keys == ("good",)
    metrics = _events(transport, ev.MetricsLogged)
    assert sorted(k for m in metrics for k in m.payload.key_column()) == ["nan", "ok"]


def test_metric_columns_in_three_shapes(transport: FakeTransport) -> None:
    with rs.start_run():
        rs.log_metric_columns("loss", np.array([0.3, 0.2]), np.array([1, 2]), np.array([7, 8]))
        rs.log_metric_columns(["a", "b", "a"], [1.0, 2.0, 3.0], [0, 0, 1])
        rs.log_metric_columns(["x", "y"], np.ones(4), key_index=np.array([1, 0, 1, 1]))
        with pytest.raises(ValidationError) as info:
            rs.log_metric_columns("k", np.ones(2), np.array([0.5, 1.5]))
        assert info.value.field == "columns.steps"
    keys = [k for m in _events(transport, ev.MetricsLogged) for k in m.payload.key_column()]
    assert keys == ["loss", "loss", "a", "b", "a", "y", "x", "y", "y"]


def test_the_client_api_without_the_fluent_layer() -> None:
    fake = FakeTransport()
    with RunstreamClient(settings=SETTINGS, transport=fake) as client:
        eid = client.create_experiment("exp")
        run = client.create_run(eid, run_name="r", start_time=123)
        client.log_batch(
            run.run_id,
            metrics=[rs.Metric("m", 1.0, 5, 2)],
            params=[rs.Param("p", "1")],
            tags=[rs.RunTag("t", "v")],
        )
        client.update_run(run.run_id, name="renamed")
        client.set_terminated(run.run_id, "KILLED", end_time=456)
        client.flush()
    kinds = [type(e.payload).__name__ for e in fake.events]
    assert kinds == [
        "ExperimentCreated",
        "RunCreated",
        "MetricsLogged",
        "ParamsLogged",
        "TagsSet",
        "RunUpdated",
        "TagsSet",
        "RunUpdated",
    ]
    assert fake.events[1].payload.start_time == 123
    assert fake.events[-1].payload == ev.RunUpdated(status="KILLED", end_time=456)
    metric = fake.events[2].payload
    assert (metric.values[0], metric.steps[0], metric.timestamps[0]) == (1.0, 2, 5)


def test_a_forked_child_gets_its_own_producer_and_joins_inherited_runs(
    transport: FakeTransport,
) -> None:
    with rs.start_run() as run:
        parent_producer = rs.get_client().producer_id
        pid = os.fork()
        if pid == 0:  # the child: report through the exit status only
            ok = run.info.joined and rs.get_client().producer_id != parent_producer
            rs.end_run()  # a joined run: no end event from the child
            os._exit(0 if ok and rs.active_run() is None else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not run.info.joined
    assert [e.payload.status for e in _events(transport, ev.RunUpdated)] == ["FINISHED"]
