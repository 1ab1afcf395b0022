"""Read-your-writes: wait until ingest has applied a write token.

Ingest records, per (topic, partition), the next offset it will apply (everything below
is in the tables).  A token lists, per partition, the offset of the write's last event;
it is applied once ``next_offset > offset`` for every listed partition.

A token is client input, so it is checked before anyone waits on it: it must name the
service's topic, partitions the topic has, and offsets below the log's end (an offset at
or past the end was never written: waiting for it could only time out).  Waits are capped
by the caller, stop as soon as the call ends (``stop``), and take a slot of the
``Admission`` bound, so waiting reads cannot hold every server thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from runstream.proto.applied import AppliedFeed
from runstream.proto.tokens import APPLIED_OFFSETS_SQL, WaitToken

from .admission import Admission
from .errors import DeadlineExceeded, InvalidRequestError, LogUnavailableError, clip
from .ports import LogEndPort, SqlPort
from .sql_text import Sql

logger = logging.getLogger(__name__)

_FIRST_POLL_S = 0.005
_MAX_POLL_S = 0.05
MAX_TOKEN_PARTITIONS = 10_000
_INT32_MAX = 2**31 - 1


class Stop(Protocol):
    """Set when the call that waits has ended (``threading.Event`` is one)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def offsets_sql(topic: str, partitions: list[int]) -> Sql:
    return Sql(APPLIED_OFFSETS_SQL, {"topic": topic, "partitions": partitions})


def pending(token: WaitToken, applied: dict[int, int]) -> dict[int, int]:
    """Partitions (-> offset needed) that ingest has not applied yet."""
    return {p: o for p, o in token.offsets.items() if applied.get(p, -1) <= o}


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def _timed_out(token: WaitToken, applied: dict[int, int], timeout_s: float) -> DeadlineExceeded:
    missing = pending(token, applied)
    shown = sorted(missing.items())[:10]
    detail = ", ".join(
        f"partition {p} needs offset {o} (applied up to {applied.get(p, 0) - 1})" for p, o in shown
    )
    more = f" and {len(missing) - len(shown)} more" if len(missing) > len(shown) else ""
    return DeadlineExceeded(
        f"ingest has not applied the write token within {timeout_s:.3f} s: {detail}{more}"
    )


def wait_for_token(
    store: SqlPort,
    token: WaitToken,
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], bool] = _sleep,
) -> None:
    """Return once ``token`` is applied; raise :class:`DeadlineExceeded` after ``timeout_s``,
    or as soon as ``pause`` (which sleeps between polls) returns True: the caller is gone."""
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
            raise _timed_out(token, applied, timeout_s)
        if pause(min(delay, deadline - now)):
            raise DeadlineExceeded("the call ended while it waited for ingest")
        delay = min(delay * 2, _MAX_POLL_S)


