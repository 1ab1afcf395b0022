"""GetRun's answer for a run whose creation ingest holds but has not applied yet.

The trainer's first calls come right after it created its run: the ``RunCreated`` is polled
and held (``proto/pending.py``) while its batch is written, and until then the tables know
no such run.  :func:`held_run` answers from the held events what the tables will answer once
they are applied: the run's info from the ``RunCreated``, and its params, tags, latest
metrics and updates from the run's later held events, by the projection's rules
(``ingest/projection.py``).  It answers nothing (``None``) where it cannot be sure of them:

* the ``RunCreated`` is refused by the projection: no experiment id, an unknown status, a
  record key that is not the event's; or dropped as a producer's resend;
* the run has another held event that changes whether it exists or is active (a second
  ``RunCreated``, a deletion, restore or purge) or that this view does not model (datasets,
  model inputs and outputs);
* a deletion or purge of the run's experiment is held.

A later event the projection would refuse (another experiment's, a bad status or lengths,
a key that is not the event's) or drop (a resend: its producer's seq not above the last
one met) is left out, as ingest leaves it; conflicting params keep the first value.

What only the tables know is read by :func:`held_checks_sql` (one statement) and judged by
:func:`verdict`: whether the projection already accepted the ``RunCreated`` (its audit row:
the batch is being or was written, and the tables may hold part of the run until the feed
moves), else whether they hold an older run of that id (the creation is refused), else
whether the experiment exists and is active (or is created by a held event), neither the
run nor the experiment is purged, and the ``RunCreated`` is not a resend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

from runstream.proto import events as ev
from runstream.proto.pending import HeldEvent, LatestPoint, PendingRun, later, latest_of
from runstream.proto.permissions import ExperimentFacts
from runstream.proto.vocabulary import ACTIVE, AUDIT_APPLIED, RUN_STATUSES

from .entities import MetricPoint, Run, RunInfo
from .sql_text import Binder, Sql

# ``purges.kind`` (ingest/purge.py)
_RUN, _EXPERIMENT = "run", "experiment"

# Events of the run this view leaves unanswered (see the module docstring).
_UNSURE = (ev.RunCreated, ev.RunDeleted, ev.RunRestored, ev.RunPurged)
_MODELLED = (ev.RunUpdated, ev.ParamsLogged, ev.TagsSet, ev.TagDeleted, ev.MetricsLogged)


@dataclass(frozen=True, slots=True)
class HeldRun:
    """A run answered from held events, and what its ``RunCreated`` needs of the tables."""

    run: Run
    partition: int
    offset: int
    producer_id: str
    seq: int
    # The experiment's facts from its held ExperimentCreated, for an experiment the tables
    # may not hold yet (its permission is checked on them).
    experiment: ExperimentFacts | None = None


class _Seqs:
    """The projection's resend rule over the run's events: an event whose seq is not
    above the last one of its producer met is dropped."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def resent(self, event: ev.RunEvent) -> bool:
        producer = event.producer_id
        if not producer:
            return False
        last = self._last.get(producer)
        if last is not None and event.seq <= last:
            return True
        self._last[producer] = event.seq
        return False


def held_run(pending: PendingRun) -> HeldRun | None:
    """The run ingest will create from ``pending.created`` as the tables will hold it
    once the held events are applied, or None when that is not sure (module docstring).
    The caller must still check :func:`held_checks_sql` against the tables."""
    if not pending.created or pending.closing:
        return None
    first, later_events = pending.created[0], pending.created[1:]
    e = first.event
    p = e.payload
    if not isinstance(p, ev.RunCreated) or not _keyed(first):
        return None
    if not e.run_id or not e.experiment_id or p.status not in RUN_STATUSES:
        return None
    seqs = _Seqs()
    seqs.resent(e)
    info = RunInfo(
        e.run_id, e.experiment_id, p.run_name, p.user_id, p.status, p.start_time, None,
        p.artifact_uri, ACTIVE,
    )  # fmt: skip
    params: dict[str, str] = {}
    tags: dict[str, str] = dict(p.tags)
    latest: dict[str, LatestPoint] = {}
    for held in later_events:
        x = held.event
        q = x.payload
        if seqs.resent(x):
            continue  # the projection drops a resend before anything else
        if isinstance(q, _UNSURE) or not isinstance(q, _MODELLED):
            return None
        if not _keyed(held) or (x.experiment_id and x.experiment_id != e.experiment_id):
            continue  # refused
        if isinstance(q, ev.RunUpdated):
            if q.status is not None and q.status not in RUN_STATUSES:
                continue
            info = _updated(info, q)
        elif isinstance(q, ev.ParamsLogged):
            if len(q.keys) == len(q.values):
                for k, v in zip(q.keys, q.values, strict=True):
                    params.setdefault(k, v)  # write-once: a conflict is dead-lettered
        elif isinstance(q, ev.TagsSet):
            if len(q.keys) == len(q.values):
                tags.update(zip(q.keys, q.values, strict=True))
        elif isinstance(q, ev.TagDeleted):
            tags.pop(q.key, None)
        else:
            for key, point in latest_of(q).items():
                have = latest.get(key)
                if have is None or later(point, have):
                    latest[key] = point
    metrics = tuple(
        MetricPoint(key, value, ts, step) for key, (step, ts, value) in sorted(latest.items())
    )
    run = Run(info=info, metrics=metrics, params=params, tags=tags)
    return HeldRun(
        run, first.partition, first.offset, e.producer_id, e.seq, _experiment(pending.experiment)
    )


