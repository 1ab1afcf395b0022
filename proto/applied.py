"""What ingest has applied, told in process.

When an ingest worker and a query service run in one process on an embedded ClickHouse
(``runstream up`` on chDB: chDB locks its directory to one process, so nothing else writes
those tables), the worker tells an :class:`AppliedFeed` each time it has recorded applied
offsets, and the query service learns them without asking the ``ingest_offsets`` table:
a read that carries a write token wakes as soon as its offsets are applied instead of
polling, and answers kept since the last change are known to be current.

The feed only ever grows (the later offset per partition wins), so offsets read from the
table can be published to it as well.  Its ``version`` changes whenever an offset moved.

The worker also hands it what it polls (:meth:`AppliedFeed.hold`): the metric points not
yet applied are kept in :attr:`AppliedFeed.pending` until they are (``proto/pending.py``),
and each move of the applied offsets tells its listeners (:meth:`AppliedFeed.listen`) what
the tables gained (a :class:`~runstream.proto.pending.Applied`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping

from .pending import Applied, PendingPoints, PolledRecord

# Told, inside ``publish``, the new version and what the tables gained up to it.
AppliedCallback = Callable[[int, Applied], None]

_SLICE_S = 0.05  # how often a wait looks at its ``stopped`` callback


class AppliedFeed:
    """Next offset to apply per partition of ``topic``, as ingest recorded it."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._cond = threading.Condition()
        self._applied: dict[int, int] = {}
        self._version = 0
        self.pending = PendingPoints()
        self._listeners: list[AppliedCallback] = []

    @property
    def version(self) -> int:
        """Changes (grows) whenever an applied offset moved."""
        return self._version

    def publish(self, offsets: Mapping[int, int]) -> None:
        """Record that everything below ``offsets[p]`` is written, per partition ``p``."""
        with self._cond:
            moved = False
            for p, o in offsets.items():
                if o > self._applied.get(p, -1):
                    self._applied[p] = o
                    moved = True
            if moved:
                self._version += 1
                # After the version moved: a reader that misses these points among the
                # pending ones finds its kept answers stale and reads the tables, until
                # the listeners have caught up with the version.
                gained = self.pending.applied(offsets)
                for listener in self._listeners:
                    listener(self._version, gained)
                self._cond.notify_all()

    def listen(self, listener: AppliedCallback) -> None:
        """Call ``listener(version, gained)`` each time the version moves (under the feed's
        lock: it must be quick and must not call back into the feed)."""
        with self._cond:
            self._listeners.append(listener)

    def hold(self, records: Iterable[PolledRecord]) -> None:
        """Records ingest polled and will apply (their metric points become pending)."""
        self.pending.hold(records)

    def release(self, partitions: Collection[int]) -> None:
        """Partitions ingest no longer owns: their pending points are not shown."""
        self.pending.release(partitions)

    def applied(self) -> dict[int, int]:
        with self._cond:
            return dict(self._applied)

    def wait_applied(
        self,
        offsets: Mapping[int, int],
        timeout_s: float,
        stopped: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Block until every partition's applied offset is past ``offsets[p]`` (True), or
        until ``timeout_s`` passed or ``stopped()`` is true (False)."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while True:
                if all(self._applied.get(p, -1) > o for p, o in offsets.items()):
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or stopped():
                    return False
                self._cond.wait(min(left, _SLICE_S))
