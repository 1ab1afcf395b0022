"""The gateway's :class:`~runstream.producer.gateway.RunDirectory`, answered by the query
side of the same process (``runstream up``): the gateway refuses at the edge a write to a
run that does not exist or is deleted, under another experiment, or a conflicting param.

The read waits (bounded) until the read side has applied the token the gateway gives:
the gateway's own writes to that run (or, for a run it has not seen, all its writes), so
a run created, deleted or given params through the gateway a moment ago is seen as the
gateway left it.
"""

from __future__ import annotations

import logging

from runstream.producer.gateway import RunFacts
from runstream.proto.tokens import WaitToken, WriteToken
from runstream.query import DeadlineExceeded, NotFoundError, QueryService

logger = logging.getLogger(__name__)

WAIT_S = 5.0


class QueryRunDirectory:
    """Run facts from a :class:`QueryService` (a RunDirectory)."""

    def __init__(self, service: QueryService, wait_s: float = WAIT_S) -> None:
        self._service = service
        self._wait_s = wait_s

    def _read(self, run_id: str) -> RunFacts | None:
        try:
            run = self._service.get_run(run_id)
        except NotFoundError:
            return None
        info = run.info
        return RunFacts(info.run_id, info.experiment_id, info.lifecycle_stage, dict(run.params))

    def run_facts(self, run_id: str, after: WriteToken) -> RunFacts | None:
        if after.offsets:
            try:
                self._service.wait(WaitToken(after.topic, dict(after.offsets)), self._wait_s)
            except DeadlineExceeded:
                logger.warning("read side behind the gateway's writes after %.1f s", self._wait_s)
        return self._read(run_id)
