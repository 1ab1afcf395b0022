"""Read-your-writes: wait until ingest has applied a write token.

Ingest records, per (topic, partition), the next offset it will apply (everything below
is in the tables).  A token lists, per partition, the offset of the write's last event;
it is applied once ``next_offset > offset`` for every listed partition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from runstream.proto.tokens import APPLIED_OFFSETS_SQL, WaitToken

from .errors import DeadlineExceeded
from .ports import SqlPort
from .sql_text import Sql

logger = logging.getLogger(__name__)

_FIRST_POLL_S = 0.005
_MAX_POLL_S = 0.1


def offsets_sql(topic: str, partitions: list[int]) -> Sql:
    return Sql(APPLIED_OFFSETS_SQL, {"topic": topic, "partitions": partitions})


def pending(token: WaitToken, applied: dict[int, int]) -> dict[int, int]:
    """Partitions (-> offset needed) that ingest has not applied yet."""
    return {p: o for p, o in token.offsets.items() if applied.get(p, -1) <= o}


def wait_for_token(
    store: SqlPort,
    token: WaitToken,
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once ``token`` is applied; raise :class:`DeadlineExceeded` after ``timeout_s``."""
    if not token.offsets:
        return
    deadline = clock() + max(0.0, timeout_s)
    sql = offsets_sql(token.topic, sorted(token.offsets))
    delay = _FIRST_POLL_S
    while True:
        applied = {int(p): int(o) for p, o in store.rows(sql)}
        missing = pending(token, applied)
        if not missing:
            return
        now = clock()
        if now >= deadline:
            detail = ", ".join(
                f"partition {p} needs offset {o} (applied up to {applied.get(p, 0) - 1})"
                for p, o in sorted(missing.items())
            )
            raise DeadlineExceeded(
                f"ingest has not applied the write token within {timeout_s:.3f} s: {detail}"
            )
        sleep(min(delay, deadline - now))
        delay = min(delay * 2, _MAX_POLL_S)
