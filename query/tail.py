"""The live tail: a run's (or an experiment's) applied events, in log order, from a cursor.

How the query service learns of new data: after each durable write, ingest records the next
offset to apply per partition in ``ingest_offsets`` (``runstream.proto.tokens``).  One
:class:`AppliedWatch` per service polls it (every ``tail_poll_s``, only while streams are
open) and wakes the streams when it moves.

Each stream keeps its own cursor: per partition, the next offset to deliver.  A round reads
the events of the stream's run (or experiment) in ``[cursor, applied)`` from
``audit_events`` (one row per event ingest decoded, keyed by its place in the log; outcome
``applied`` for the events ingest took, so resends and dead letters stay out), at most
``max_events`` of them, then those events themselves from Kafka (:class:`RecordsPort`),
decoded with the shared codec.  What it delivers is exactly what ingest applied, each event
once: the position after every message is a write token, and a stream started with one
begins exactly after it.

Backpressure: a stream reads only when its reader took the previous message, so a reader
that stops costs nothing but its own thread.  A message that waited longer than ``stall_s``
to be taken ends the stream with :class:`SlowReaderError` (RESOURCE_EXHAUSTED) as soon as
it is taken; a reader that takes nothing for ``abandon_s`` has its call cancelled by the
watch.  Ingest never waits for a stream: it does not know they exist.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from runstream.proto.codec import EventCodec
from runstream.proto.tokens import WaitToken, WriteToken
from runstream.proto.vocabulary import AUDIT_APPLIED

from .errors import SlowReaderError, StoreUnavailableError
from .ports import SqlPort
from .sql_text import Binder, Sql
from .tail_events import TailBatch, TailChange, TailPoint, deliverable

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_ROUND = 1_000  # events read per round (then the stream sends, and reads on)
MAX_POINTS_PER_MESSAGE = 10_000  # a message closes past this (never inside an event)


class RecordsPort(Protocol):
    def read(self, topic: str, partition: int, offsets: list[int]) -> dict[int, bytes]:
        """The values of the records at ``offsets`` (sorted) of one partition.  Raises
        :class:`~.errors.TailUnavailableError` when the log no longer holds one of them,
        :class:`~.errors.LogUnavailableError` when Kafka cannot be read now."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TailTarget:
    """What a stream follows: one run, or every run of one experiment."""

    run_id: str = ""
    experiment_id: str = ""


def applied_sql(topic: str) -> Sql:
    b = Binder()
    return b.sql(
        "SELECT partition, max(next_offset) FROM ingest_offsets "
        f"WHERE topic = {b.bind(topic, 'String')} GROUP BY partition"
    )


def events_sql(
    topic: str, target: TailTarget, ranges: Mapping[int, tuple[int, int]], limit: int
) -> Sql:
    """The offsets of the applied events of ``target`` in ``ranges`` (partition -> [first,
    end)), in log order, at most ``limit``."""
    b = Binder()
    if target.run_id:
        who = f"run_id = {b.bind(target.run_id, 'String')}"
    else:  # a process that joined a run by its id alone writes events without experiment id
        experiment = target.experiment_id
        who = (
            f"run_id != '' AND (experiment_id = {b.bind(experiment, 'String')} OR run_id IN "
            f"(SELECT run_id FROM runs WHERE experiment_id = {b.bind(experiment, 'String')}))"
        )
    where = " OR ".join(
        f"(partition = {b.bind(p, 'Int64')} AND offset >= {b.bind(a, 'Int64')} "
        f"AND offset < {b.bind(e, 'Int64')})"
        for p, (a, e) in sorted(ranges.items())
    )
    return b.sql(
        "SELECT partition, offset FROM audit_events "
        f"WHERE topic = {b.bind(topic, 'String')} "
        f"AND outcome = {b.bind(AUDIT_APPLIED, 'String')} AND {who} AND ({where}) "
        f"GROUP BY partition, offset ORDER BY partition, offset LIMIT {int(limit)}"
    )


