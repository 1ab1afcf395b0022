"""What the gateway knows of runs, to refuse at the edge what ingest would dead-letter.

Two sources: what this gateway wrote itself (runs it created, params it published, runs it
deleted or restored, and the write token of each) and, when one is given, a
:class:`~.ports.RunDirectory` (the read side).  A run's experiment and params never change
once known; its lifecycle stage does, so with a directory it is asked again after
``lifecycle_ttl_s``, as of the gateway's own writes that set its stage (its creation,
deletes and restores: so the answer includes them).  Params the gateway published win over
the read side's, so its logging to a run is not waited for: a run logged to without pause
is asked again without waiting for ingest to catch up with that logging (such waits held
the query side's few waiting slots and made other callers' reads retry).  Bounded: the
least recently used runs are forgotten beyond ``cache_runs``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from runstream.proto.errors import RunstreamError, echo
from runstream.proto.tokens import WriteToken
from runstream.proto.vocabulary import ACTIVE, DELETED

from ..errors import InvalidStateError, NotFoundError, ValidationError
from .ports import RunDirectory

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Known:
    """What the gateway knows of a run.  ``experiment_id`` and params never change;
    ``stage`` does, so it is asked again after ``lifecycle_ttl_s`` when a directory exists."""

    experiment_id: str
    params: dict[str, str]
    stage: str
    checked_at: float
    written: WriteToken = field(default_factory=WriteToken)  # this gateway's writes to it
    # of those, the ones that set its stage (create, delete, restore): what a question waits for
    staged: WriteToken = field(default_factory=WriteToken)


class RunChecks:
    """Thread-safe; one per gateway."""

    def __init__(
        self,
        directory: RunDirectory | None = None,
        lifecycle_ttl_s: float = 1.0,
        cache_runs: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._ttl = lifecycle_ttl_s
        self._cache_runs = cache_runs
        self._clock = clock
        self._known: OrderedDict[str, Known] = OrderedDict()
        self._known_lock = threading.Lock()
        self._written = WriteToken()  # every write this gateway had acknowledged

    def wrote(self, token: WriteToken) -> None:
        """A write of this gateway was acknowledged (any run or experiment)."""
        with self._known_lock:
            self._written = self._written.merge(token)

    def _facts(self, run_id: str) -> Known | None:
        with self._known_lock:
            known = self._known.get(run_id)
            if known is not None:
                self._known.move_to_end(run_id)
            everything = self._written
        if self._directory is None:
            return known
        if known is not None and self._clock() - known.checked_at < self._ttl:
            return known
        try:  # as of our own stage writes to the run; a run not seen here: of all our writes
            facts = self._directory.run_facts(run_id, known.staged if known else WriteToken())
            if facts is None and known is None and everything.offsets:
                facts = self._directory.run_facts(run_id, everything)
        except RunstreamError as exc:  # the read side cannot say: ingest remains the check
            logger.warning("cannot ask the read side about run %s: %s", run_id, exc)
            return known
        if facts is None:
            if known is not None:  # created here, not yet readable: what we know holds
                return known
            raise NotFoundError(f"run {echo(run_id)} does not exist")
        fresh = Known(
            facts.experiment_id,
            {**dict(facts.params), **(known.params if known else {})},
            facts.lifecycle_stage,
            self._clock(),
            known.written if known else WriteToken(),
            known.staged if known else WriteToken(),
        )
        self._remember(run_id, fresh)
        return fresh

    def _remember(self, run_id: str, known: Known) -> None:
        with self._known_lock:
            self._known[run_id] = known
            self._known.move_to_end(run_id)
            while len(self._known) > self._cache_runs:
                self._known.popitem(last=False)

    def learn(
        self,
        run_id: str,
        token: WriteToken,
        *,
        experiment_id: str | None = None,
        stage: str | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        """Record what this gateway itself wrote (once Kafka acknowledged it)."""
        with self._known_lock:
            known = self._known.get(run_id)
        if known is None:
            if experiment_id is None:
                return  # a run we know nothing else of: the directory answers next time
            known = Known(experiment_id, {}, ACTIVE, self._clock())
        if stage is not None:
            known.stage, known.checked_at = stage, self._clock()
            known.staged = known.staged.merge(token)
        if params:
            known.params.update(params)
        known.written = known.written.merge(token)
        self._remember(run_id, known)

    def check(
        self, run_id: str, experiment_id: str, *, active: bool, prefix: str = ""
    ) -> Known | None:
        """Refuse a write to ``run_id`` that ingest would refuse, as far as known."""
        known = self._facts(run_id)
        if known is None:
            return None
        if experiment_id and experiment_id != known.experiment_id:
            raise ValidationError.of(
                f"{prefix}experiment_id",
                f"run {echo(run_id)} belongs to experiment {echo(known.experiment_id)}, "
                f"not {echo(experiment_id)}",
            )
        if active and known.stage == DELETED:
            raise InvalidStateError(
                f"run {echo(run_id)} is deleted: it must be active to be written to "
                "(restore it first)"
            )
        return known
