"""GetRun's answers, kept while ingest applied nothing but new points to their runs.

Only with an :class:`~runstream.proto.applied.AppliedFeed`: the tables change only when the
ingest worker of this process records applied offsets, and every such change moves the
feed's version and tells this cache what the tables gained
(:class:`~runstream.proto.pending.Applied`).  An answer read after the version was taken is
at least that current.  When the version moves:

* a run that gained only metric points keeps its answer, with those points merged in by
  the rule ingest's latest-metric table follows (``query/pending_merge.py``: the greatest
  (step, timestamp, value); only into an active run of the events' experiment, as ingest
  refuses the others).  Merging a point the answer already counts changes nothing, so an
  answer read while those points were being written is still exact;
* a run any other event was applied to (params, tags, status, lifecycle...) loses it;
* every answer goes when an event that may concern other runs was applied (an experiment's,
  the registry's, datasets or models), or records the feed never held (its first offsets
  for a partition).

MLflow's UI and clients poll ``get_run``; while a run only logs metrics those polls cost a
dictionary lookup instead of the reader's statements (two, four once datasets or model
links exist), and leave the engine's time to ingest.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from runstream.proto.applied import AppliedFeed
from runstream.proto.pending import Applied, PendingRun

from .entities import Run
from .pending_merge import with_pending

DEFAULT_CAPACITY = 1024


class RunCache:
    def __init__(self, feed: AppliedFeed, capacity: int = DEFAULT_CAPACITY) -> None:
        self._feed = feed
        self._capacity = max(1, capacity)
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self.hits = 0
        self.merged = 0  # answers kept across a version by merging applied points
        with self._lock:
            self._version = feed.version
            feed.listen(self._applied)

    def stamp(self) -> int:
        """Take before reading the tables; hand back to :meth:`put`."""
        return self._feed.version

    def get(self, run_id: str) -> Run | None:
        version = self._feed.version
        with self._lock:
            if version != self._version:
                return None  # the feed moved and has not told this cache yet
            run = self._runs.get(run_id)
            if run is not None:
                self._runs.move_to_end(run_id)
                self.hits += 1
            return run

    def put(self, run_id: str, stamp: int, run: Run) -> None:
        with self._lock:
            if stamp != self._version or stamp != self._feed.version:
                return  # applied moved while the tables were read: not kept
            self._runs[run_id] = run
            self._runs.move_to_end(run_id)
            while len(self._runs) > self._capacity:
                self._runs.popitem(last=False)

    def _applied(self, version: int, gained: Applied) -> None:
        """The feed moved to ``version``; the tables gained ``gained``."""
        with self._lock:
            self._version = version
            if gained.everything:
                self._runs.clear()
                return
            for run_id in gained.changed:
                self._runs.pop(run_id, None)
            for run_id, entries in gained.points.items():
                run = self._runs.get(run_id)  # a changed run's answer is gone already
                if run is not None:
                    self._runs[run_id] = with_pending(run, PendingRun(tuple(entries)))
                    self.merged += 1