@dataclass(eq=False)
class OpenStream:
    """A stream as the watch sees it: since when its message waits to be taken."""

    cancel: Callable[[], object]
    sending_since: float | None = None
    abandoned: bool = False


class AppliedWatch:
    """What ingest has applied per partition of ``topic``, polled while streams are open;
    also cancels the calls of streams whose reader took nothing for ``abandon_s``."""

    def __init__(
        self,
        store: SqlPort,
        topic: str,
        poll_s: float,
        abandon_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._topic = topic
        self._poll_s = poll_s
        self._abandon_s = abandon_s
        self._clock = clock
        self._cond = threading.Condition()
        self._applied: dict[int, int] = {}
        self.version = 0
        self._streams: set[OpenStream] = set()
        self._thread: threading.Thread | None = None
        self._closed = False

    def read_now(self) -> dict[int, int]:
        """Ask the table now (a stream's start); the answer is kept for every stream."""
        rows = self._store.rows(applied_sql(self._topic))
        self._publish({int(p): int(o) for p, o in rows})
        with self._cond:
            return dict(self._applied)

    def _publish(self, applied: dict[int, int]) -> None:
        with self._cond:
            merged = dict(self._applied)
            for p, o in applied.items():
                merged[p] = max(o, merged.get(p, 0))  # applied offsets only grow
            if merged != self._applied:
                self._applied = merged
                self.version += 1
                self._cond.notify_all()

    def current(self) -> tuple[int, dict[int, int]]:
        """The version and the applied offsets last seen."""
        with self._cond:
            return self.version, dict(self._applied)

    def wait(self, version: int, timeout_s: float) -> tuple[int, dict[int, int]]:
        """Block until the applied offsets moved past ``version`` (or ``timeout_s``)."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != version or self._closed, timeout_s)
            return self.version, dict(self._applied)

    def open(self, cancel: Callable[[], object]) -> OpenStream:
        stream = OpenStream(cancel)
        with self._cond:
            if self._closed:
                raise StoreUnavailableError("the query service is stopping")
            self._streams.add(stream)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tail-watch", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return stream

    def close_stream(self, stream: OpenStream) -> None:
        with self._cond:
            self._streams.discard(stream)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def open_streams(self) -> int:
        with self._cond:
            return len(self._streams)

    def _run(self) -> None:
        failing = False
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._streams or self._closed)
                if self._closed:
                    return
                streams = list(self._streams)
            try:
                rows = self._store.rows(applied_sql(self._topic))
                self._publish({int(p): int(o) for p, o in rows})
                failing = False
            except Exception as exc:  # noqa: BLE001 - the next poll retries
                if not failing:
                    logger.warning("the live tail cannot read the applied offsets: %s", exc)
                failing = True
            self._cancel_abandoned(streams)
            with self._cond:
                self._cond.wait_for(lambda: self._closed, self._poll_s)

    def _cancel_abandoned(self, streams: list[OpenStream]) -> None:
        now = self._clock()
        for stream in streams:
            since = stream.sending_since
            if since is not None and not stream.abandoned and now - since > self._abandon_s:
                stream.abandoned = True
                logger.info(
                    "cancelling a live tail whose reader took nothing for %.0f s", now - since
                )
                stream.cancel()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)


@dataclass
class TailLimits:
    heartbeat_s: float = 1.0
    stall_s: float = 5.0
    max_events: int = MAX_EVENTS_PER_ROUND
    max_points: int = MAX_POINTS_PER_MESSAGE


def start_cursor(applied: Mapping[int, int], after: WaitToken | None) -> dict[int, int]:
    """Per partition, the next offset to deliver: just after ``after`` where it names the
    partition, else what ingest has applied now."""
    cursor = dict(applied)
    if after is not None:
        for p, o in after.offsets.items():
            cursor[int(p)] = int(o) + 1
    return cursor


@dataclass
class TailStream:
    """One stream's cursor and rounds; :meth:`messages` is what the RPC sends."""

    store: SqlPort
    records: RecordsPort
    watch: AppliedWatch
    topic: str
    target: TailTarget
    cursor: dict[int, int]
    limits: TailLimits = field(default_factory=TailLimits)
    clock: Callable[[], float] = time.monotonic
    _codec: EventCodec = field(default_factory=EventCodec)
    _more: bool = False

    def token(self) -> WriteToken:
        return WriteToken.of(self.topic, {p: c - 1 for p, c in self.cursor.items()})

    def _batch(self, points: list[TailPoint], changes: list[TailChange]) -> TailBatch:
        return TailBatch(tuple(points), tuple(changes), {p: c - 1 for p, c in self.cursor.items()})

    def messages(
        self, alive: Callable[[], bool], cancel: Callable[[], object]
    ) -> Iterator[TailBatch]:
        """The stream's messages until ``alive()`` turns false: first one that only names
        the starting position, then every round's deliveries, and a heartbeat (the position
        alone) every ``heartbeat_s`` without deliveries."""
        handle = self.watch.open(cancel)
        try:
            yield from self._send(handle, self._batch([], []))
            last_sent = self.clock()
            while alive():
                version, applied = self.watch.current()
                for batch in self.round(applied):
                    yield from self._send(handle, batch)
                    last_sent = self.clock()
                if self.clock() - last_sent >= self.limits.heartbeat_s:
                    yield from self._send(handle, self._batch([], []))
                    last_sent = self.clock()
                if self.watch.closed:
                    raise StoreUnavailableError("the query service is stopping: resume elsewhere")
                if self._more:
                    continue
                version, _ = self.watch.wait(version, self.limits.heartbeat_s)
        finally:
            self.watch.close_stream(handle)
            self.records.close()

    def _send(self, handle: OpenStream, batch: TailBatch) -> Iterator[TailBatch]:
        since = handle.sending_since = self.clock()
        yield batch
        handle.sending_since = None
        waited = self.clock() - since
        if waited > self.limits.stall_s:
            token = self.token().encode()
            raise SlowReaderError(
                f"this live tail's reader fell behind: a message waited {waited:.1f} s to be "
                f"read (the limit is {self.limits.stall_s:g} s); resume with the token of the "
                f"last message received (after={token if len(token) <= 120 else '...'})"
            )

    def round(self, applied: Mapping[int, int]) -> Iterator[TailBatch]:
        """Deliver the target's applied events in ``[cursor, applied)``: at most
        ``max_events``; ``_more`` tells whether the round stopped short."""
        ranges: dict[int, tuple[int, int]] = {}
        for p, end in applied.items():
            first = self.cursor.setdefault(p, 0)  # a partition new to ingest: from its start
            if end > first:
                ranges[p] = (first, end)
        self._more = False
        if not ranges:
            return
        limit = self.limits.max_events
        rows = self.store.rows(events_sql(self.topic, self.target, ranges, limit))
        found: dict[int, list[int]] = {}
        for p, o in rows:
            found.setdefault(int(p), []).append(int(o))
        self._more = len(rows) >= limit
        last_partition = int(rows[-1][0]) if rows else -1
        points: list[TailPoint] = []
        changes: list[TailChange] = []
        for p, (_, end) in sorted(ranges.items()):
            if self._more and p > last_partition:
                break  # not reached this round
            offsets = found.get(p, [])
            values = self.records.read(self.topic, p, offsets) if offsets else {}
            for offset in offsets:
                event = self._codec.decode(values[offset])
                new_points, new_changes = deliverable([event])
                points += new_points
                changes += new_changes
                self.cursor[p] = offset + 1
                if len(points) >= self.limits.max_points:
                    yield self._batch(points, changes)
                    points, changes = [], []
            if not self._more or p < last_partition:
                self.cursor[p] = end
        if points or changes:
            yield self._batch(points, changes)
