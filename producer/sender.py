"""The background sender: takes the buffer, builds stamped events, publishes them.

Each cycle (with ``linger_ms`` 0, the default: as soon as something is buffered while the
sender is idle, and right after the previous cycle while it was busy, so a batch is what
came during one round trip (Nagle's rule); with ``linger_ms`` > 0: every ``linger_ms``;
either way sooner when ``batch_points`` are waiting or on flush):

1. take everything buffered, in order;
2. group points per run into columnar ``MetricsLogged`` events, cut wherever a run-level
   event sits, so a run's events keep the order of the calls that made them; stamp each
   event with this producer's id and the next ``seq``;
3. publish and wait for Kafka's acknowledgement, then release the buffer's room.

When publishing fails because the broker is unavailable: without a spool the same events
are retried with exponential backoff (the buffer fills and the policy decides); with a
spool they are appended to disk, and so is everything after them until the spool has been
drained in order.  Other failures are fatal for those events: they are logged and the next
``flush()`` raises.  An event that cannot be encoded (validation lets none through; this is
the guard behind it) is dropped alone and named: the other events of its cycle are sent.
Every error is recorded before the buffer's room is released, so a ``flush()`` waiting on
that room never reports success over it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runstream.proto.codec import EventCodec
from runstream.proto.contexts import Context
from runstream.proto.errors import echo
from runstream.proto.events import RunEvent
from runstream.proto.tokens import WriteToken

from .buffer import Control, Entry, EventBuffer, RowBlock
from .columns import Chunk, merge_run_chunks, rows_chunk, split_events
from .errors import BrokerUnavailableError, ProducerError
from .ids import EventStamper, now_ms
from .settings import ProducerSettings
from .spool import Record, Spool
from .transport import Transport

logger = logging.getLogger(__name__)

_LOG_EVERY_S = 10.0
_IDLE_TICK_S = 0.1  # with linger 0: how often an idle sender looks at its spool and stop flag


@dataclass(frozen=True, slots=True)
class SenderStats:
    """Counters of one producer's sender, since it started."""

    cycles: int  # rounds that had something to send
    events_published: int  # acknowledged by the transport (spool replays included)
    events_spooled: int  # written to the spool
    build_s: float  # seconds spent grouping points into events and stamping them
    deliver_s: float  # seconds spent publishing (encode, send, wait for acks) or spooling


