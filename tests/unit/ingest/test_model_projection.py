"""The model half's projection: registry outcomes and version numbers, renames and
deletes, logged models, a run's inputs and outputs; and that the registry's tables do not
depend on where the log is cut into batches or where a write crashes (fake ports; the real
broker and chDB are in tests/integration/ingest/test_models.py)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from runstream.ingest.model_state import ModelCache
from runstream.ingest.registry_projection import RegistryProjector
from runstream.proto import events as ev
from tests.unit.ingest.fakes import FakeSource, FakeStore, event, records
from tests.unit.ingest.test_pipeline import Crash, pipeline, run_to_end


def reg(payload: ev.Payload, ts: int = 1000) -> ev.RunEvent:
    e = event("", payload, experiment_id="")
    return ev.RunEvent(e.event_id, "", "", e.producer_id, e.seq, ts, payload)


def project(events: Sequence[ev.RunEvent], cache: ModelCache | None = None) -> RegistryProjector:
    projector = RegistryProjector(cache or ModelCache())
    for offset, e in enumerate(events):
        projector.apply(offset, e)
    return projector


def table(projector: RegistryProjector, name: str) -> list[dict[str, Any]]:
    for t in projector.tables():
        if t.table == name:
            return [
                dict(zip(t.columns, values, strict=True)) for values in zip(*t.data, strict=True)
            ]
    raise AssertionError(name)


def outcomes(projector: RegistryProjector) -> list[tuple[str, int]]:
    return [(o["error_code"], o["model_version"]) for o in table(projector, "write_outcomes")]


def test_versions_are_numbered_in_log_order_and_every_event_has_an_outcome() -> None:
    events = [
        reg(ev.RegisteredModelCreated("iris", "flowers", {"team": "a"})),
        *(reg(ev.ModelVersionCreated("iris", f"s3://m/{i}", tags={"i": str(i)})) for i in range(5)),
    ]
    p = project(events)
    assert outcomes(p) == [("", 0), ("", 1), ("", 2), ("", 3), ("", 4), ("", 5)]
    versions = table(p, "model_versions")
    assert [v["model_version"] for v in versions] == [1, 2, 3, 4, 5]
    # each version remembers the event that made it: its creator finds its number by it
    assert [v["event_id"] for v in versions] == [e.event_id for e in events[1:]]
    assert {(t["model_version"], t["value"]) for t in table(p, "model_version_tags")} == {
        (i + 1, str(i)) for i in range(5)
    }
    assert p.delta()["iris"].max_version == 5  # type: ignore[union-attr]


def test_refused_events_change_nothing_but_their_outcome() -> None:
    events = [
        reg(ev.RegisteredModelCreated("iris")),
        reg(ev.RegisteredModelCreated("iris", "again")),  # name taken
        reg(ev.ModelVersionCreated("nope", "s3://x")),  # no such model
        reg(ev.RegisteredModelAliasSet("iris", "champion", 1)),  # no version 1 yet
        reg(ev.ModelVersionStageTransitioned("iris", 1, "Production")),
        reg(ev.RegisteredModelCreated("")),  # empty name
        reg(ev.ModelVersionCreated("iris", "s3://x")),
        reg(ev.ModelVersionStageTransitioned("iris", 1, "Nonsense")),  # unknown stage
        reg(ev.RegisteredModelAliasSet("iris", "latest", 1)),  # reserved alias
    ]
    p = project(events)
    codes = [o[0] for o in outcomes(p)]
    assert codes == [
        "",
        "RESOURCE_ALREADY_EXISTS",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_DOES_NOT_EXIST",
        "INVALID_PARAMETER_VALUE",
        "",
        "INVALID_PARAMETER_VALUE",
        "INVALID_PARAMETER_VALUE",
    ]
    messages = [o["message"] for o in table(p, "write_outcomes")]
    assert messages[1] == "Registered Model (name=iris) already exists."
    assert messages[2] == "Registered Model with name=nope not found"
    assert messages[3] == "Model Version (name=iris, version=1) not found"
    # the refused create did not overwrite the description; no alias, stage None
    assert [m["description"] for m in table(p, "registered_models")] == [None]
    assert table(p, "registered_model_aliases") == []
    assert [v["current_stage"] for v in table(p, "model_versions")] == ["None"]


def test_rename_moves_every_row_and_frees_the_old_name() -> None:
    events = [
        reg(ev.RegisteredModelCreated("a", tags={"k": "v"})),
        reg(ev.ModelVersionCreated("a", "s1", tags={"t": "1"})),
        reg(ev.ModelVersionCreated("a", "s2")),
        reg(ev.RegisteredModelAliasSet("a", "champion", 2)),
        reg(ev.RegisteredModelCreated("b")),
        reg(ev.RegisteredModelRenamed("a", "b")),  # taken
        reg(ev.RegisteredModelRenamed("a", "c"), ts=2000),
        reg(ev.RegisteredModelCreated("a")),  # the old name is free again
        reg(ev.ModelVersionCreated("c", "s3")),  # numbering goes on under the new name
        reg(ev.ModelVersionCreated("a", "s4")),  # and starts over for the new "a"
    ]
    p = project(events)
    codes = [o[0] for o in outcomes(p)]
    assert codes[5] == "RESOURCE_ALREADY_EXISTS" and codes[6] == ""
    assert outcomes(p)[8] == ("", 3) and outcomes(p)[9] == ("", 1)
    state = p.delta()
    c = state["c"]
    assert c is not None and c.tags == {"k": "v"} and c.aliases == {"champion": 2}
    assert sorted(c.versions) == [1, 2, 3] and c.version_tags[1] == {"t": "1"}
    assert c.versions[1].last_updated_time == 2000
    a = state["a"]
    assert a is not None and sorted(a.versions) == [1] and a.tags == {}
    # rows: the old name's rows are deleted, the new name's written (last row per key)
    live = {(m["name"], m["is_deleted"]) for m in table(p, "registered_models")}
    assert live == {("a", 0), ("b", 0), ("c", 0)}
    aliases = {
        (r["name"], r["alias"], r["is_deleted"]) for r in table(p, "registered_model_aliases")
    }
    assert aliases == {("a", "champion", 1), ("c", "champion", 0)}


def test_delete_model_then_create_again_starts_at_one() -> None:
    events = [
        reg(ev.RegisteredModelCreated("m")),
        reg(ev.ModelVersionCreated("m", "s")),
        reg(ev.ModelVersionCreated("m", "s")),
        reg(ev.ModelVersionDeleted("m", 2)),
        reg(ev.ModelVersionCreated("m", "s")),  # 3: a deleted number is never reused
        reg(ev.RegisteredModelDeleted("m")),
        reg(ev.ModelVersionCreated("m", "s")),  # refused: gone
        reg(ev.RegisteredModelCreated("m")),
        reg(ev.ModelVersionCreated("m", "s")),
    ]
    p = project(events)
    assert [o[1] for o in outcomes(p)][1:5] == [1, 2, 2, 3]
    assert outcomes(p)[6][0] == "RESOURCE_DOES_NOT_EXIST"
    assert outcomes(p)[8] == ("", 1)


def test_transition_archives_the_stage_holders_when_asked() -> None:
    events = [
        reg(ev.RegisteredModelCreated("m")),
        *(reg(ev.ModelVersionCreated("m", "s")) for _ in range(3)),
        reg(ev.ModelVersionStageTransitioned("m", 1, "production")),
        reg(ev.ModelVersionStageTransitioned("m", 2, "Production")),  # both in Production
        reg(ev.ModelVersionStageTransitioned("m", 3, "PRODUCTION", True)),
        reg(ev.ModelVersionStageTransitioned("m", 3, "None", True)),  # not an active stage
    ]
    p = project(events)
    model = p.delta()["m"]
    assert model is not None
    assert {n: v.current_stage for n, v in model.versions.items()} == {
        1: "Archived",
        2: "Archived",
        3: "Production",
    }
    assert outcomes(p)[-1][0] == "INVALID_PARAMETER_VALUE"


# -- batches and crashes: the tables do not depend on them --------------------------------


def _registry_log(seed: int) -> list[ev.RunEvent]:
    """A shuffled mix of registry events (several models, renames, deletes, races)."""
    rng = random.Random(seed)
    events = [reg(ev.RegisteredModelCreated(n)) for n in ("a", "b")]
    ops = []
    for i in range(60):
        name = rng.choice(["a", "b", "c"])
        ops.append(
            rng.choice(
                [
                    ev.ModelVersionCreated(name, f"s{i}", tags={"i": str(i)}),
                    ev.ModelVersionCreated(name, f"s{i}"),
                    ev.RegisteredModelAliasSet(name, "champ", rng.randint(1, 5)),
                    ev.ModelVersionTagSet(name, rng.randint(1, 5), "k", str(i)),
                    ev.ModelVersionStageTransitioned(name, rng.randint(1, 5), "Staging", True),
                    ev.ModelVersionDeleted(name, rng.randint(1, 5)),
                    ev.RegisteredModelTagSet(name, "t", str(i)),
                    ev.RegisteredModelRenamed(name, rng.choice(["a", "b", "c"])),
                    ev.RegisteredModelCreated(name),
                ]
            )
        )
    ops.append(ev.RegisteredModelDeleted("a"))
    ops.append(ev.RegisteredModelCreated("a"))
    ops.append(ev.ModelVersionCreated("a", "fresh"))
    return events + [reg(p, ts=1000 + i) for i, p in enumerate(ops)]


def _final(store: FakeStore) -> dict[str, Any]:
    """The tables as FINAL reads them: the latest row per key, deleted rows dropped."""
    keys = {
        "registered_models": ["name"],
        "registered_model_tags": ["name", "key"],
        "registered_model_aliases": ["name", "alias"],
        "model_versions": ["name", "model_version"],
        "model_version_tags": ["name", "model_version", "key"],
    }
    out: dict[str, Any] = {
        t: sorted(map(repr, store._latest(t, k, 1 << 62))) for t, k in keys.items()
    }
    out["write_outcomes"] = sorted(
        (r["event_id"], r["error_code"], r["model_version"]) for r in store.rows["write_outcomes"]
    )
    return out


def _run(log: list[ev.RunEvent], points: int, checkpoint: Any = None) -> FakeStore:
    source = FakeSource({0: records(log)}, per_poll=7)
    store = FakeStore()
    # max_points counts metric points; registry events carry none, so cut by events
    pipe = pipeline(source, store, checkpoint=checkpoint)
    pipe.batch = type(pipe.batch)(max_points=10**9, max_events=points, max_interval_s=60)
    run_to_end(pipe, source)
    return store


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_registry_tables_do_not_depend_on_batch_boundaries(seed: int) -> None:
    log = _registry_log(seed)
    one = _final(_run(log, points=len(log) + 1))
    for size in (1, 3, 17):
        assert _final(_run(log, points=size)) == one
    assert len(one["write_outcomes"]) == len(log)
    numbers = [n for _, code, n in one["write_outcomes"] if code == ""]
    assert numbers  # versions were made


@pytest.mark.parametrize("step", ["intents", "batch:0", "offsets", "commit"])
def test_a_crash_at_any_write_step_rebuilds_the_same_registry(step: str) -> None:
    log = _registry_log(7)
    want = _final(_run(log, points=5))
    store = FakeStore()
    source = FakeSource({0: records(log)}, per_poll=7)
    seen = {"n": 0}

    def crash(at: str) -> None:
        if at == step:
            seen["n"] += 1
            if seen["n"] == 3:
                raise Crash(at)

    pipe = pipeline(source, store, checkpoint=crash)
    pipe.batch = type(pipe.batch)(max_points=10**9, max_events=5, max_interval_s=60)
    with pytest.raises(Crash):
        run_to_end(pipe, source)
    # a new owner takes over from what the database says (the batch may be half written)
    again = pipeline(FakeSource({0: records(log)}, per_poll=7), store)
    again.batch = type(again.batch)(max_points=10**9, max_events=5, max_interval_s=60)
    run_to_end(again, again.source)  # type: ignore[arg-type]
    assert _final(store) == want


class HalfWritingStore(FakeStore):
    """Dies inside the ``nth`` batch write after the tables before ``stop_before`` landed
    (each insert lands whole or not at all, as in ClickHouse)."""

    def __init__(self, nth: int, stop_before: str) -> None:
        super().__init__()
        self.nth, self.stop_before, self.writes = nth, stop_before, 0

    def write(self, batch: Any) -> None:
        self.writes += 1
        if self.writes != self.nth:
            return super().write(batch)
        from runstream.ingest.batch import TABLE_ORDER

        cut = TABLE_ORDER.index(self.stop_before)
        kept = tuple(t for t in batch.tables if TABLE_ORDER.index(t.table) < cut)
        super().write(_with_tables(batch, kept))
        raise Crash("died mid-batch")


def _with_tables(batch: Any, tables: tuple[Any, ...]) -> Any:
    from dataclasses import replace

    return replace(batch, tables=tables)


@pytest.mark.parametrize(
    "stop_before",
    ["model_version_tags", "model_versions", "registered_models", "write_outcomes", "runs"],
)
def test_a_half_written_batch_is_rebuilt_to_the_same_registry(stop_before: str) -> None:
    """The rebuilt batch reads the registry as of its first offset: the tables of the
    first attempt that landed (say model_versions, not registered_models) do not leak into
    the state it starts from."""
    log = _registry_log(11)
    want = _final(_run(log, points=5))
    for nth in (2, 5, 9):
        store = HalfWritingStore(nth, stop_before)
        source = FakeSource({0: records(log)}, per_poll=7)
        pipe = pipeline(source, store)
        pipe.batch = type(pipe.batch)(max_points=10**9, max_events=5, max_interval_s=60)
        with pytest.raises(Crash):
            run_to_end(pipe, source)
        store.nth = -1
        again = pipeline(FakeSource({0: records(log)}, per_poll=7), store)
        again.batch = type(again.batch)(max_points=10**9, max_events=5, max_interval_s=60)
        run_to_end(again, again.source)  # type: ignore[arg-type]
        assert _final(store) == want, (stop_before, nth)


# -- logged models and a run's inputs and outputs ------------------------------------------


def test_logged_models_merge_state_and_unknown_ones_are_poison() -> None:
    from tests.unit.ingest.test_projection import reasons, rows, run_batch

    create = ev.LoggedModelCreated("m-1", "model", "file:///x", "r1", "sk", {"a": "b"}, {"p": "1"})
    batch = run_batch(
        [
            event("", create),
            event("", ev.LoggedModelFinalized("m-1", "READY")),
            event("", ev.LoggedModelTagsSet("m-1", {"c": "d"})),
            event("", ev.LoggedModelTagDeleted("m-1", "a")),
            event("", ev.LoggedModelFinalized("m-2", "READY")),  # never created
            event("", create),  # created twice
            event("", ev.LoggedModelFinalized("m-1", "DONE")),  # unknown status
            event("", ev.LoggedModelDeleted("m-1"), experiment_id="2"),  # other experiment
        ]
    )
    (model,) = rows(batch, "logged_models")
    assert (model["status"], model["lifecycle_stage"], model["version"]) == ("READY", "active", 3)
    tags = {(t["key"], t["is_deleted"]) for t in rows(batch, "logged_model_tags")}
    assert tags == {("a", 1), ("c", 0)}
    assert reasons(batch) == [
        "logged-model-not-found",
        "logged-model-exists",
        "invalid-event",
        "experiment-mismatch",
    ]


def test_run_inputs_outputs_and_model_metrics_stay_with_the_run() -> None:
    from tests.unit.ingest.test_projection import reasons, rows, run_batch

    d1 = ev.DatasetInput("iris", "d1", "code", "{}", None, None, {"mlflow.data.context": "train"})
    d1_again = ev.DatasetInput("iris", "d1", "code", "{}", "s", "p", {"mlflow.data.context": "x"})
    batch = run_batch(
        [
            event("r1", ev.RunCreated(start_time=1)),
            event("r1", ev.InputsLogged((d1, d1_again), ("m-0",))),
            event("r1", ev.OutputsLogged(("m-1",), (3,))),
            event(
                "r1",
                ev.ModelMetricsLogged(
                    (ev.ModelMetricPoint("acc", 0.5, 9, 1, "m-1", "iris", "d1"),)
                ),
            ),
            event("r9", ev.OutputsLogged(("m-1",), (3,))),  # no such run
        ]
    )
    (dataset,) = rows(batch, "run_inputs")  # the first of a (name, digest) counts
    assert dataset["tags"] == {"mlflow.data.context": "train"} and dataset["dataset_schema"] is None
    links = {(r["direction"], r["model_id"], r["step"]) for r in rows(batch, "run_model_links")}
    assert links == {("input", "m-0", 0), ("output", "m-1", 3)}
    (metric,) = rows(batch, "logged_model_metrics")
    assert (metric["model_id"], metric["run_id"], metric["dataset_digest"]) == ("m-1", "r1", "d1")
    assert reasons(batch) == ["run-not-found"]
