"""``runstream gc``: permanent deletion of runs and experiments, as ``mlflow gc``.

What to purge is read from the tables (runs and experiments deleted more than N days ago,
or named ones, which must be deleted); the deletion itself is a tombstone event per run
and per experiment, published to the event topic like every write.  Ingest applies it:
it deletes every row of the run or experiment from every table and drops any later event
of it, and a replay of the log does the same (``docs/ingest.md``, "Permanent deletion").
The runs of a purged experiment are purged first, each in its own partition, so every
partition's order removes them whatever order a replay reads the partitions in.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from runstream.proto import events as ev
from runstream.proto.errors import RunstreamError
from runstream.proto.tokens import WriteToken
from runstream.query.ports import SqlPort
from runstream.query.sql_text import Sql

DAY_MS = 86_400_000
DEFAULT_EXPERIMENT_ID = "0"  # made by the first migration; like MLflow, never purged


class GcError(RunstreamError):
    """A gc request that cannot be carried out as asked (nothing was published)."""


class Publisher(Protocol):
    def publish(self, events: Sequence[ev.RunEvent], timeout: float | None = None) -> WriteToken:
        """Publish and wait for Kafka's acknowledgement."""
        ...


@dataclass(frozen=True)
class GcPlan:
    runs: tuple[tuple[str, str], ...]  # (run id, experiment id)
    experiments: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.runs or self.experiments)


_RUNS = (
    "SELECT run_id, argMax(experiment_id, version), argMax(lifecycle_stage, version), "
    "argMax(deleted_time, version) FROM runs "
)
_EXPERIMENTS = (
    "SELECT experiment_id, argMax(lifecycle_stage, version), argMax(last_update_time, version) "
    "FROM experiments "
)


def plan(
    sql: SqlPort,
    *,
    older_than_days: float | None = None,
    run_ids: Collection[str] = (),
    experiment_ids: Collection[str] = (),
    now_ms: int | None = None,
) -> GcPlan:
    """What to purge: with ``older_than_days``, every run and experiment deleted at least
    that long ago (among the named ones, if any are named); with ids only, the named ones,
    which must be deleted.  An experiment takes all of its runs with it."""
    if older_than_days is None and not run_ids and not experiment_ids:
        raise GcError("name runs or experiments, or give --older-than DAYS")
    if older_than_days is not None and older_than_days < 0:
        raise GcError(f"--older-than must be >= 0 days, got {older_than_days}")
    if DEFAULT_EXPERIMENT_ID in experiment_ids:
        raise GcError("the Default experiment (id 0) cannot be purged")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    cutoff = None if older_than_days is None else now - int(older_than_days * DAY_MS)
    experiments = _experiments(sql, experiment_ids, cutoff, named_only=bool(run_ids))
    runs = _runs(sql, run_ids, cutoff, named_only=bool(experiment_ids))
    for experiment_id in experiments:  # every run of a purged experiment, deleted or not
        query = _RUNS + _where("experiment_id") + "GROUP BY run_id"
        for run_id, exp, *_ in _rows(sql, query, [experiment_id]):
            runs.setdefault(str(run_id), str(exp))
    return GcPlan(tuple(sorted(runs.items())), tuple(sorted(experiments)))


def _experiments(
    sql: SqlPort, named: Collection[str], cutoff: int | None, *, named_only: bool
) -> list[str]:
    if not named and (cutoff is None or named_only):
        return []
    query = _EXPERIMENTS + (_where("experiment_id") if named else "") + "GROUP BY experiment_id"
    found = {str(r[0]): (str(r[1]), int(str(r[2]))) for r in _rows(sql, query, named)}
    missing = sorted(set(named) - set(found))
    if missing:
        raise GcError(f"no experiment with id {', '.join(missing)}")
    active = sorted(e for e in named if found[e][0] != "deleted")
    if active:
        raise GcError(f"experiments {', '.join(active)} are not deleted: delete them first")
    return sorted(
        e
        for e, (stage, updated) in found.items()
        if stage == "deleted"
        and e != DEFAULT_EXPERIMENT_ID
        and (cutoff is None or updated <= cutoff)
    )


def _runs(
    sql: SqlPort, named: Collection[str], cutoff: int | None, *, named_only: bool
) -> dict[str, str]:
    if not named and (cutoff is None or named_only):
        return {}
    query = _RUNS + (_where("run_id") if named else "") + "GROUP BY run_id"
    found = {str(r[0]): (str(r[1]), str(r[2]), r[3]) for r in _rows(sql, query, named)}
    missing = sorted(set(named) - set(found))
    if missing:
        raise GcError(f"no run with id {', '.join(missing)}")
    active = sorted(r for r in named if found[r][1] != "deleted")
    if active:
        raise GcError(f"runs {', '.join(active)} are not deleted: delete them first")
    return {
        r: exp
        for r, (exp, stage, deleted) in found.items()
        if stage == "deleted"
        and (cutoff is None or (deleted is not None and int(str(deleted)) <= cutoff))
    }


def _where(column: str) -> str:
    return f"WHERE {column} IN {{ids:Array(String)}} "


def _rows(sql: SqlPort, text: str, ids: Collection[str]) -> list[tuple[object, ...]]:
    return sql.rows(Sql(text, {"ids": sorted(ids)} if "{ids:" in text else {}))


def tombstones(gc: GcPlan, reason: str, *, now_ms: int | None = None) -> list[ev.RunEvent]:
    """The events of ``gc``: a RunPurged per run, then an ExperimentPurged per experiment."""
    producer = uuid.uuid4().hex
    now = int(time.time() * 1000) if now_ms is None else now_ms
    events: list[ev.RunEvent] = []
    for run_id, experiment_id in gc.runs:
        payload: ev.Payload = ev.RunPurged(reason)
        events.append(
            ev.RunEvent(
                ev.new_event_id(), run_id, experiment_id, producer, len(events), now, payload
            )
        )
    for experiment_id in gc.experiments:
        payload = ev.ExperimentPurged(reason)
        events.append(
            ev.RunEvent(ev.new_event_id(), "", experiment_id, producer, len(events), now, payload)
        )
    return events


def collect(publisher: Publisher, gc: GcPlan, reason: str, timeout: float = 60.0) -> WriteToken:
    """Publish the tombstones of ``gc``: the runs' first, acknowledged, then the
    experiments'.  Returns the write token of all of them (wait for it to see them applied)."""
    events = tombstones(gc, reason)
    runs = [e for e in events if isinstance(e.payload, ev.RunPurged)]
    experiments = [e for e in events if isinstance(e.payload, ev.ExperimentPurged)]
    token = publisher.publish(runs, timeout) if runs else WriteToken()
    if experiments:
        token = token.merge(publisher.publish(experiments, timeout))
    return token
