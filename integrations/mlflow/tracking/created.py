"""Runs this store has just created, answered as their creation defined them.

``get_run`` right after ``create_run`` is MLflow's habit (the client, the UI, REST callers
alike), and a read that carries the write token waits until ingest applied the creation:
tens of milliseconds on a quiet stack, more while other clients keep ingest busy.  Yet what
the read side will answer for a run nobody has written to since its creation is known in
advance: ingest projects a ``RunCreated`` as sent (its info, its tags; no params, metrics,
inputs or outputs), and refuses it only for a run id that exists (a fresh uuid4) or a
missing experiment id (never sent).

So the run, as created, is kept and answered here while nothing else may have touched it:

* any write of this store that concerns the run (its scope), or the runs of its experiment
  without naming a run (an experiment's delete or restore), or that names no scope, forgets
  it *before* the write is sent, whatever the write's outcome;
* a read of the run from the read side (a get, a search that lists it) forgets it, so a
  caller never sees it go back to an older state;
* it is forgotten after ``max_age_s`` (by then ingest has long applied the creation) and
  beyond ``limit`` runs (the oldest first).

A write another process makes to the run (``mlflow server`` runs several workers, each
with its own store) is not seen here, so ``get_run`` asks the read side first, without
waiting: once ingest has applied the creation, the read side's answer is given. Only while
it does not know the run is the creation answered, and then no later write to the run can
be applied either (a run's events share a partition, after its creation).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from runstream.proto.v1 import common_pb2

from ..rpc import run_scope, runs_scope

DEFAULT_LIMIT = 10_000
DEFAULT_MAX_AGE_S = 10.0


class CreatedRuns:
    """Thread-safe; one per store."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, tuple[float, common_pb2.Run]] = OrderedDict()

    def add(self, run: common_pb2.Run) -> None:
        with self._lock:
            self._runs[run.info.run_id] = (self._clock(), run)
            while len(self._runs) > self._limit:
                self._runs.popitem(last=False)

    def get(self, run_id: str) -> common_pb2.Run | None:
        """The run as created (a copy), or None when it may have changed since."""
        with self._lock:
            known = self._runs.get(run_id)
            if known is None:
                return None
            if self._clock() - known[0] > self._max_age_s:
                del self._runs[run_id]
                return None
            copy = common_pb2.Run()
            copy.CopyFrom(known[1])
            return copy

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def writing(self, scope: Sequence[str]) -> None:
        """A write concerning ``scope`` is about to be sent: forget what it may touch."""
        names = set(scope)
        with self._lock:
            if not names:
                self._runs.clear()
                return
            names_a_run = any(n.startswith(run_scope("")) for n in names)
            for run_id, (_, run) in list(self._runs.items()):
                if run_scope(run_id) in names or (
                    not names_a_run and runs_scope(run.info.experiment_id) in names
                ):
                    del self._runs[run_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)
