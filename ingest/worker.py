"""The ingest worker: a consumer-group member that projects the topic into ClickHouse.

Run it in the foreground with ``IngestWorker(settings).run(stop_event)`` (returns when
the event is set), or in a thread of another process with ``start()`` / ``stop()``::

    worker = IngestWorker(IngestSettings.from_env())
    worker.prepare()        # optional: topics and tables exist when it returns
    worker.start()          # a daemon thread; returns at once
    worker.wait_ready(60)   # consuming
    ...
    worker.stop()           # writes what is buffered, commits, closes

``run(stop_event)`` in a thread of your own works the same way; call ``close()`` after
the thread ended (or if ``run`` was never called after ``prepare``).

``health()`` tells whether the worker can make progress and, if not, why (the broker
does not answer, ClickHouse refuses writes, no partition assigned, the worker failed);
the ``runstream_ingest_state`` and ``runstream_ingest_progressing`` metrics say the
same.  Broker and ClickHouse outages are waited out with retries; only an error that a
retry cannot fix ends the loop, and then nothing more is written.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from .clickhouse_sink import ClickHouseStore
from .errors import RETRYABLE, DeadLetterError, IngestError, LogTruncated, SourceError
from .kafka_dead_letters import KafkaDeadLetters, ensure_topics
from .kafka_source import KafkaSource
from .observability import CONSUMING, IngestHealth, IngestMetrics, serve
from .pipeline import Pipeline
from .ports import AppliedListener
from .settings import IngestSettings

logger = logging.getLogger(__name__)

_POLL_S = 0.1
_WRITING_POLL_S = 0.02  # while a write runs in the writer thread
_CHECK_EVERY_S = 1.0  # probe the broker, refresh lag and health
_MIN_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 1.0  # after a failed step; the broker's return is noticed within it


class _Aborted(Exception):
    """Raised at the next step boundary after :meth:`IngestWorker.abort`."""


class IngestWorker:
    def __init__(
        self,
        settings: IngestSettings,
        *,
        registry: CollectorRegistry | None = None,
        listener: AppliedListener | None = None,
    ) -> None:
        """``listener`` hears every record polled, the applied offsets each time they are
        recorded (from the writer thread) and the partitions revoked (``runstream up``
        passes its query service's :class:`~runstream.proto.applied.AppliedFeed`)."""
        self.settings = settings
        self._listener = listener
        self.metrics = IngestMetrics(settings.topic, registry)
        self.error: BaseException | None = None
        self.warnings: list[str] = []  # found at start (the snapshots against the log)
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._ready = threading.Event()
        self._assigned = threading.Event()  # the first rebalance completed
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._pipeline: Pipeline | None = None
        self._abort_at: str | None = None  # abort at the next step starting with this
        self._store: ClickHouseStore | None = None
        self._dead_letters: KafkaDeadLetters | None = None
        self._probe: KafkaSource | None = None
        self._server: Any = None
        self._lock = threading.Lock()
        self._health = IngestHealth("starting")
        self._checked_at = 0.0
        self._kafka_error: str | None = None  # the last broker probe failed with this
        self._partitions: frozenset[int] | None = None  # assigned, as of the last check

    # -- thread control ------------------------------------------------------------------------

    def start(self) -> None:
        """Run the worker in a daemon thread of this process."""
        if self._thread is not None:
            raise RuntimeError("worker already started")
        self._thread = threading.Thread(
            target=self._run_in_thread,
            name=f"runstream-ingest-{self.settings.topic}",
            daemon=True,
        )
        self._thread.start()

    def _run_in_thread(self) -> None:
        with contextlib.suppress(BaseException):  # logged and kept in self.error by run()
            self.run(self._stop)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """True once the worker consumes; False on timeout or when it failed to start."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready.is_set() and not self._done.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._ready.wait(0.05 if remaining is None else min(0.05, remaining))
        return self._ready.is_set() and self.error is None

    def wait_assigned(self, timeout: float | None = None) -> bool:
        """True once the group's first rebalance gave this worker its partitions (maybe
        none, when other workers hold them all); False on timeout or failure."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._assigned.is_set() and not self._done.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._assigned.wait(0.05 if remaining is None else min(0.05, remaining))
        return self._assigned.is_set() and self.error is None

    def wait_consuming(self, timeout: float | None = None) -> bool:
        """True once the worker can make progress (``health()`` is ``consuming``: it holds
        partitions and the broker answers); False on timeout or when it failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._health.progressing and not self._done.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._done.wait(0.05)
        return self._health.progressing and self.error is None

    def stop(self, timeout: float | None = 60.0) -> None:
        """Write what is buffered, commit, close, and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def abort(self, timeout: float | None = 60.0, *, at_step: str | None = None) -> None:
        """Stop as a crash would: at the next step of the write protocol, writing and
        committing nothing more.  ``at_step`` (a fault drill) keeps working until the
        named step is next: ``"dead-letters"``, ``"intents"``, ``"batch"`` (before a
        partition's inserts), ``"offsets"`` (data written, applied offsets not yet) or
        ``"commit"``.  A static group member stays in the group until its session times
        out; its partitions then move to other members, which rebuild any batch it left
        half written."""
        self._abort_at = at_step or ""
        if at_step is None:
            self._abort.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def applied_offsets(self) -> dict[int, int]:
        """Next offset to apply per assigned partition (everything below is written)."""
        if self._pipeline is None:
            return {}
        for _ in range(10):  # the worker thread may resize the dict while we copy it
            try:
                return dict(self._pipeline.applied)
            except RuntimeError:
                continue
        return {}

    def lag(self) -> int:
        """Records not yet applied, as of the last lag refresh (every second)."""
        return self.metrics.total_lag()

    def health(self) -> IngestHealth:
        """Whether the worker can make progress now, and if not, why.  Refreshed by the
        worker loop every second and at once on a failure; a worker whose loop ended on
        an error reports ``failed`` with the error."""
        health = self._health
        if self._done.is_set() and health.state not in ("failed", "stopped", "log-truncated"):
            return IngestHealth("failed", f"the ingest loop ended: {self.error!r}")
        return health

    def _set_health(self, health: IngestHealth) -> None:
        previous, self._health = self._health, health
        if health.state == previous.state:
            return  # the reason may change (another error); the state did not
        self.metrics.observe_health(health)
        if health.progressing or health.state == "stopped":
            logger.info("ingest %s (was %s)", health.state, previous.state)
        else:
            logger.warning("ingest %s: %s", health.state, health.reason)

    # -- the loop ------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the topics (unless told not to) and create or migrate the tables.
        Idempotent; :meth:`run` calls it when nobody did."""
        with self._lock:
            if self._store is not None:
                return
            s = self.settings
            if s.create_topics:
                ensure_topics(
                    s.kafka,
                    [
                        (s.topic, s.partitions, s.replication_factor),
                        (s.dead_letter_topic, 1, s.replication_factor),
                    ],
                )
            store = ClickHouseStore(s.target, on_insert=self.metrics.observe_insert)
            try:
                applied = store.migrate()
            except BaseException:
                store.close()
                raise
            if applied:
                logger.info("migrated database %s: versions %s", s.database, applied)
            try:
                store.set_metrics_ttl(s.metrics_ttl_days)
            except BaseException:
                store.close()
                raise
            self._store = store

    def close(self) -> None:
        """Release the ClickHouse client, the dead-letter producer and the metrics endpoint.
        Idempotent; :meth:`run` calls it on its way out."""
        with self._lock:
            if self._server is not None:
                self._server.shutdown()
                self._server = None
            if self._dead_letters is not None:
                self._dead_letters.close()
                self._dead_letters = None
            if self._probe is not None:
                self._probe.close()
                self._probe = None
            if self._store is not None:
                self._store.close()
                self._store = None

    def run(self, stop_event: threading.Event | None = None) -> None:
        """Consume until ``stop_event`` is set (blocking)."""
        stop = stop_event if stop_event is not None else self._stop
        source: KafkaSource | None = None
        try:
            pipeline, source = self._open()
            self._ready.set()
            logger.info(
                "ingest worker consuming topic=%s group=%s into %s database %s",
                self.settings.topic, self.settings.group, self.settings.clickhouse,
                self.settings.database,
            )  # fmt: skip
            self._loop(pipeline, source, stop)
            if not self._abort.is_set():
                pipeline.tick(force=True)
                pipeline.drain()
                logger.info("ingest worker stopped; applied %s", dict(pipeline.applied))
            self._set_health(IngestHealth("stopped"))
        except _Aborted as exc:
            logger.warning("ingest worker aborted before step %s", exc)
            self._set_health(IngestHealth("stopped", f"aborted before step {exc}"))
        except BaseException as exc:
            self.error = exc
            if self._pipeline is not None:
                self._pipeline.halt(exc)  # the closing consumer's revoke writes nothing
            state = "log-truncated" if isinstance(exc, LogTruncated) else "failed"
            self._set_health(IngestHealth(state, f"{type(exc).__name__}: {exc}"))
            if isinstance(exc, LogTruncated):
                logger.error("ingest worker stopped: %s", exc)
            else:
                logger.exception("ingest worker failed")
            raise
        finally:
            if self._pipeline is not None:
                self._pipeline.close()
            if source is not None:
                source.close()
            self.close()
            self._done.set()

    def _loop(self, pipeline: Pipeline, source: KafkaSource, stop: threading.Event) -> None:
        """Poll, write, check; a step that fails for a reason a retry may fix (the broker
        or ClickHouse unavailable) is retried after a short back-off, forever."""
        backoff = _MIN_BACKOFF_S
        while not stop.is_set() and not self._abort.is_set():
            if pipeline.halted is not None:  # a write failed inside a rebalance callback
                raise pipeline.halted
            try:
                # While a write runs, poll briefly: records go on arriving, and the next
                # batch is cut as soon as the write ends (not a poll timeout later).
                records = source.poll(_WRITING_POLL_S if pipeline.writing else _POLL_S)
                if records and self._listener is not None:
                    self._listener.hold(records)
                pipeline.handle(records)
                # Caught up (an empty poll, or records up to the log end): write what is
                # pending now rather than waiting out the batch interval (freshness when
                # idle; under load polls end before the log end and batches grow to their
                # size or interval limits).  Never wait here for the running write: the
                # records that arrive meanwhile go into the next batch.
                pipeline.tick(force=not records or source.caught_up, wait=False)
                self._check(pipeline, source)
                backoff = _MIN_BACKOFF_S
            except RETRYABLE as exc:
                if isinstance(exc, SourceError):
                    self._kafka_error = str(exc)
                self._update_health(pipeline, exc)
                logger.warning("ingest step failed, retrying in %.1f s: %s", backoff, exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def _open(self) -> tuple[Pipeline, KafkaSource]:
        self.prepare()
        s = self.settings
        assert self._store is not None
        self._check_snapshots()
        self._dead_letters = KafkaDeadLetters(s.kafka, s.dead_letter_topic)
        # End offsets (the lag, the broker's health) on a connection of their own: asked on
        # the fetching consumer's, they waited behind its long-polling fetch up to 500 ms
        # once a second, and the loop polled nothing meanwhile (freshness p99).
        self._probe = KafkaSource.probe(s.kafka, s.topic)
        self._server = serve(self.metrics.registry, s.metrics_port)
        source = KafkaSource.in_group(
            s.kafka,
            s.topic,
            s.group,
            on_assigned=self._on_assigned,
            on_revoked=self._on_revoked,
            instance_id=s.instance_id,
            session_timeout_ms=s.session_timeout_ms,
            fetch_max_bytes=s.fetch_max_bytes,
            partition_fetch_bytes=s.partition_fetch_bytes,
        )
        self._pipeline = Pipeline(
            source,
            self._store,
            self._dead_letters,
            batch=s.batch,
            metrics=self.metrics,
            cache_runs=s.state_cache_runs,
            checkpoint=self._checkpoint,
            allow_log_gap=s.allow_log_gap,
            on_applied=self._listener.publish if self._listener is not None else None,
        )
        return self._pipeline, source

    def _check_snapshots(self) -> None:
        """With a snapshot directory: warn when its newest snapshot can no longer be
        completed from the log (``docs/operations.md``, "Retention: the rule")."""
        s = self.settings
        if not s.snapshot_dir:
            return
        from .snapshot import listing, newest_warning

        probe = KafkaSource.assigned(s.kafka, s.topic)
        try:
            starts = probe.beginning_offsets(sorted(probe.assignment()))
        finally:
            probe.close()
        try:
            warning = newest_warning(listing(Path(s.snapshot_dir)), s.topic, starts)
        except (IngestError, OSError, ValueError, KeyError, TypeError) as exc:
            warning = f"cannot read the snapshots in {s.snapshot_dir}: {exc}"
        if warning:
            self.warnings.append(warning)
            logger.warning("%s", warning)

    def _checkpoint(self, step: str) -> None:
        if self._abort_at is not None and step.startswith(self._abort_at):
            self._abort.set()
            raise _Aborted(step)

    def _on_assigned(self, partitions: frozenset[int]) -> None:
        logger.info("assigned topic=%s partitions=%s", self.settings.topic, sorted(partitions))
        if self._pipeline is not None:
            self._pipeline.assign(partitions)
        self._partitions = partitions
        self._assigned.set()

    def _on_revoked(self, partitions: frozenset[int]) -> None:
        logger.info("revoked topic=%s partitions=%s", self.settings.topic, sorted(partitions))
        if self._partitions is not None:
            self._partitions = self._partitions - partitions
        if self._pipeline is not None and not self._abort.is_set():
            self._pipeline.revoke(partitions)
        if self._listener is not None:
            self._listener.release(partitions)

    def _check(self, pipeline: Pipeline, source: KafkaSource) -> None:
        """Every second ask the broker for end offsets: the lag, and proof that it answers
        (partition 0 exists in every topic, so this works with nothing assigned).  Then
        refresh the health."""
        now = time.monotonic()
        if now - self._checked_at >= _CHECK_EVERY_S:
            self._checked_at = now
            self._partitions = source.assignment()
            try:
                probe = self._probe if self._probe is not None else source
                ends = probe.end_offsets(self._partitions or {0})
            except SourceError as exc:
                self._kafka_error = str(exc)
            else:
                self._kafka_error = None
                self.metrics.set_lag(pipeline.applied, ends if self._partitions else {})
        self._update_health(pipeline)

    def _update_health(self, pipeline: Pipeline, failed: BaseException | None = None) -> None:
        stall = pipeline.stall
        if self._kafka_error is not None:
            health = IngestHealth("kafka-unavailable", self._kafka_error)
        elif stall is not None:
            where = ",".join(str(p) for p in sorted(stall.partitions))
            health = IngestHealth(
                f"{stall.component}-unavailable", f"partitions {where}: {stall.reason}"
            )
        elif failed is not None:
            kafka = isinstance(failed, SourceError | DeadLetterError)
            component = "kafka" if kafka else "clickhouse"
            health = IngestHealth(f"{component}-unavailable", f"{type(failed).__name__}: {failed}")
        elif self._partitions is None:
            return  # not checked yet
        elif not self._partitions:
            health = IngestHealth(
                "waiting-for-partitions",
                f"no partition of {self.settings.topic} assigned in group {self.settings.group}",
            )
        else:
            health = IngestHealth(CONSUMING)
        self._set_health(health)