class LogEnds:
    """Checks tokens against the end of the log.

    Ends only grow, so the last end seen per partition is kept: a token below it needs no
    question to the log.  One question at a time; after the log failed to answer, none for
    ``retry_s`` (tokens are then not checked: their waits stay capped and bounded).
    """

    def __init__(
        self,
        port: LogEndPort | None,
        *,
        retry_s: float = 5.0,
        lock_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._port = port
        self._retry_s = retry_s
        self._lock_timeout_s = lock_timeout_s
        self._clock = clock
        self._ends: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self.questions = 0  # questions asked of the log (for tests and logs)

    def _ask(self, topic: str, partitions: list[int]) -> dict[int, int] | None:
        """Fresh ends, or None when the log cannot tell now."""
        if self._port is None:
            return None
        if not self._lock.acquire(timeout=self._lock_timeout_s):
            return None
        try:
            if self._failed_at is not None and self._clock() - self._failed_at < self._retry_s:
                return None
            self.questions += 1
            try:
                ends = self._port.end_offsets(topic, partitions)
            except LogUnavailableError as exc:
                self._failed_at = self._clock()
                logger.warning("write tokens are not checked against the log for now: %s", exc)
                return None
            self._failed_at = None
            for p, end in ends.items():
                key = (topic, p)
                self._ends[key] = max(end, self._ends.get(key, 0))
            return ends
        finally:
            self._lock.release()

    def check(self, token: WaitToken) -> None:
        """Raise :class:`InvalidRequestError` for a partition the topic does not have or an
        offset the log has not reached; return when the token is within the log, or when
        the log cannot tell."""
        if self._port is None:
            return
        beyond = [p for p, o in token.offsets.items() if o >= self._ends.get((token.topic, p), 0)]
        if not beyond:
            return
        ends = self._ask(token.topic, sorted(beyond))
        if ends is None:
            return
        absent = sorted(p for p in beyond if p not in ends)
        if absent:
            listed = ", ".join(str(p) for p in absent[:10])
            raise InvalidRequestError(
                f"write token names partitions that topic {clip(token.topic)!r} does not have: "
                f"{listed}{' ...' if len(absent) > 10 else ''}"
            )
        past = sorted((p, token.offsets[p], ends[p]) for p in beyond if token.offsets[p] >= ends[p])
        if past:
            p, o, end = past[0]
            raise InvalidRequestError(
                f"write token is beyond the end of the log: partition {p} offset {o}, but the "
                f"log ends at {end}{f' ({len(past) - 1} more)' if len(past) > 1 else ''}; "
                "use a token a write returned"
            )


class TokenWaiter:
    """Checks a token, then waits for it within a slot of ``admission``.

    With an :class:`~runstream.proto.applied.AppliedFeed` (an ingest worker in the same
    process is the only writer of the tables) the wait wakes when the worker records the
    offsets instead of polling ``ingest_offsets``; the table is still read once first, and
    what it says is published to the feed."""

    def __init__(
        self,
        store: SqlPort,
        topic: str,
        log_ends: LogEnds,
        admission: Admission,
        *,
        clock: Callable[[], float] = time.monotonic,
        feed: AppliedFeed | None = None,
    ) -> None:
        self._store = store
        self._topic = topic
        self._log_ends = log_ends
        self._admission = admission
        self._clock = clock
        self._feed = feed if feed is not None and feed.topic == topic else None

    def validate(self, token: WaitToken) -> WaitToken:
        """``token`` with the service's topic, or InvalidRequestError."""
        topic = token.topic or self._topic
        if topic != self._topic:
            raise InvalidRequestError(
                f"write token names topic {clip(topic)!r}; this service reads {self._topic!r}"
            )
        if len(token.offsets) > MAX_TOKEN_PARTITIONS:
            raise InvalidRequestError(
                f"write token lists {len(token.offsets)} partitions; at most {MAX_TOKEN_PARTITIONS}"
            )
        bad = sorted(p for p in token.offsets if not 0 <= p <= _INT32_MAX)
        if bad:
            raise InvalidRequestError(f"write token names partition {bad[0]}: not a partition")
        return WaitToken(topic, dict(token.offsets))

    def wait(self, token: WaitToken, timeout_s: float, stop: Stop | None = None) -> None:
        if not token.offsets:
            return
        token = self.validate(token)
        feed = self._feed
        if feed is not None and not pending(token, feed.applied()):
            return  # applied, as the worker of this process recorded it
        sql = offsets_sql(token.topic, sorted(token.offsets))
        applied = {int(p): int(o) for p, o in self._store.rows(sql)}
        if feed is not None:
            feed.publish(applied)
        if not pending(token, applied):
            return
        self._log_ends.check(token)
        pause = stop.wait if stop is not None else _sleep
        if stop is not None and stop.is_set():
            raise DeadlineExceeded("the call ended before it waited for ingest")
        with self._admission.waiting():
            if feed is None:
                wait_for_token(self._store, token, timeout_s, clock=self._clock, pause=pause)
                return
            stopped = stop.is_set if stop is not None else (lambda: False)
            if feed.wait_applied(token.offsets, timeout_s, stopped):
                return
            if stopped():
                raise DeadlineExceeded("the call ended while it waited for ingest")
            raise _timed_out(token, feed.applied(), timeout_s)
