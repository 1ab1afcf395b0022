"""The event log's retention against what the tables applied.

With a finite retention on the events topic, the log starts at some offset > 0.  The
tables can be completed from the log only while, in every partition, the log starts at or
before the next offset they need (``ingest_offsets``; 0 for a fresh database).  A worker or
replay that starts past a gap refuses to go on (:class:`~.errors.LogTruncated`), unless
told to accept it: events deleted by retention before they were applied are lost for the
tables, and only a snapshot taken after them brings them back (``docs/operations.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from .batch import Progress
from .errors import LogTruncated

logger = logging.getLogger(__name__)


def log_gaps(
    parts: Sequence[int], progress: Mapping[int, Progress], log_start: Mapping[int, int]
) -> dict[int, tuple[int, int]]:
    """Partition -> (next offset the tables need, where the log starts), for the partitions
    whose log starts past it.  Partitions missing from ``log_start`` are not checked (a
    replay from offsets the caller chose)."""
    gaps: dict[int, tuple[int, int]] = {}
    for p in parts:
        if p not in log_start:
            continue
        incomplete = progress[p].incomplete
        needed = incomplete.first if incomplete is not None else progress[p].next_offset or 0
        if log_start[p] > needed:
            gaps[p] = (needed, log_start[p])
    return gaps


def check_log_start(
    topic: str,
    parts: Sequence[int],
    progress: Mapping[int, Progress],
    log_start: Mapping[int, int],
    *,
    allow: bool,
) -> dict[int, tuple[int, int]]:
    """Raise :class:`LogTruncated` on a gap (see :func:`log_gaps`), or with ``allow`` log it
    as an error and return it."""
    gaps = log_gaps(parts, progress, log_start)
    if not gaps:
        return gaps
    detail = ", ".join(f"partition {p} needs {n}, log starts at {b}" for p, (n, b) in gaps.items())
    message = (
        f"topic {topic} no longer holds events the tables have not applied ({detail}): "
        "retention deleted them, so the tables cannot be rebuilt from the log"
    )
    if not allow:
        raise LogTruncated(
            f"{message}; restore a snapshot taken after those offsets (runstream snapshot "
            "restore), or set RUNSTREAM_INGEST_ALLOW_LOG_GAP=1 to go on from the log start "
            "without them"
        )
    logger.error("%s; going on from the log start (RUNSTREAM_INGEST_ALLOW_LOG_GAP)", message)
    return gaps
