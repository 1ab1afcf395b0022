"""The projection, event -> rows, on in-memory state (pure: no services)."""

from __future__ import annotations

import math

import numpy as np

from runstream.ingest.batch import DictColumn, PartitionBatch
from runstream.ingest.projection import project
from runstream.ingest.records import Poison, PoisonReason, SourceRecord
from runstream.ingest.state import PartitionState, RunState
from runstream.proto import events as ev
from tests.unit.ingest.fakes import event, metrics, records


def run_batch(
    events: list[ev.RunEvent], state: PartitionState | None = None, start: int = 0
) -> PartitionBatch:
    state = state if state is not None else PartitionState(1000)
    recs = records(events, start=start)
    return project("t", 0, start, start + len(recs), recs, state)


def rows(batch: PartitionBatch, table: str) -> list[dict[str, object]]:
    t = batch.table(table)
    if t is None:
        return []
    cols = [c.expand() if isinstance(c, DictColumn) else list(c) for c in t.data]
    return [dict(zip(t.columns, v, strict=True)) for v in zip(*cols, strict=True)]


def reasons(batch: PartitionBatch) -> list[str]:
    return [d.poison.reason.value for d in batch.dead_letters]


def test_run_lifecycle_merges_full_state_with_offset_versions() -> None:
    batch = run_batch(
        [
            event("r1", ev.RunCreated(start_time=5, run_name="a", user_id="u", tags={"t": "1"})),
            event("r1", ev.RunUpdated(status="FINISHED", end_time=9)),
            event("r1", ev.RunDeleted(deleted_time=11)),
            event("r1", ev.RunRestored()),
            event("r1", ev.RunUpdated(run_name="b")),
        ]
    )
    [run] = rows(batch, "runs")
    assert run["run_name"] == "b" and run["status"] == "FINISHED" and run["end_time"] == 9
    assert run["lifecycle_stage"] == "active" and run["deleted_time"] is None
    assert run["version"] == 4 and run["experiment_id"] == "1" and run["user_id"] == "u"
    assert rows(batch, "tags") == [
        {
            "experiment_id": "1",
            "run_id": "r1",
            "key": "t",
            "value": "1",
            "version": 0,
            "is_deleted": 0,
        }
    ]
    assert batch.events == 5 and not batch.dead_letters


def test_events_at_or_below_the_stored_version_are_skipped() -> None:
    state = PartitionState(10)
    first = run_batch(
        [event("r1", ev.RunCreated(start_time=1)), event("r1", ev.RunUpdated(status="FAILED"))],
        state,
    )
    state.apply(first.state)
    again = project(
        "t",
        0,
        0,
        2,
        records(
            [event("r1", ev.RunCreated(start_time=1)), event("r1", ev.RunUpdated(status="KILLED"))]
        ),
        state,
    )
    assert again.skipped == 2 and not again.dead_letters
    assert [t.table for t in again.tables] == ["ingest_producers"]


def test_experiment_events() -> None:
    batch = run_batch(
        [
            event("", ev.ExperimentCreated("e", tags={"a": "1"}), "7"),
            event("", ev.ExperimentRenamed("f"), "7"),
            event("", ev.ExperimentTagSet("b", "2"), "7"),
            event("", ev.ExperimentDeleted(), "7"),
            event("", ev.ExperimentCreated("again"), "7"),
            event("", ev.ExperimentRenamed("x"), "8"),
        ]
    )
    [exp] = rows(batch, "experiments")
    assert (exp["name"], exp["lifecycle_stage"], exp["version"]) == ("f", "deleted", 3)
    assert {(r["key"], r["value"]) for r in rows(batch, "experiment_tags")} == {
        ("a", "1"),
        ("b", "2"),
    }
    assert reasons(batch) == ["experiment-exists", "experiment-not-found"]


def test_params_are_write_once() -> None:
    state = PartitionState(10)
    state.put_runs({"r1": _run("r1")})
    state.put_params({"r1": {"lr": "0.1"}})
    batch = run_batch(
        [
            event("r1", ev.ParamsLogged(("lr", "bs"), ("0.1", "32"))),  # same value: fine
            event("r1", ev.ParamsLogged(("bs",), ("64",))),  # conflicts with this batch
            event("r1", ev.ParamsLogged(("lr",), ("0.2",))),  # conflicts with the table
            event("r1", ev.ParamsLogged(("x", "x"), ("1", "2"))),  # conflicts within the event
            event("r1", ev.ParamsLogged(("y",), ("1", "2"))),  # malformed
        ],
        state,
    )
    assert {(r["key"], r["value"]) for r in rows(batch, "params")} == {
        ("lr", "0.1"),
        ("bs", "32"),
        ("x", "1"),  # the first value in log order; only the second is refused
    }
    assert reasons(batch) == ["param-conflict", "param-conflict", "param-conflict", "invalid-event"]
    assert "'0.1'" in batch.dead_letters[1].poison.detail


