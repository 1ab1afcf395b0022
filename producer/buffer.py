"""The bounded in-memory buffer between log calls and the sender thread.

Log calls append and return; the sender takes everything at once, in order.  Capacity is
counted in points (a run-level event counts as one) from the moment a point is put until
the sender *releases* it (acknowledged by Kafka, or safely in the spool), so a broker
outage fills the buffer and the policy decides: ``block`` (default) waits for room,
``raise`` raises :class:`~runstream.producer.errors.BufferFullError`.  Points are never
dropped to make room.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from runstream.proto.contexts import Context
from runstream.proto.events import Payload

from .columns import Chunk
from .errors import BufferFullError, InvalidStateError

logger = logging.getLogger(__name__)

_WARN_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class Control:
    """A run-level or experiment-level event, kept in order with the points around it."""

    run_id: str
    experiment_id: str
    payload: Payload
    client_ts: int


class RowBlock:
    """Consecutive scalar points of one run, as parallel lists (cheap to append to,
    cheap to turn into numpy columns)."""

    __slots__ = ("run_id", "context", "keys", "values", "steps", "timestamps")

    def __init__(self, run_id: str, context: Context = ()) -> None:
        self.run_id = run_id
        self.context = context
        self.keys: list[str] = []
        self.values: list[float] = []
        self.steps: list[int] = []
        self.timestamps: list[int] = []

    def __len__(self) -> int:
        return len(self.values)


Entry: TypeAlias = RowBlock | Chunk | Control


class EventBuffer:
    """Thread-safe, bounded, ordered.  One consumer (the sender) calls :meth:`take` and
    :meth:`release`; any number of producers put.

    Counters are in points and only grow: ``put`` (points put), ``taken`` (points the
    sender took), ``released`` (points it delivered); a flush waits for ``released`` to
    reach the ``put`` it saw."""

    def __init__(
        self,
        capacity: int,
        policy: str = "block",
        block_timeout_s: float | None = None,
        wake_at: int = 100_000,
        wake: Callable[[], None] = lambda: None,
        eager: bool = False,
    ) -> None:
        self.capacity = capacity
        self.policy = policy
        self.block_timeout_s = block_timeout_s
        self._wake_at = wake_at
        self._wake = wake
        # eager (Nagle's rule): the first entry after the sender's last take wakes it, so an
        # idle sender sends at once and a busy one sends what came meanwhile right after
        self._wake_first = 1 if eager else wake_at
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._entries: list[Entry] = []
        self._block: RowBlock | None = None
        self._put = 0
        self._taken = 0
        self._released = 0
        self._closed = False
        self.stuck_reason: Callable[[], str | None] = lambda: None

    # -- producers ------------------------------------------------------------------------

    def put_row(
        self,
        run_id: str,
        key: str,
        value: float,
        step: int,
        timestamp: int,
        context: Context = (),
    ) -> None:
        """One scalar point (the hot path of ``log_metric``) under a checked context."""
        with self._lock:
            put = self._put
            if put - self._released >= self.capacity or self._closed:
                self._admit(1)
                put = self._put
            block = self._block
            if block is None or block.run_id != run_id or block.context != context:
                block = self._block = RowBlock(run_id, context)
                self._entries.append(block)
            block.keys.append(key)
            block.values.append(value)
            block.steps.append(step)
            block.timestamps.append(timestamp)
            self._put = put + 1
            waiting = put + 1 - self._taken
            wake = waiting == self._wake_first or waiting == self._wake_at
        if wake:
            self._wake()

    def put(self, entry: Chunk | Control) -> None:
        points = len(entry) if isinstance(entry, Chunk) else 1
        with self._lock:
            if self._put - self._released + points > self.capacity or self._closed:
                self._admit(points)
            self._entries.append(entry)
            self._block = None
            before = self._put - self._taken
            self._put += points
            wake = before < self._wake_at <= before + points or (
                before == 0 and self._wake_first == 1
            )
        if wake:
            self._wake()

    def _admit(self, points: int) -> None:
        """Wait (lock held) until ``points`` fit, or raise per policy."""
        if self._closed:
            raise InvalidStateError("the producer is closed")
        if self._fits(points):
            return
        if self.policy == "raise":
            raise BufferFullError(self._full_message(points))
        started = time.monotonic()
        warned = started
        while not self._fits(points):
            waited = time.monotonic() - started
            if self.block_timeout_s is not None and waited >= self.block_timeout_s:
                raise BufferFullError(self._full_message(points, waited))
            self._changed.wait(_WARN_EVERY_S / 10)
            if self._closed:
                raise InvalidStateError("the producer is closed")
            if time.monotonic() - warned >= _WARN_EVERY_S:
                warned = time.monotonic()
                logger.warning(
                    "log call blocked for %.0f s: %s", warned - started, self._full_message(points)
                )

    def _fits(self, points: int) -> bool:
        held = self._put - self._released
        return held == 0 or held + points <= self.capacity

    def _full_message(self, points: int, waited: float | None = None) -> str:
        reason = self.stuck_reason() or "the sender has not caught up yet"
        after = f" after waiting {waited:.1f} s" if waited is not None else ""
        held = self._put - self._released
        return (
            f"buffer full{after}: {held} of {self.capacity} points are waiting for "
            f"acknowledgement, {points} more do not fit; cause: {reason}"
        )

    # -- the sender -----------------------------------------------------------------------

    def take(self) -> tuple[list[Entry], int]:
        """Everything put so far, in order, and the ``put`` count it reaches."""
        with self._lock:
            entries, self._entries, self._block = self._entries, [], None
            self._taken = self._put
            return entries, self._put

    def release(self, upto: int) -> None:
        """Everything up to ``upto`` (a count from :meth:`take`) is delivered (or given up):
        free its room and wake flushes."""
        with self._lock:
            self._released = max(self._released, upto)
            self._changed.notify_all()

    # -- flush and close ------------------------------------------------------------------

    @property
    def ticket(self) -> int:
        with self._lock:
            return self._put

    @property
    def fresh(self) -> int:
        """Points put and not yet taken by the sender."""
        with self._lock:
            return self._put - self._taken

    @property
    def held(self) -> int:
        """Points put and not yet released."""
        with self._lock:
            return self._put - self._released

    def wait_released(self, ticket: int, timeout: float | None) -> bool:
        """Block until everything up to ``ticket`` is released; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._released < ticket:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining if remaining is not None else 1.0)
            return True

    def close(self) -> None:
        """Refuse further puts (waiting ones are woken and refused)."""
        with self._lock:
            self._closed = True
            self._changed.notify_all()
