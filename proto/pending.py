"""Metric points polled by ingest and not yet applied, told in process.

Where an :class:`~runstream.proto.applied.AppliedFeed` exists (``runstream up`` on chDB:
the ingest worker and the query service share a process), the worker also hands the feed
every record it polls.  The feed keeps the ``MetricsLogged`` events among them until ingest
records their offsets as applied, and ``GetRun`` merges their latest points into what the
tables answer (``SearchRuns`` lets them decide matches and order too:
``query/pending_search.py``).  A point is then readable as soon as ingest has it in hand
(a poll after Kafka acknowledged it), not a batch write later: the write path is unchanged
and the tables still hold every point exactly once; this is a view of the log's next rows.

Only what ingest is sure to apply is shown.  The projection refuses a run's points when
the run is unknown, deleted or purged, or of another experiment; the merge therefore
happens only into a run the tables hold as active, of the event's experiment, and a run
with any pending event that can change that (created, deleted, restored, purged) gets
nothing merged until that event is applied.  Points the projection drops as duplicates
(a producer's resend) or as already applied (a replay) are points the tables already
count, and the latest-point rule (the max of (step, timestamp, value), NaN the greatest
value, as ``ingest/metric_columns.py`` applies it) gives the same answer with them twice.

When offsets are applied, :meth:`PendingPoints.applied` also tells what the tables gained
(an :class:`Applied`): per run, the metric events now in the tables, and the runs any other
event may have changed, so the run cache (``query/run_cache.py``) keeps an answer whose run
only gained points.  That needs every record below the new offset to have been held: the
first offsets recorded for a partition since the feed began or the partition was released
follow records this feed never saw, so they say ``everything``.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from . import events as ev

LatestPoint = tuple[int, int, float]  # (step, timestamp, value)

# Run events after which ingest may refuse or drop a run's points: nothing of the run is
# merged while one of them is pending.
_BLOCKING = (ev.RunCreated, ev.RunDeleted, ev.RunRestored, ev.RunPurged)

# Events that change nothing but the run they name (what GetRun answers of it).  Any other
# event applied may change any run's answer (datasets and models are shared rows).
_ONE_RUN = (ev.MetricsLogged, *_BLOCKING, ev.RunUpdated, ev.ParamsLogged, ev.TagsSet, ev.TagDeleted)


class PolledRecord(Protocol):
    """What a polled record must tell (ingest's ``SourceRecord`` does)."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def event(self) -> ev.RunEvent | None: ...


def later(a: LatestPoint, b: LatestPoint) -> bool:
    """Whether ``a`` comes after ``b`` as the latest point: greater step, then timestamp,
    then value, where NaN is greater than every number (and equal to NaN)."""
    if a[0] != b[0]:
        return a[0] > b[0]
    if a[1] != b[1]:
        return a[1] > b[1]
    a_nan, b_nan = math.isnan(a[2]), math.isnan(b[2])
    if a_nan or b_nan:
        return a_nan and not b_nan
    return a[2] > b[2]


@dataclass(slots=True, eq=False)
class _Entry:
    partition: int
    offset: int
    experiment_id: str
    payload: ev.MetricsLogged | None  # None: a blocking event
    _latest: dict[str, LatestPoint] | None = field(default=None)

    def latest(self) -> dict[str, LatestPoint]:
        """The event's latest point per key (computed once)."""
        if self._latest is None:
            self._latest = _latest_of(self.payload) if self.payload is not None else {}
        return self._latest


def _latest_of(p: ev.MetricsLogged) -> dict[str, LatestPoint]:
    if len(p) == 0:
        return {}
    # Sort by (key, step, timestamp, value): numpy sorts NaN last, the greatest value.
    order = np.lexsort((p.values, p.timestamps, p.steps, p.key_index))
    k = p.key_index[order]
    last = order[np.flatnonzero(np.append(k[1:] != k[:-1], True))]
    keys, steps, stamps, values = (
        p.key_index[last],
        p.steps[last],
        p.timestamps[last],
        p.values[last],
    )
    return {
        p.keys[int(k)]: (int(s), int(t), float(v))
        for k, s, t, v in zip(
            keys.tolist(), steps.tolist(), stamps.tolist(), values.tolist(), strict=True
        )
    }


@dataclass(slots=True)
class Applied:
    """What the tables gained when offsets were applied (see :meth:`PendingPoints.applied`).

    ``everything``: anything may have changed (a record this feed did not hold, an event
    that is not one run's).  Else ``changed``: the runs an event other than
    ``MetricsLogged`` was applied to; ``points``: per other run, its metric events applied
    (for :meth:`PendingRun.latest`).

    ``unheld`` (``everything`` is then true too): records below the new offsets were never
    held by this feed, so nothing is known of them.  Without it, every run the tables
    gained is in ``changed`` (only a ``RunCreated``, one run's event, adds a run; the
    events that make ``everything`` alone add none), which the set of run ids the tables
    hold follows (``query/run_ids.py``)."""

    everything: bool = False
    unheld: bool = False
    changed: set[str] = field(default_factory=set)
    points: dict[str, list[_Entry]] = field(default_factory=dict)

    def add(self, run_id: str, entry: _Entry) -> None:
        if entry.payload is None:
            self.changed.add(run_id)
        else:
            self.points.setdefault(run_id, []).append(entry)


class PendingPoints:
    """Polled-but-unapplied metric events per run, dropped once their offsets are applied."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, list[_Entry]] = {}
        self._order: dict[int, deque[tuple[int, str]]] = {}  # per partition: (offset, run)
        # Per partition, the other records held: (offset, the run their event changes, or
        # "" when it may change any run).
        self._others: dict[int, deque[tuple[int, str]]] = {}
        self._applied: dict[int, int] = {}
        self._held: dict[int, int] = {}  # per partition: the greatest offset held

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._runs.values())

    def hold(self, records: Iterable[PolledRecord]) -> None:
        """Keep the metric events (and note the blocking run events) of ``records``."""
        with self._lock:
            for r in records:
                e = r.event
                if r.offset < self._applied.get(r.partition, -1):
                    continue
                # A record polled again (after a failed write the worker seeks back) is
                # held once: a stalled ingest that retries does not grow this.
                if r.offset <= self._held.get(r.partition, -1):
                    continue
                self._held[r.partition] = r.offset
                p = e.payload if e is not None else None
                if e is None or not e.run_id or not isinstance(p, _ONE_RUN):
                    # Undecodable (dead-lettered), or an event that may concern other runs.
                    self._others.setdefault(r.partition, deque()).append((r.offset, ""))
                    continue
                if isinstance(p, ev.MetricsLogged):
                    entry = _Entry(r.partition, r.offset, e.experiment_id, p)
                elif isinstance(p, _BLOCKING):
                    entry = _Entry(r.partition, r.offset, e.experiment_id, None)
                else:
                    self._others.setdefault(r.partition, deque()).append((r.offset, e.run_id))
                    continue
                self._runs.setdefault(e.run_id, []).append(entry)
                self._order.setdefault(r.partition, deque()).append((r.offset, e.run_id))

    def applied(self, offsets: Mapping[int, int]) -> Applied:
        """Everything below ``offsets[p]`` is in the tables: forget it, and tell what the
        tables gained since the offsets recorded before."""
        out = Applied()
        with self._lock:
            for p, end in offsets.items():
                if end <= self._applied.get(p, -1):
                    continue
                if p not in self._applied:
                    out.everything = out.unheld = True  # records below ``end`` never seen
                self._applied[p] = end
                others = self._others.get(p)
                while others and others[0][0] < end:
                    run_id = others.popleft()[1]
                    if run_id:
                        out.changed.add(run_id)
                    else:
                        out.everything = True
                order = self._order.get(p)
                touched: set[str] = set()
                while order and order[0][0] < end:
                    touched.add(order.popleft()[1])
                for run_id in touched:
                    kept = []
                    for x in self._runs[run_id]:
                        if x.partition != p or x.offset >= end:
                            kept.append(x)
                        else:
                            out.add(run_id, x)
                    if kept:
                        self._runs[run_id] = kept
                    else:
                        del self._runs[run_id]
        return out

    def release(self, partitions: Collection[int]) -> None:
        """Forget what was held of ``partitions`` (ingest no longer owns them)."""
        with self._lock:
            for p in partitions:
                self._applied.pop(p, None)
                self._held.pop(p, None)
                self._others.pop(p, None)
                for _, run_id in self._order.pop(p, ()):
                    kept = [x for x in self._runs.get(run_id, ()) if x.partition != p]
                    if kept:
                        self._runs[run_id] = kept
                    else:
                        self._runs.pop(run_id, None)

    def metric_runs(self, experiment_ids: Collection[str] = ()) -> dict[str, PendingRun]:
        """What is pending now of every run whose points may be merged: runs holding
        metric events and no blocking event, with an event of one of ``experiment_ids``
        (empty: of any experiment).  A search takes it *before* reading the tables."""
        wanted = frozenset(experiment_ids)
        out: dict[str, PendingRun] = {}
        with self._lock:
            for run_id, entries in self._runs.items():
                if any(x.payload is None for x in entries):
                    continue
                if wanted and not any(
                    not x.experiment_id or x.experiment_id in wanted for x in entries
                ):
                    continue
                out[run_id] = PendingRun(tuple(entries))
        return out

    def snapshot(self, run_id: str) -> PendingRun:
        """What is pending of ``run_id`` now.  Take it *before* reading the tables: a point
        applied meanwhile is then in one or the other."""
        with self._lock:
            return PendingRun(tuple(self._runs.get(run_id, ())))


@dataclass(frozen=True, slots=True)
class PendingRun:
    entries: tuple[_Entry, ...]

    def latest(self, experiment_id: str) -> dict[str, LatestPoint]:
        """The latest pending point per key, for the run as an active run of
        ``experiment_id`` (empty while one of its pending events may change whether its
        points are kept)."""
        out: dict[str, LatestPoint] = {}
        for x in self.entries:
            if x.payload is None:
                return {}
            if x.experiment_id and x.experiment_id != experiment_id:
                continue  # the projection refuses it (another experiment's event)
            for key, point in x.latest().items():
                have = out.get(key)
                if have is None or later(point, have):
                    out[key] = point
        return out
