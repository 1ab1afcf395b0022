"""Admission: how many reads may be in progress at once, and how many of them may wait for
ingest to apply a write token.

The gRPC server runs calls on a fixed pool of threads, and the all-in-one stack serves the
WriteService from the same pool.  A read that waits, or runs a long query, holds one of
those threads; without a bound, enough of them starve every other call, writes included.
Past a bound a call is refused at once with :class:`OverloadedError` (RESOURCE_EXHAUSTED),
so the threads above it stay free.  Acquiring never blocks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import OverloadedError


class _Bound:
    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._lock = threading.Lock()
        self.active = 0

    def try_enter(self) -> bool:
        with self._lock:
            if self.active >= self.limit:
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.active -= 1


class Admission:
    """``with admission.call():`` around a whole read; ``with admission.waiting():`` around
    a read-your-writes wait inside one; ``with admission.stream():`` around a live tail."""

    def __init__(self, max_calls: int, max_waiting: int, max_streams: int = 4) -> None:
        self._calls = _Bound(max_calls)
        self._waits = _Bound(min(max_waiting, max_calls))
        self._streams = _Bound(max_streams)

    @property
    def calls(self) -> int:
        """Calls in progress now."""
        return self._calls.active

    @property
    def waits(self) -> int:
        """Calls waiting for ingest now."""
        return self._waits.active

    @property
    def streams(self) -> int:
        """Live tails open now."""
        return self._streams.active

    @contextmanager
    def call(self) -> Iterator[None]:
        if not self._calls.try_enter():
            raise OverloadedError(
                f"the query service is busy ({self._calls.limit} calls in progress); retry later"
            )
        try:
            yield
        finally:
            self._calls.leave()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        if not self._waits.try_enter():
            raise OverloadedError(
                f"{self._waits.limit} reads are already waiting for ingest to apply their "
                "write tokens; retry later"
            )
        try:
            yield
        finally:
            self._waits.leave()

    @contextmanager
    def stream(self) -> Iterator[None]:
        """Around a whole live tail: streams have a bound of their own (they last), apart
        from the calls'."""
        if not self._streams.try_enter():
            raise OverloadedError(
                f"{self._streams.limit} live tails are already open on this query service; "
                "retry later"
            )
        try:
            yield
        finally:
            self._streams.leave()
