"""Buffers records per partition, cuts them into batches and writes them exactly once.

The flush protocol (``docs/ingest.md``, "Exactly once"), for the partitions it flushes:

1. project each partition's records [first, end) into a :class:`~.batch.PartitionBatch`;
2. send the dead letters (at least once) and wait for Kafka's acknowledgement;
3. record every batch's intent (topic, partition, first, end) in ``ingest_batches``;
4. write each batch: one insert per table, token ``topic:partition:first:end:table``;
5. record ``ingest_offsets`` (next offset = end), then commit the offsets to the group.

When a partition is assigned, the last intent and the applied offset are read back: an
intent past the applied offset means a batch may be partly written, and exactly that
range is rebuilt (same rows, same tokens: ClickHouse drops the inserts that had landed)
before the partition goes on.  A failed flush is handled the same way.

A failed write never lets a later record of its partition through: when a retryable
error (ClickHouse full or unavailable, Kafka unavailable) fails a flush, its partitions
drop everything they buffered and recover from the database after a back-off; any other
error halts the pipeline (:meth:`Pipeline.halt`), after which nothing more is written,
not even by the revoke callback a closing consumer runs.  :attr:`Pipeline.stall` says
why partitions wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from runstream.proto import events as ev

from .batch import Intent, PartitionBatch
from .errors import RETRYABLE, DeadLetterError, SourceError
from .model_reads import prefetch_models
from .observability import IngestMetrics
from .ports import DeadLetterSink, Source, Store
from .projection import project
from .purge import EXPERIMENT, RUN
from .records import SourceRecord
from .retention import check_log_start
from .settings import BatchSettings
from .state import PartitionState

logger = logging.getLogger(__name__)

Checkpoint = Callable[[str], None]
_MAX_BACKOFF_S = 5.0


@dataclass(frozen=True)
class Stall:
    """Why partitions wait: ``component`` is ``"kafka"`` or ``"clickhouse"``."""

    component: str
    reason: str
    partitions: frozenset[int]
    writing: bool  # a write failed (cleared by the next write), else reading progress


def _component(exc: BaseException) -> str:
    return "kafka" if isinstance(exc, SourceError | DeadLetterError) else "clickhouse"


@dataclass
class PartitionBuffer:
    """Records of one partition not yet written, from ``next_offset`` on."""

    partition: int
    next_offset: int
    rebuild_end: int | None = None  # rebuilding the intent [next_offset, rebuild_end)
    stop_at: int | None = None  # replay: nothing at or past this offset
    records: list[SourceRecord] = field(default_factory=list)
    points: int = 0
    opened_at: float | None = None

    @property
    def last_offset(self) -> int:
        return self.records[-1].offset if self.records else self.next_offset - 1

    def add(self, record: SourceRecord, now: float) -> bool:
        if record.offset <= self.last_offset:
            return False  # fetched again after a seek
        if self.stop_at is not None and record.offset >= self.stop_at:
            return False
        if not self.records:
            self.opened_at = now
            if self.rebuild_end is not None and record.offset > self.next_offset:
                logger.error(
                    "cannot rebuild batch exactly topic=%s partition=%d first=%d end=%d: "
                    "offsets up to %d are gone (retention?)",
                    record.topic, self.partition, self.next_offset, self.rebuild_end,
                    record.offset - 1,
                )  # fmt: skip
        self.records.append(record)
        self.points += record.points
        return True

    def _reached(self, end: int | None, position: int | None) -> bool:
        if end is None:
            return False
        return self.last_offset >= end - 1 or (position is not None and position >= end)

    def complete_cut(self, position: int | None) -> int | None:
        """The fixed end of the next batch once every record below it is here."""
        if self.rebuild_end is not None:
            return self.rebuild_end if self._reached(self.rebuild_end, position) else None
        if self.stop_at is not None and self.next_offset < self.stop_at:
            return self.stop_at if self._reached(self.stop_at, position) else None
        return None

    @property
    def waiting_for_rebuild(self) -> bool:
        return self.rebuild_end is not None

    def take(
        self, now: float, cut: int | None, max_points: int = 0, max_events: int = 0
    ) -> tuple[int, int, list[SourceRecord]] | None:
        """The next batch (first, end, records), removed from the buffer.  Without a fixed
        ``cut`` the batch stops once it holds ``max_points`` points or ``max_events``
        records (0: no bound); the records after it stay for the next batch."""
        first = self.next_offset
        if cut is not None:
            end = cut
            batch = [r for r in self.records if r.offset < end]
        elif self.records:
            taken, points = 0, 0
            for r in self.records:
                taken += 1
                points += r.points
                if (max_points and points >= max_points) or (max_events and taken >= max_events):
                    break
            batch = self.records[:taken]
            end = batch[-1].offset + 1
        else:
            return None
        rest = self.records[len(batch) :]
        self.records = rest
        self.points = sum(r.points for r in rest)
        self.opened_at = now if rest else None
        self.next_offset = end
        self.rebuild_end = None
        return first, end, batch


class Pipeline:
    """Drives one source into one store, for the worker and for replay alike."""

    def __init__(
        self,
        source: Source,
        store: Store,
        dead_letters: DeadLetterSink | None,
        *,
        batch: BatchSettings,
        metrics: IngestMetrics,
        cache_runs: int = 100_000,
        start_offsets: Mapping[int, int] | None = None,
        stop_offsets: Mapping[int, int] | None = None,
        checkpoint: Checkpoint | None = None,
        clock: Callable[[], float] = time.monotonic,
        pipelined: bool = True,
        allow_log_gap: bool = False,
        on_applied: Callable[[Mapping[int, int]], None] | None = None,
    ) -> None:
        self.source = source
        self.topic = source.topic
        self.store = store
        self.dead_letters = dead_letters
        self.batch = batch
        self.metrics = metrics
        self.buffers: dict[int, PartitionBuffer] = {}
        self.applied: dict[int, int] = {}  # next offset to apply, per partition
        self._cache_runs = cache_runs
        self._states: dict[int, PartitionState] = {}
        self._start_offsets = dict(start_offsets or {})
        self._stop_offsets = dict(stop_offsets or {})
        self._checkpoint = checkpoint or (lambda step: None)
        self._on_applied = on_applied  # told each time applied offsets are recorded
        self._clock = clock
        self._unrecovered: set[int] = set()
        self._retry_at = 0.0
        self._backoff = 0.5
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix="runstream-ingest-writer")
            if pipelined
            else None
        )
        self._inflight: tuple[Future[None], list[PartitionBatch], float] | None = None
        self._throttled: set[int] = set()
        self._stalled: dict[int, tuple[str, str, bool]] = {}  # partition -> component, why
        self._positions_unknown_until = 0.0
        self.halted: BaseException | None = None
        self._allow_log_gap = allow_log_gap
        # partition -> (what the tables need next, where the log starts): a gap retention made
        self.log_gaps: dict[int, tuple[int, int]] = {}

    # -- assignment --------------------------------------------------------------------------

    def assign(self, partitions: Collection[int]) -> None:
        """Partitions handed to us.  Only marks them: :meth:`recover` (run by :meth:`tick`
        in the caller's thread) reads their progress and seeks.  Safe in a rebalance
        callback, which must not call blocking consumer APIs."""
        self._unrecovered |= set(partitions) - set(self.buffers)
        self._retry_at = 0.0

    def revoke(self, partitions: Collection[int]) -> None:
        """Partitions taken away.  Called from the rebalance callback, before the group
        hands them to another member: what they buffered is written to ClickHouse (no
        consumer call, no commit: the next owner follows ``ingest_offsets``).  A halted
        pipeline writes nothing."""
        pending: list[int] = []
        try:
            self._finish_inflight(in_rebalance=True)
            pending = [p for p in partitions if p in self.buffers and self.buffers[p].records]
            if pending and self.halted is None:
                self.flush(pending, in_rebalance=True)
        except Exception as exc:  # the next owner rebuilds from the database
            logger.warning("could not flush revoked partitions %s: %s", pending, exc)
        for p in partitions:
            self.buffers.pop(p, None)
            self._states.pop(p, None)
            self.applied.pop(p, None)
            self._unrecovered.discard(p)
            self._throttled.discard(p)
            self._stalled.pop(p, None)

    def halt(self, cause: BaseException) -> None:
        """Write nothing more, whatever is buffered or called later (revoke included).
        Called when a write failed for a reason a retry will not fix, or when the loop
        driving the pipeline dies: the database keeps a consistent prefix of the log and
        the next worker goes on from it."""
        if self.halted is None:
            self.halted = cause
        self.buffers.clear()

    @property
    def stall(self) -> Stall | None:
        """Why some partitions cannot make progress right now (None when none wait)."""
        stalled = dict(self._stalled)
        if not stalled:
            return None
        writing = [p for p, (_, _, w) in stalled.items() if w]
        first = min(writing or stalled)
        component, reason, _ = stalled[first]
        return Stall(component, reason, frozenset(stalled), bool(writing))

    @property
    def unrecovered(self) -> frozenset[int]:
        return frozenset(self._unrecovered)

    def recover(self) -> bool:
        """Seek every unrecovered partition to where its database says; False to retry."""
        parts = sorted(self._unrecovered)
        if not parts:
            return True
        if self._clock() < self._retry_at:
            return False
        try:
            progress = self.store.read_progress(self.topic, parts)
            begins = self.source.beginning_offsets(
                [p for p in parts if p not in self._start_offsets]
            )
            self.log_gaps.update(
                check_log_start(self.topic, parts, progress, begins, allow=self._allow_log_gap)
            )
            for p in parts:
                self._recover_one(p, progress[p].incomplete, progress[p].next_offset, begins)
        except RETRYABLE as exc:
            self._fail(parts, exc, "cannot read progress", writing=False)
            self._pause(parts)
            return False
        self.source.resume(parts)
        self._unrecovered.clear()
        for p in parts:
            if p in self._stalled and not self._stalled[p][2]:
                del self._stalled[p]
        if not any(w for _, _, w in self._stalled.values()):
            self._backoff = 0.5  # a failed write keeps backing off until a write succeeds
        return True

    def _recover_one(
        self, p: int, incomplete: Intent | None, next_offset: int | None, begins: Mapping[int, int]
    ) -> None:
        rebuild_end: int | None = None
        if incomplete is not None:
            start, rebuild_end = incomplete.first, incomplete.end
            self.metrics.rebuilt.labels(self.topic).inc()
            logger.warning(
                "rebuilding batch topic=%s partition=%d first=%d end=%d (applied up to %s)",
                self.topic, p, start, rebuild_end, next_offset,
            )  # fmt: skip
        elif next_offset is not None:
            start = max(next_offset, begins.get(p, next_offset))  # a gap only when allowed
        elif p in self._start_offsets:
            start = self._start_offsets[p]
        else:
            start = begins[p]
        committed = self.source.committed(p)
        if committed is not None and committed > start and incomplete is None:
            logger.warning(
                "group offset ahead of the database topic=%s partition=%d committed=%d "
                "database=%d: following the database",
                self.topic, p, committed, start,
            )  # fmt: skip
        elif incomplete is None and next_offset is not None and (committed or 0) < next_offset:
            # a crash between ingest_offsets and the commit: bring the group up to date
            self.source.commit({p: next_offset})
        self.source.seek(p, start)
        self.buffers[p] = PartitionBuffer(p, start, rebuild_end, self._stop_offsets.get(p))
        self._states[p] = PartitionState(self._cache_runs)
        self.applied[p] = start
        logger.info("partition assigned topic=%s partition=%d offset=%d", self.topic, p, start)

    def _fail(
        self, partitions: Collection[int], exc: BaseException, doing: str, *, writing: bool
    ) -> None:
        """Drop what the partitions buffered; they recover (after a pause) from the database.
        Makes no consumer call: it may run inside a rebalance callback."""
        for p in partitions:
            self.buffers.pop(p, None)
            self._states.pop(p, None)
        self._unrecovered |= set(partitions) & (set(self.applied) | self._unrecovered)
        why = f"{doing}: {exc}"
        for p in set(partitions) & self._unrecovered:
            was_writing = p in self._stalled and self._stalled[p][2]
            self._stalled[p] = (_component(exc), why, writing or was_writing)
        self._retry_at = self._clock() + self._backoff
        logger.warning(
            "write path unavailable, retrying in %.1f s topic=%s partitions=%s: %s",
            self._backoff, self.topic, sorted(partitions), why,
        )  # fmt: skip
        self._backoff = min(self._backoff * 2, _MAX_BACKOFF_S)
        self.metrics.retries.labels(self.topic).inc()

    # -- records -----------------------------------------------------------------------------

    def handle(self, records: Sequence[SourceRecord]) -> None:
        now = self._clock()
        for record in records:
            buffer = self.buffers.get(record.partition)
            if buffer is not None:
                buffer.add(record, now)

    @property
    def pending_points(self) -> int:
        return sum(b.points for b in self.buffers.values())

    def due(self, force: bool = False) -> list[int]:
        """Partitions whose batch should be written now."""
        now = self._clock()
        ready: list[int] = []
        normal: list[int] = []
        for p, b in sorted(self.buffers.items()):
            if b.complete_cut(self._position(p)) is not None:
                ready.append(p)
            elif b.records and not b.waiting_for_rebuild:
                normal.append(p)
        if not normal:
            return ready
        bufs = [self.buffers[p] for p in normal]
        oldest = min(b.opened_at for b in bufs if b.opened_at is not None)
        if (
            force
            or sum(b.points for b in bufs) >= self.batch.max_points
            or sum(len(b.records) for b in bufs) >= self.batch.max_events
            or now - oldest >= self.batch.max_interval_s
        ):
            return ready + normal
        return ready

    @property
    def writing(self) -> bool:
        """A write runs in the writer thread and has not finished yet."""
        return self._inflight is not None and not self._inflight[0].done()

    def tick(self, force: bool = False, *, wait: bool = True) -> int:
        """Recover what needs it and write what is due; returns partitions written.

        ``wait=False``: while a write is still running, write nothing and return at once
        (the records stay buffered), so the caller goes on polling and the next batch,
        cut as soon as that write ends, holds every record that arrived meanwhile.  With
        ``wait`` (the default) a due batch first waits for the running write."""
        if self._inflight is not None and self._inflight[0].done():
            self._finish_inflight(in_rebalance=False)
        if not wait and self.writing:
            self._throttle()
            return 0
        if self._unrecovered and self._clock() < self._retry_at:
            self._pause(sorted(self._unrecovered))
        self.recover()
        due = self.due(force)
        if due:
            self.flush(due)
        self._throttle()
        return len(due)

    def _throttle(self) -> None:
        """Stop fetching while several batches' worth of records wait to be written."""
        points = self.pending_points
        events = sum(len(b.records) for b in self.buffers.values())
        limit_p, limit_e = 3 * self.batch.max_points, 3 * self.batch.max_events
        if not self._throttled and (points > limit_p or events > limit_e):
            self._throttled = set(self.buffers)
            self._pause(sorted(self._throttled))
        elif (
            self._throttled and points <= self.batch.max_points and events <= self.batch.max_events
        ):
            self.source.resume(sorted((self._throttled - self._unrecovered) & set(self.buffers)))
            self._throttled = set()

    def _pause(self, partitions: Sequence[int]) -> None:
        try:
            self.source.pause(partitions)
        except SourceError as exc:  # not assigned any more: the revoke cleans up
            logger.debug("cannot pause partitions %s: %s", list(partitions), exc)

    def _position(self, partition: int) -> int | None:
        """The source's position, or None while the broker cannot tell (then, for a
        second, None without asking: each failed ask may have waited for the broker)."""
        if self._positions_unknown_until and self._clock() < self._positions_unknown_until:
            return None
        try:
            position = self.source.position(partition)
        except SourceError as exc:
            logger.debug("position of partition %d unknown: %s", partition, exc)
            self._positions_unknown_until = self._clock() + 1.0
            return None
        self._positions_unknown_until = 0.0
        return position

    def drain(self) -> None:
        """Wait for the write in flight and commit it."""
        self._finish_inflight(in_rebalance=False)

    def close(self) -> None:
        """Wait for the writer thread to end (without committing what it wrote)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    # -- writing -----------------------------------------------------------------------------

    def flush(self, partitions: Sequence[int], *, in_rebalance: bool = False) -> None:
        """Write the buffered batches of ``partitions``.

        At most one flush is in flight: a new one first waits for the previous one, so a
        batch's intent is recorded only after the batch before it is complete.  With a
        writer thread the ClickHouse inserts overlap the polling of the next records.
        ``in_rebalance``: called from a rebalance callback, so the write is synchronous
        and no consumer call (position, commit) is made.
        """
        self._finish_inflight(in_rebalance)
        if self.halted is not None:
            return
        now = self._clock()
        positions = {
            p: None if in_rebalance else self._position(p) for p in partitions if p in self.buffers
        }
        takes: list[tuple[int, int, int, list[SourceRecord]]] = []
        for p, position in positions.items():
            buffer = self.buffers.get(p)
            if buffer is None:
                continue  # dropped by a failed write just now
            cut = buffer.complete_cut(position)
            if buffer.waiting_for_rebuild and cut is None:
                continue  # a rebuilt batch must cover exactly its intent's range
            taken = buffer.take(now, cut, self.batch.max_points, self.batch.max_events)
            if taken is not None:
                takes.append((p, *taken))
        if not takes:
            return
        started = time.perf_counter()
        taken_from = [t[0] for t in takes]
        try:
            batches = [self._build(p, first, end, records) for p, first, end, records in takes]
        except BaseException as exc:
            self._failed_write(taken_from, exc, "building batches", in_rebalance)
            return
        if self._executor is not None and not in_rebalance:
            self._inflight = (self._executor.submit(self._write, batches), batches, started)
            return
        try:
            self._write(batches)
        except BaseException as exc:
            self._failed_write(taken_from, exc, "writing batches", in_rebalance)
            return
        self._complete(batches, started, in_rebalance)

    def _finish_inflight(self, in_rebalance: bool) -> None:
        if self._inflight is None:
            return
        future, batches, started = self._inflight
        self._inflight = None
        try:
            future.result()
        except BaseException as exc:
            self._failed_write([b.partition for b in batches], exc, "writing batches", False)
            return
        self._complete(batches, started, in_rebalance)

    def _failed_write(
        self, partitions: Sequence[int], exc: BaseException, doing: str, in_rebalance: bool
    ) -> None:
        """The records taken from these partitions' buffers were not (all) written: no
        later record of theirs may be written before they are.  Retryable: drop the
        buffers and recover from the database.  Anything else: halt, and raise."""
        if isinstance(exc, RETRYABLE):
            self._fail(partitions, exc, doing, writing=True)
            if in_rebalance:
                raise exc
            return
        for p in partitions:
            self.buffers.pop(p, None)
        self.halt(exc)
        logger.error(
            "ingest halted topic=%s partitions=%s: %s failed: %s",
            self.topic, sorted(partitions), doing, exc,
        )  # fmt: skip
        raise exc

    def _complete(
        self, batches: Sequence[PartitionBatch], started: float, in_rebalance: bool
    ) -> None:
        self._checkpoint("commit")
        if not in_rebalance:
            try:
                self.source.commit({b.partition: b.end for b in batches})
            except SourceError as exc:  # the database is the truth; the next commit catches up
                logger.warning("commit failed topic=%s: %s", self.topic, exc)
        for b in batches:
            if b.partition in self.applied:
                self.applied[b.partition] = b.end
            self._stalled.pop(b.partition, None)
        if not self._stalled:
            self._backoff = 0.5
        self.metrics.flush_seconds.observe(time.perf_counter() - started)

    def _build(self, p: int, first: int, end: int, records: list[SourceRecord]) -> PartitionBatch:
        state = self._states[p]
        self._prefetch(state, records, first)
        prefetch_models(state, records, self.store, first)
        return project(self.topic, p, first, end, records, state)

    def _prefetch(self, state: PartitionState, records: Sequence[SourceRecord], first: int) -> None:
        """Read from the tables the states this batch needs and the cache lacks."""
        runs: set[str] = set()
        param_runs: set[str] = set()
        experiments: set[str] = set()
        producers: set[str] = set()
        for r in records:
            if r.event is None:
                continue
            if r.event.producer_id:
                producers.add(r.event.producer_id)
            if isinstance(r.event.payload, ev.EXPERIMENT_PAYLOADS):
                experiments.add(r.event.experiment_id)
            elif r.event.run_id:
                runs.add(r.event.run_id)
                if isinstance(r.event.payload, ev.ParamsLogged):
                    param_runs.add(r.event.run_id)
        missing = state.missing_runs(runs)
        if missing:
            state.put_runs(self.store.load_runs(missing))
        missing = state.missing_params(param_runs)
        if missing:
            state.put_params(self.store.load_params(missing))
        missing = state.missing_experiments(experiments)
        if missing:
            state.experiments.update(self.store.load_experiments(missing))
        # Tombstones: runs the tables do not know (purged, or never created) and the
        # experiments of experiment events are checked against ``purges`` once.
        checks = {(RUN, r) for r in runs if state.run(r) is None}
        checks |= {(EXPERIMENT, e) for e in experiments if e}
        missing_checks = state.missing_purge_checks(checks)
        if missing_checks:
            state.put_purge_checks(missing_checks, self.store.load_purged(missing_checks))
        missing = state.missing_producers(producers)
        if missing and records:
            loaded = self.store.load_producers(self.topic, records[0].partition, missing, first)
            state.put_producers({p: loaded.get(p, -1) for p in missing})

    def _write(self, batches: Sequence[PartitionBatch]) -> None:
        letters = [letter for b in batches for letter in b.dead_letters]
        self._checkpoint("dead-letters")
        if letters and self.dead_letters is not None:
            self.dead_letters.send(letters)
        for letter in letters:
            r = letter.record
            logger.warning(
                "dead letter topic=%s partition=%d offset=%d reason=%s: %s",
                r.topic, r.partition, r.offset, letter.poison.reason.value, letter.poison.detail,
                extra={"topic": r.topic, "partition": r.partition, "offset": r.offset},
            )  # fmt: skip
        self._checkpoint("intents")
        self.store.write_intents([b.intent for b in batches])
        for b in batches:
            self._checkpoint(f"batch:{b.partition}")
            self.store.write(b)
        self._checkpoint("offsets")
        offsets = {b.partition: b.end for b in batches}
        self.store.write_offsets(self.topic, offsets)
        if self._on_applied is not None:
            self._on_applied(offsets)
        if any(b.purges for b in batches):  # other partitions' "not purged" answers are stale
            for state in self._states.values():
                state.forget_unpurged()
        for b in batches:
            self._states[b.partition].apply(b.state)
            self.metrics.observe_batch(b)
            logger.debug(
                "batch written topic=%s partition=%d first=%d end=%d events=%d points=%d",
                b.topic, b.partition, b.first, b.end, b.events, b.points,
            )  # fmt: skip
