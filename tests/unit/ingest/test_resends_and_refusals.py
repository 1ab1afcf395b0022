"""Issue 11, items 4 and 5, in the projection: resent events applied once (per producer,
per partition, by seq), a conflicting param dead-lettered alone, writes to a deleted run
dead-lettered by name."""

from __future__ import annotations

from runstream.ingest.batch import PartitionBatch
from runstream.ingest.projection import project
from runstream.ingest.state import PartitionState, RunState
from runstream.proto import events as ev
from runstream.proto.codec import EventCodec
from tests.unit.ingest.fakes import metrics, records
from tests.unit.ingest.test_projection import reasons, rows


def _event(run_id: str, payload: ev.Payload, producer: str, seq: int) -> ev.RunEvent:
    return ev.RunEvent(ev.new_event_id(), run_id, "1", producer, seq, 1000, payload)


def _project(events: list[ev.RunEvent], state: PartitionState, start: int = 0) -> PartitionBatch:
    batch = project("t", 0, start, start + len(events), records(events, start=start), state)
    state.apply(batch.state)
    return batch


def _run(run_id: str, stage: str = "active") -> RunState:
    return RunState(run_id, "1", "", "", "RUNNING", 0, None, "", stage, "", None, 0)


def test_a_resent_event_is_applied_once_within_and_across_batches() -> None:
    state = PartitionState(10)
    state.put_runs({"r1": _run("r1")})
    points = [_event("r1", metrics([("loss", s, float(s))]), "p1", s) for s in range(4)]
    first = _project(points[:3] + points[:2], state)  # a resend inside the batch
    assert first.duplicates == 2 and first.points == 3
    # the audit trail has one row per write: the resends are not in it again
    assert [r["offset"] for r in rows(first, "audit_events")] == [0, 1, 2]
    assert rows(first, "ingest_producers") == [
        {"topic": "t", "partition": 0, "producer_id": "p1", "seq": 2, "offset": 2}
    ]
    second = _project(points[1:], state, start=5)  # seq 1, 2 again, then 3
    assert second.duplicates == 2 and second.points == 1
    other = _event("r1", metrics([("loss", 9, 9.0)]), "p2", 0)  # another producer's seq 0
    assert _project([other], state, start=8).points == 1


def test_the_last_seq_read_back_from_the_tables_holds_after_a_restart() -> None:
    state = PartitionState(10)  # a new worker: the cache is empty, the table is not
    state.put_runs({"r1": _run("r1")})
    state.put_producers({"p1": 7})
    resent = [_event("r1", metrics([("loss", s, 1.0)]), "p1", s) for s in (6, 7, 8)]
    batch = _project(resent, state)
    assert (batch.duplicates, batch.points) == (2, 1)


def test_only_the_conflicting_param_is_dead_lettered() -> None:
    state = PartitionState(10)
    state.put_runs({"r1": _run("r1")})
    state.put_params({"r1": {"lr": "0.1"}})
    event = _event("r1", ev.ParamsLogged(("lr", "bs", "opt"), ("0.2", "32", "adam")), "p", 0)
    batch = _project([event], state)
    assert {(r["key"], r["value"]) for r in rows(batch, "params")} == {
        ("bs", "32"),
        ("opt", "adam"),
    }
    assert reasons(batch) == ["param-conflict"]
    (letter,) = batch.dead_letters
    assert letter.record.offset == 0 and "'lr'" in letter.poison.detail
    refused = EventCodec().decode(letter.record.value or b"")
    assert refused.payload == ev.ParamsLogged(("lr",), ("0.2",))
    assert refused.event_id == event.event_id


def test_writes_to_a_deleted_run_are_dead_lettered_by_name() -> None:
    state = PartitionState(10)
    state.put_runs({"r1": _run("r1", "deleted")})
    writes: list[ev.Payload] = [
        metrics([("loss", 1, 1.0)]),
        ev.ParamsLogged(("a",), ("1",)),
        ev.TagsSet(("t",), ("v",)),
        ev.TagDeleted("t"),
        ev.RunUpdated(status="FINISHED"),
    ]
    batch = _project([_event("r1", p, "p", i) for i, p in enumerate(writes)], state)
    assert reasons(batch) == ["run-deleted"] * len(writes)
    assert all(rows(batch, t) == [] for t in ("metrics", "params", "tags", "runs"))
    restored = _project([_event("r1", ev.RunRestored(), "p", 10)], state, start=5)
    assert not restored.dead_letters and rows(restored, "runs")[0]["lifecycle_stage"] == "active"
    after = _project([_event("r1", metrics([("loss", 1, 1.0)]), "p", 11)], state, start=6)
    assert not after.dead_letters and after.points == 1
