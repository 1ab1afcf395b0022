"""The gateway's permission checks: each write names the experiment it touches, and the
caller's principal must hold what the RPC needs there (``runstream.proto.permissions``).

The gateway keeps no state of its own, so what a check needs to know comes from a
:class:`~runstream.proto.permissions.Directory` (the query service):

* an experiment's name and creator, only when the principal's grants and default cannot
  decide without them (admins and plain tokens never cause a lookup);
* a run's experiment, only when the request does not name it.  A request that names the
  wrong experiment for its run gains nothing: ingest refuses an event whose experiment
  header is not its run's (``experiment-mismatch``), so the check on the named experiment
  is the check on the write.

The creator rule needs the creation applied first: the gateway remembers the write token
of each experiment it created lately and, when a check needs that experiment's creator,
asks the directory to wait for that token.  The creator is whoever's ``ExperimentCreated``
ingest applied first, never whom this gateway last saw asking to create it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from runstream.proto.errors import echo
from runstream.proto.permissions import Directory, ExperimentFacts, Permission, Principal
from runstream.proto.tokens import WriteToken
from runstream.proto.v1 import common_pb2
from runstream.proto.vocabulary import DEFAULT_EXPERIMENT_ID

from ..errors import ProducerError

K = TypeVar("K")
V = TypeVar("V")

# Facts of an experiment are kept this long (a rename reaches name grants after at most
# this); the experiment of a run never changes and is kept until evicted.
FACTS_TTL_S = 5.0
REMEMBERED = 10_000


class UnknownRunError(ProducerError):
    """A run-level write for a run the directory does not know (and the request does not
    name its experiment): its experiment, so the permission, cannot be checked."""

    error_code = common_pb2.RESOURCE_DOES_NOT_EXIST


class _Lru(Generic[K, V]):
    """A small thread-safe LRU map."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._items.pop(key, None)


class WriteAccess:
    """Decides whether a principal may make a write; thread-safe, one per gateway.
    ``directory`` None is only for servers whose principals are all admins."""

    def __init__(
        self,
        directory: Directory | None,
        *,
        facts_ttl_s: float = FACTS_TTL_S,
        remembered: int = REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._ttl = facts_ttl_s
        self._clock = clock
        self._facts: _Lru[str, tuple[float, ExperimentFacts]] = _Lru(remembered)
        self._created: _Lru[str, WriteToken] = _Lru(remembered)
        self._runs: _Lru[str, str] = _Lru(remembered)

    # -- what this gateway wrote ------------------------------------------------------------

    def created_experiment(self, experiment_id: str, token: WriteToken) -> None:
        """An ``ExperimentCreated`` this gateway published landed at ``token``."""
        self._created.put(experiment_id, token)
        self._facts.pop(experiment_id)

    def created_run(self, run_id: str, experiment_id: str) -> None:
        """A ``RunCreated`` this gateway published names this experiment (if the run id
        was taken, ingest refuses later events whose header names it: nothing leaks)."""
        self._runs.put(run_id, experiment_id)

    # -- checks -------------------------------------------------------------------------------

    def require_create(self, principal: Principal, name: str) -> None:
        principal.require_create(name)

    def require_experiment(
        self, principal: Principal, needed: Permission, experiment_id: str
    ) -> None:
        """PERMISSION_DENIED unless ``principal`` holds ``needed`` on the experiment."""
        eid = experiment_id or DEFAULT_EXPERIMENT_ID
        if principal.decided_without_facts(eid, needed):
            principal.require(needed, ExperimentFacts(eid))
            return
        principal.require(needed, self._experiment_facts(eid))

    def require_run(
        self, principal: Principal, needed: Permission, run_id: str, experiment_id: str
    ) -> str:
        """Check a write to a run; returns the experiment id its events should carry
        (the request's, else the run's as the directory knows it; "" for an admin that
        did not name one)."""
        if principal.admin:
            return experiment_id
        eid = experiment_id or self._run_experiment(run_id)
        self.require_experiment(principal, needed, eid)
        return eid

    # -- lookups ------------------------------------------------------------------------------

    def _need_directory(self) -> Directory:
        if self._directory is None:  # refused at start; kept as a guard
            raise ProducerError(
                "per-experiment permissions need the query service (--query-url)",
                error_code=common_pb2.INTERNAL_ERROR,
            )
        return self._directory

    def _experiment_facts(self, experiment_id: str) -> ExperimentFacts:
        now = self._clock()
        cached = self._facts.get(experiment_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        created = self._created.get(experiment_id)
        found = self._need_directory().experiment_facts([experiment_id], after=created)
        facts = found.get(experiment_id)
        if facts is None:
            return ExperimentFacts(experiment_id)
        self._facts.put(experiment_id, (now, facts))
        self._created.pop(experiment_id)
        return facts

    def _run_experiment(self, run_id: str) -> str:
        if not run_id:
            return ""
        known = self._runs.get(run_id)
        if known is not None:
            return known
        found = self._need_directory().run_experiments([run_id]).get(run_id)
        if found is None:
            raise UnknownRunError(
                f"run {echo(run_id)} does not exist (or is not applied yet): name its "
                "experiment_id in the request, or retry once it is"
            )
        self._runs.put(run_id, found)
        return found
