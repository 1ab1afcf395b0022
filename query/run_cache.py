"""GetRun's answers, kept while ingest applied nothing new.

Only with an :class:`~runstream.proto.applied.AppliedFeed`: the tables change only when the
ingest worker of this process records applied offsets, and every such change moves the
feed's version.  An answer read after the version was taken is at least that current, so
it answers every later call made while the version has not moved; the first recorded
offset after it (any partition, any run) drops every answer.  MLflow's UI and clients poll
``get_run``; between two ingest flushes those polls cost a dictionary lookup instead of
the reader's statements (two, four once datasets or model links exist), and leave the
engine's time to ingest.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from runstream.proto.applied import AppliedFeed

from .entities import Run

DEFAULT_CAPACITY = 1024


class RunCache:
    def __init__(self, feed: AppliedFeed, capacity: int = DEFAULT_CAPACITY) -> None:
        self._feed = feed
        self._capacity = max(1, capacity)
        self._lock = threading.Lock()
        self._version = -1
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self.hits = 0

    def stamp(self) -> int:
        """Take before reading the tables; hand back to :meth:`put`."""
        return self._feed.version

    def get(self, run_id: str) -> Run | None:
        version = self._feed.version
        with self._lock:
            if version != self._version:
                self._runs.clear()
                self._version = version
                return None
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