def _experiment(held: HeldEvent | None) -> ExperimentFacts | None:
    """The facts of a held ExperimentCreated the projection will apply to an experiment
    the tables do not hold (a name, the record's key), else None."""
    if held is None or not _keyed(held):
        return None
    p = held.event.payload
    if not isinstance(p, ev.ExperimentCreated) or not p.name:
        return None
    return ExperimentFacts(held.event.experiment_id, p.name, held.event.principal)


def _keyed(held: HeldEvent) -> bool:
    """Whether the record's key is the event's (the projection refuses it otherwise)."""
    return held.key == held.event.kafka_key


def _updated(info: RunInfo, u: ev.RunUpdated) -> RunInfo:
    if u.status is not None:
        info = replace(info, status=u.status)
    if u.end_time is not None:
        info = replace(info, end_time=u.end_time)
    if u.run_name is not None:
        info = replace(info, run_name=u.run_name)
    return info


class Verdict(Enum):
    """What the tables say of a held run (:func:`verdict`)."""

    HELD = "held"  # answer from the held events
    TABLES = "tables"  # the tables hold the run and it is not this creation's: read them
    NONE = "none"  # nothing to show: the run is unknown


def held_checks_sql(topic: str, held: HeldRun) -> Sql:
    """One row for :func:`verdict`: whether the tables hold the run's experiment active,
    hold it at all, list the run or the experiment as purged, hold a seq of the
    ``RunCreated``'s producer in its partition at or above the event's from an earlier
    offset (the event is a resend), audit the ``RunCreated``'s record as applied (its batch
    is being or was written), and hold the run."""
    b = Binder()
    run_id = b.bind(held.run.info.run_id, "String")
    experiment_id = b.bind(held.run.info.experiment_id, "String")
    at = f"topic = {b.bind(topic, 'String')} AND partition = {b.bind(held.partition, 'Int64')}"
    offset = b.bind(held.offset, "Int64")
    resent = (
        f"(SELECT count() FROM ingest_producers FINAL WHERE {at} "
        f"AND producer_id = {b.bind(held.producer_id, 'String')} "
        f"AND seq >= {b.bind(held.seq, 'Int64')} AND offset < {offset}) > 0"
        if held.producer_id
        else "0"
    )
    experiments = (
        f"SELECT lifecycle_stage FROM experiments FINAL WHERE experiment_id = {experiment_id}"
    )
    active = b.bind(ACTIVE, "String")
    purged = "SELECT count() FROM purges FINAL WHERE lifted = 0 AND kind = {kind} AND id = {id}"
    return b.sql(
        f"SELECT (SELECT countIf(lifecycle_stage = {active}) FROM ({experiments})) > 0, "
        f"(SELECT count() FROM ({experiments})) > 0, "
        f"({purged.format(kind=b.bind(_RUN, 'String'), id=run_id)}) > 0, "
        f"({purged.format(kind=b.bind(_EXPERIMENT, 'String'), id=experiment_id)}) > 0, "
        f"{resent}, "
        f"(SELECT count() FROM audit_events WHERE {at} AND offset = {offset} "
        f"AND outcome = {b.bind(AUDIT_APPLIED, 'String')}) > 0, "
        f"(SELECT count() FROM runs WHERE run_id = {run_id}) > 0"
    )


def verdict(held: HeldRun, row: Sequence[object]) -> Verdict:
    """What the tables (``row``, of :func:`held_checks_sql`) say of the held ``RunCreated``:

    * the projection applied it (its audit row; its batch may still be being written, the
      tables then hold part of it and the feed has not moved): ``HELD``, the held events
      are the whole answer as of the caller's snapshot;
    * else the tables hold the run: ``TABLES`` (an older run of that id: the creation is
      refused);
    * else ``HELD`` when ingest will apply it: the run not purged, the event not a resend,
      and its experiment active in the tables (and not purged), or held created and
      unknown to the tables (its creation is then applied, lifting any purge); else
      ``NONE``."""
    active, known, run_purged, experiment_purged, resent, accepted, in_tables = (
        bool(x) for x in row
    )
    if accepted:
        return Verdict.HELD
    if in_tables:
        return Verdict.TABLES
    if run_purged or resent:
        return Verdict.NONE
    if known:
        return Verdict.HELD if active and not experiment_purged else Verdict.NONE
    return Verdict.HELD if held.experiment is not None else Verdict.NONE