class Sender(threading.Thread):
    """One per producer; a daemon thread (``close()`` and the exit hook stop it)."""

    def __init__(
        self,
        buffer: EventBuffer,
        transport: Transport,
        stamper: EventStamper,
        settings: ProducerSettings,
        experiment_of: Callable[[str], str],
        spool: Spool | None = None,
        codec: EventCodec | None = None,
    ) -> None:
        super().__init__(name=f"runstream-sender-{stamper.producer_id[:8]}", daemon=True)
        self._buffer = buffer
        self._transport = transport
        self._stamper = stamper
        self._settings = settings
        self._experiment_of = experiment_of
        self._spool = spool
        self._codec = codec or EventCodec()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._give_up = threading.Event()
        self._lock = threading.Lock()
        self._token = WriteToken(settings.topic)
        self._errors: list[ProducerError] = []
        self._last_error: ProducerError | None = None
        self._last_logged = 0.0
        self._backoff = settings.retry_backoff_s
        self._next_drain = 0.0
        self._orphans_checked = False
        self.events_published = 0
        self.events_spooled = 0
        self._cycles = 0
        self._build_s = 0.0
        self._deliver_s = 0.0
        buffer.stuck_reason = self.stuck_reason

    # -- control from other threads -------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def stop(self, give_up: bool = True) -> None:
        """Finish what is buffered and exit; with ``give_up``, stop retrying first."""
        if give_up:
            self._give_up.set()
        self._stopping.set()
        self._wake.set()

    @property
    def token(self) -> WriteToken:
        with self._lock:
            return self._token

    def stats(self) -> SenderStats:
        return SenderStats(
            self._cycles,
            self.events_published,
            self.events_spooled,
            round(self._build_s, 6),
            round(self._deliver_s, 6),
        )

    @property
    def last_error(self) -> ProducerError | None:
        return self._last_error

    def stuck_reason(self) -> str | None:
        error = self._last_error
        return str(error) if error is not None else None

    def take_errors(self) -> list[ProducerError]:
        with self._lock:
            errors, self._errors = self._errors, []
            return errors

    @property
    def spool_pending(self) -> bool:
        return self._spool is not None and self._spool.pending

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        # linger 0 (Nagle's rule): the buffer wakes the sender on the first entry after
        # each take; the tick only paces spool drains and a stop
        linger = self._settings.linger_ms / 1000 or _IDLE_TICK_S
        while True:
            self._wake.wait(linger)
            self._wake.clear()
            stopping = self._stopping.is_set()
            try:
                self.cycle()
            except Exception as exc:  # never let the thread die silently (spool drains)
                logger.exception("runstream sender failed")
                self._record(ProducerError(f"the sender failed: {exc}"))
            if stopping and self._buffer.fresh == 0:
                return

    def cycle(self) -> None:
        """One round: deliver what is buffered, then drain the spool if one is due."""
        entries, upto = self._buffer.take()
        try:
            if entries:
                started = time.perf_counter()
                events = self.build(entries)
                built = time.perf_counter()
                self._deliver(events)
                self._cycles += 1
                self._build_s += built - started
                self._deliver_s += time.perf_counter() - built
        except Exception as exc:  # recorded before the release, so flush() sees it
            logger.exception("runstream sender failed")
            self._record(ProducerError(f"the sender failed; what it held was not sent: {exc}"))
        finally:
            self._buffer.release(upto)
        if self._spool is not None:
            self._maybe_drain()

    # -- building -------------------------------------------------------------------------

    def build(self, entries: Sequence[Entry]) -> list[RunEvent]:
        """Stamped events for buffered entries, in order."""
        events: list[RunEvent] = []
        pending: dict[tuple[str, Context], list[Chunk]] = {}
        for entry in entries:
            if isinstance(entry, RowBlock):
                for chunk in rows_chunk(
                    entry.run_id,
                    entry.keys,
                    entry.values,
                    entry.steps,
                    entry.timestamps,
                    entry.context,
                ):
                    pending.setdefault((chunk.run_id, chunk.context), []).append(chunk)
            elif isinstance(entry, Chunk):
                pending.setdefault((entry.run_id, entry.context), []).append(entry)
            else:
                self._emit_points(pending, events)
                events.append(self._stamp_control(entry))
        self._emit_points(pending, events)
        return events

    def _emit_points(
        self, pending: dict[tuple[str, Context], list[Chunk]], events: list[RunEvent]
    ) -> None:
        """One or more events per (run, context) (a context's points stay in order)."""
        stamp = self._stamper.stamp
        now = now_ms()
        for (run_id, _), chunks in pending.items():
            experiment_id = self._experiment_of(run_id)
            for merged in merge_run_chunks(chunks):
                for payload in split_events(merged, self._settings.max_event_bytes):
                    events.append(stamp(run_id, experiment_id, payload, now))
        pending.clear()

    def _stamp_control(self, control: Control) -> RunEvent:
        return self._stamper.stamp(
            control.run_id, control.experiment_id, control.payload, control.client_ts
        )

    # -- delivering -----------------------------------------------------------------------

    def _deliver(self, events: list[RunEvent]) -> None:
        if self._spool is not None and self._spool.pending:
            self._to_spool(events)
            return
        while True:
            try:
                token = self._transport.publish(events)
            except BrokerUnavailableError as exc:
                self._unavailable(exc)
                if self._spool is not None:
                    self._to_spool(events)
                    return
                if self._give_up.is_set():
                    self._record(
                        ProducerError(
                            f"{len(events)} event(s) were not delivered before close: {exc}",
                            error_code=exc.error_code,
                        )
                    )
                    return
                self._sleep_backoff()
                continue
            except ProducerError as exc:
                self._record(
                    ProducerError(
                        f"{len(events)} event(s) could not be published and were dropped: {exc}",
                        error_code=exc.error_code,
                    )
                )
                return
            except Exception as exc:  # an event the transport cannot encode
                events = self._encodable(events, exc)
                if events:
                    continue  # the others go out (the gateway and ingest drop resends)
                return
            self._delivered(token, len(events))
            return

    def _encodable(self, events: list[RunEvent], cause: Exception) -> list[RunEvent]:
        """The events that encode, after ``cause`` failed a publish: each event that does
        not encode is dropped alone and named (flush() raises); the others are kept.  If
        every event encodes, the failure is not theirs: all are reported undelivered."""
        good: list[RunEvent] = []
        for event in events:
            try:
                self._codec.encode(event)
            except Exception as exc:  # noqa: BLE001 - named in the recorded error
                self._record(_undeliverable(event, exc))
            else:
                good.append(event)
        if len(good) == len(events):
            self._record(ProducerError(f"{len(events)} event(s) could not be published: {cause}"))
            return []
        return good

    def _delivered(self, token: WriteToken, count: int) -> None:
        with self._lock:
            self._token = self._token.merge(token)
        self.events_published += count
        if self._last_error is not None:
            logger.info("publishing to %s works again", self._transport.target)
        self._last_error = None
        self._backoff = self._settings.retry_backoff_s

    def _unavailable(self, exc: BrokerUnavailableError) -> None:
        self._last_error = exc
        now = time.monotonic()
        if now - self._last_logged >= _LOG_EVERY_S:
            self._last_logged = now
            action = "spooling to disk" if self._spool is not None else "retrying"
            logger.warning("%s; %s", exc, action)

    def _sleep_backoff(self) -> None:
        delay = self._backoff * (0.8 + 0.4 * random.random())
        self._backoff = min(self._backoff * 2, self._settings.retry_backoff_max_s)
        self._give_up.wait(delay)

    def _record(self, error: ProducerError) -> None:
        logger.error("%s", error)
        with self._lock:
            self._errors.append(error)

    # -- spool ----------------------------------------------------------------------------

    def _to_spool(self, events: list[RunEvent]) -> None:
        assert self._spool is not None
        records: list[Record] = []
        for event in events:
            try:
                records.append((event.kafka_key, self._codec.encode(event)))
            except Exception as exc:  # noqa: BLE001 - this event alone is dropped, named
                self._record(_undeliverable(event, exc))
        try:
            self._spool.append(records)
        except ProducerError as exc:
            self._record(ProducerError(f"{len(events)} event(s) lost: {exc}"))
            return
        self.events_spooled += len(records)
        if self._next_drain == 0.0:
            self._next_drain = time.monotonic() + self._backoff

    def _publish_records(self, records: list[Record]) -> None:
        publish_records = getattr(self._transport, "publish_records", None)
        if publish_records is not None:
            token = publish_records(records)
        else:
            token = self._transport.publish([self._codec.decode(value) for _, value in records])
        self._delivered(token, len(records))

    def _maybe_drain(self) -> None:
        assert self._spool is not None
        own = self._spool.pending
        if not own and self._orphans_checked:
            return
        if time.monotonic() < self._next_drain and not self._stopping.is_set():
            return
        try:
            if own:
                sent = self._spool.drain(self._publish_records)
                logger.info("resent %d spooled event(s) to %s", sent, self._transport.target)
            if not self._orphans_checked:
                self._adopt_orphans()
        except BrokerUnavailableError as exc:
            self._unavailable(exc)
            self._next_drain = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, self._settings.retry_backoff_max_s)
        except ProducerError as exc:
            self._record(ProducerError(f"draining the spool failed: {exc}"))
            self._next_drain = time.monotonic() + self._settings.retry_backoff_max_s
        else:
            self._next_drain = 0.0

    def _adopt_orphans(self) -> None:
        """Drain spool folders left by processes that are gone (same spool directory)."""
        assert self._spool is not None
        root = self._spool.folder.parent
        for folder in Spool.orphans(root, own=self._spool.folder):
            orphan = Spool.adopt(folder)
            if orphan is None:
                continue  # a live process owns it
            try:
                sent = orphan.drain(self._publish_records)
                logger.info("resent %d event(s) left in %s by an earlier process", sent, folder)
            finally:
                orphan.close()
        self._orphans_checked = True


def _undeliverable(event: RunEvent, cause: Exception) -> ProducerError:
    what = type(event.payload).__name__
    where = f"run {event.run_id}" if event.run_id else f"experiment {event.experiment_id}"
    return ProducerError(
        f"a {what} event of {where} (seq {event.seq}) cannot be encoded and was dropped "
        f"(the other events of its cycle were sent): {echo(str(cause))}"
    )