def test_tags_set_and_delete_keep_the_last_per_key() -> None:
    batch = run_batch(
        [
            event("r1", ev.RunCreated(start_time=1)),
            event("r1", ev.TagsSet(("a", "b"), ("1", "2"))),
            event("r1", ev.TagDeleted("a")),
        ]
    )
    tags = {r["key"]: r for r in rows(batch, "tags")}
    assert tags["a"]["is_deleted"] == 1 and tags["a"]["version"] == 2
    assert tags["b"]["value"] == "2" and tags["b"]["is_deleted"] == 0


def test_events_for_unknown_runs_or_other_experiments_are_poison() -> None:
    batch = run_batch(
        [
            event("ghost", metrics([("loss", 1, 0.5)])),
            event("ghost", ev.TagsSet(("a",), ("1",))),
            event("ghost", ev.RunUpdated(status="FINISHED")),
            event("r1", ev.RunCreated(start_time=1)),
            event("r1", metrics([("loss", 1, 0.5)]), experiment_id="2"),
            event("r1", ev.RunCreated(start_time=1)),
            event("r1", ev.RunUpdated(status="DONE")),
            event("r1", metrics([("loss", 1, 0.5)])),
        ]
    )
    assert reasons(batch) == [
        "run-not-found", "run-not-found", "run-not-found", "experiment-mismatch",
        "run-exists", "invalid-event",
    ]  # fmt: skip
    assert batch.points == 1 and rows(batch, "metrics")[0]["experiment_id"] == "1"


def test_record_key_must_be_the_event_key() -> None:
    e = event("r1", ev.RunCreated(start_time=1))
    rec = SourceRecord("t", 0, 0, b"other", b"v", event=e)
    batch = project("t", 0, 0, 1, [rec], PartitionState(10))
    assert reasons(batch) == ["invalid-event"]
    # nothing is projected; its seq counts as seen, and the attempt is audited with the
    # reason it was refused
    assert [t.table for t in batch.tables] == ["audit_events", "ingest_producers"]
    assert rows(batch, "audit_events")[0]["outcome"] == "invalid-event"


def test_undecodable_records_pass_through_as_dead_letters() -> None:
    rec = SourceRecord(
        "t", 0, 0, b"k", b"junk", poison=Poison(PoisonReason.DECODE_ERROR, "bad magic")
    )
    batch = project("t", 0, 0, 1, [rec], PartitionState(10))
    assert reasons(batch) == ["decode-error"] and batch.events == 0


def test_metric_rows_and_summary() -> None:
    batch = run_batch(
        [
            event("r1", ev.RunCreated(start_time=1)),
            event("r1", metrics([("loss", 1, 3.0), ("loss", 2, 2.0), ("acc", 1, float("nan"))])),
            event("r1", metrics([("loss", 2, 5.0), ("loss", 0, -1.0)])),
        ]
    )
    points = rows(batch, "metrics")
    assert len(points) == 5 and {p["key"] for p in points} == {"loss", "acc"}
    summary = {r["key"]: r for r in rows(batch, "latest_metrics")}
    assert summary["loss"]["latest"] == (2, 1000, 5.0)
    assert (
        summary["loss"]["min_value"],
        summary["loss"]["max_value"],
        summary["loss"]["count"],
    ) == (-1.0, 5.0, 4)
    assert math.isnan(summary["acc"]["latest"][2]) and summary["acc"]["count"] == 1
    assert batch.token("metrics") == "t:0:0:3:metrics"


def test_tables_come_in_write_order() -> None:
    batch = run_batch(
        [
            event("", ev.ExperimentCreated("e"), "5"),
            event("r1", ev.RunCreated(start_time=1), "5"),
            event("r1", ev.ParamsLogged(("a",), ("1",)), "5"),
            event("r1", metrics([("m", 1, 1.0)]), "5"),
        ]
    )
    names = [t.table for t in batch.tables]
    assert names == [
        "metrics",
        "latest_metrics",
        "latest_context_metrics",
        "params",
        "audit_events",
        "experiments",
        "runs",
        "ingest_producers",
    ]
    assert np.asarray(batch.table("metrics").data[3]).dtype == np.int64  # type: ignore[union-attr]


def _run(run_id: str) -> RunState:
    return RunState(run_id, "1", "", "", "RUNNING", 0, None, "", "active", "", None, 0)
