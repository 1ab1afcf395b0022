"""Tombstones in the projection and the deletions they ask for (pure: no services)."""

from __future__ import annotations

from runstream.ingest.purge import EXPERIMENT, RUN, deletions
from runstream.ingest.state import PartitionState
from runstream.proto import events as ev
from tests.unit.ingest.fakes import FakeStore, event, metrics
from tests.unit.ingest.test_projection import reasons, rows, run_batch


def _experiment_event(experiment_id: str, payload: ev.Payload) -> ev.RunEvent:
    return event("", payload, experiment_id=experiment_id)


def test_a_run_purge_records_the_tombstone_and_drops_later_events() -> None:
    state = PartitionState(10)
    batch = run_batch(
        [
            event("r1", ev.RunCreated(start_time=1)),
            event("r1", metrics([("loss", 0, 1.0)])),
            event("r1", ev.RunDeleted(deleted_time=5)),
            event("r1", ev.RunPurged("gc --older-than 0")),
            event("r1", ev.TagsSet(("late",), ("x",))),  # after the tombstone: dropped
        ],
        state,
    )
    assert [(p.kind, p.id, p.experiment_id, p.offset) for p in batch.purges] == [
        (RUN, "r1", "1", 3)
    ]
    assert rows(batch, "purges")[0]["reason"] == "gc --older-than 0"
    assert rows(batch, "runs") == []  # no state row for a purged run
    assert batch.purged == 1 and not batch.dead_letters and rows(batch, "tags") == []
    audited = [r["event_type"] for r in rows(batch, "audit_events")]
    assert "TagsSet" not in audited and audited[-1] == "RunPurged"
    state.apply(batch.state)
    assert state.run("r1") is None and state.is_purged(RUN, "r1")
    later = run_batch([event("r1", ev.ParamsLogged(("a",), ("1",)))], state, start=5)
    assert later.purged == 1 and not later.dead_letters
    assert [t.table for t in later.tables] == ["ingest_producers"]  # its seq counts as seen


def test_a_purge_of_an_unknown_run_is_poison_but_a_repeated_purge_is_not() -> None:
    assert reasons(run_batch([event("nope", ev.RunPurged())])) == ["run-not-found"]
    state = PartitionState(10)
    state.put_purge_checks([(RUN, "r1")], [(RUN, "r1")])  # purged earlier (read from purges)
    again = run_batch([event("r1", ev.RunPurged())], state)
    assert not again.dead_letters and [p.id for p in again.purges] == ["r1"]


def test_an_experiment_purge_drops_its_own_later_events_until_created_again() -> None:
    state = PartitionState(10)
    first = run_batch(
        [
            _experiment_event("9", ev.ExperimentCreated("exp")),
            _experiment_event("9", ev.ExperimentDeleted()),
            _experiment_event("9", ev.ExperimentPurged()),
            _experiment_event("9", ev.ExperimentTagSet("k", "v")),  # dropped
        ],
        state,
    )
    assert [(p.kind, p.id) for p in first.purges] == [(EXPERIMENT, "9")]
    assert rows(first, "experiments") == [] and first.purged == 1
    state.apply(first.state)
    assert state.is_purged(EXPERIMENT, "9") and "9" not in state.experiments
    # the same name again: experiment ids come from names, so the purge is lifted
    again = run_batch([_experiment_event("9", ev.ExperimentCreated("exp"))], state, start=4)
    assert not again.dead_letters and again.purges == ()
    assert [r["name"] for r in rows(again, "experiments")] == ["exp"]
    assert [(r["kind"], r["lifted"]) for r in rows(again, "purges")] == [(EXPERIMENT, 1)]
    state.apply(again.state)
    assert not state.is_purged(EXPERIMENT, "9")
    # a run's events are judged by the run's own tombstone only
    run = run_batch([event("r9", ev.RunCreated(start_time=1), experiment_id="9")], state, start=5)
    assert run.purged == 0 and len(rows(run, "runs")) == 1
    assert reasons(run_batch([_experiment_event("8", ev.ExperimentPurged())])) == [
        "experiment-not-found"
    ]


def test_deletions_cover_every_table_naming_the_ids_but_the_kept_ones() -> None:
    tables = [
        ("metrics", ["experiment_id", "run_id"]),
        ("experiments", ["experiment_id"]),
        ("model_versions", ["run_id"]),  # the registry keeps its link, as MLflow does
        ("purges", ["experiment_id"]),
        ("audit_events", ["experiment_id", "run_id"]),
        ("ingest_offsets", []),
    ]
    found = {d.table: d for d in deletions(tables, {"r1"}, set())}
    assert set(found) == {"metrics", "audit_events"}
    assert "RunPurged" in found["audit_events"].where
    assert found["metrics"].parameters == {"runs": ["r1"]}
    both = {d.table: d for d in deletions(tables, {"r1"}, {"9"})}
    assert set(both) == {"metrics", "experiments", "audit_events"}
    assert both["experiments"].parameters == {"experiments": ["9"]}
    # an experiment's rows owned by a run go with the run's own tombstone
    assert "experiment_id IN {experiments:Array(String)} AND run_id = ''" in both["metrics"].where
    assert "run_id" not in both["experiments"].where


def test_the_fake_sink_deletes_every_row_of_a_purged_run_but_its_tombstone() -> None:
    store, state = FakeStore(), PartitionState(10)
    first = run_batch(
        [event("r1", ev.RunCreated(start_time=1)), event("r2", ev.RunCreated(start_time=1))],
        state,
    )
    store.write(first)
    state.apply(first.state)
    purge = run_batch([event("r1", ev.RunPurged())], state, start=2)
    store.write(purge)
    assert [r["run_id"] for r in store.rows["runs"]] == ["r2"]
    assert [(r["run_id"], r["event_type"]) for r in store.rows["audit_events"]] == [
        ("r2", "RunCreated"),
        ("r1", "RunPurged"),
    ]
