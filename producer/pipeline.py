"""The producer pipeline: buffer -> sender thread -> transport (and spool), with flush,
close and the exit hook.  The client and the gateway's callers never see its parts."""

from __future__ import annotations

import atexit
import functools
import logging
import os
import time
import weakref

from runstream.proto.events import Payload
from runstream.proto.tokens import WriteToken

from .buffer import Control, EventBuffer
from .columns import Chunk
from .errors import BrokerUnavailableError, InvalidStateError, ProducerError
from .ids import EventStamper, new_producer_id, now_ms
from .sender import Sender, SenderStats
from .settings import ProducerSettings
from .spool import Spool
from .transport import Transport, open_transport

logger = logging.getLogger(__name__)


def _exit_hook(ref: weakref.ref[Pipeline]) -> None:
    pipeline = ref()
    if pipeline is not None:
        pipeline.close_at_exit()


class Pipeline:
    """One producer identity: its own producer id and ``seq``, one buffer, one sender."""

    def __init__(
        self,
        settings: ProducerSettings,
        transport: Transport | None = None,
        producer_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.producer_id = producer_id or new_producer_id()
        self._pid = os.getpid()
        self.runs: dict[str, str] = {}  # run id -> experiment id (read by the sender)
        self._transport = transport or open_transport(
            settings, client_id=f"runstream-{self.producer_id[:8]}"
        )
        self._spool = (
            Spool.create(settings.spool_dir, self.producer_id) if settings.spool_dir else None
        )
        self._sender: Sender | None = None
        self._buffer = EventBuffer(
            capacity=settings.buffer_points,
            policy=settings.buffer_policy,
            block_timeout_s=settings.block_timeout_s,
            wake_at=settings.batch_points,
            wake=self._wake,
            eager=settings.linger_ms == 0,
        )
        self._sender = Sender(
            self._buffer,
            self._transport,
            EventStamper(self.producer_id),
            settings,
            experiment_of=self.experiment_of,
            spool=self._spool,
        )
        self._closed = False
        self._sender.start()
        self._exit = functools.partial(_exit_hook, weakref.ref(self))
        atexit.register(self._exit)
        self.put_row = self._buffer.put_row  # the hot path, without a wrapper call

    # -- runs -----------------------------------------------------------------------------

    @property
    def target(self) -> str:
        return self._transport.target

    def register_run(self, run_id: str, experiment_id: str) -> None:
        """Remember a run's experiment: its metric events carry it in their header."""
        if experiment_id or run_id not in self.runs:
            self.runs[run_id] = experiment_id

    def knows_run(self, run_id: str) -> bool:
        return run_id in self.runs

    def experiment_of(self, run_id: str) -> str:
        return self.runs.get(run_id, "")

    # -- putting --------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._sender is not None:
            self._sender.wake()

    def put_chunk(self, chunk: Chunk) -> None:
        if len(chunk):
            self._buffer.put(chunk)

    def put_event(
        self, run_id: str, experiment_id: str, payload: Payload, client_ts: int | None = None
    ) -> None:
        ts = now_ms() if client_ts is None else client_ts
        self._buffer.put(Control(run_id, experiment_id, payload, ts))

    # -- flush and close ------------------------------------------------------------------

    @property
    def token(self) -> WriteToken:
        assert self._sender is not None
        return self._sender.token

    def stats(self) -> SenderStats:
        assert self._sender is not None
        return self._sender.stats()

    @property
    def spool_pending(self) -> bool:
        return self._sender is not None and self._sender.spool_pending

    def flush(self, timeout: float | None = None) -> WriteToken:
        """Wait until everything put so far is acknowledged by Kafka (or, with a spool,
        safely on disk); returns the write token of all this producer's acknowledged
        events.  Raises ``BrokerUnavailableError`` (naming the target and the cause) on
        timeout, or the error that made events undeliverable."""
        assert self._sender is not None
        if os.getpid() != self._pid:
            raise InvalidStateError(
                "this client was created in the parent process; create a new one after fork"
            )
        wait = self.settings.flush_timeout_s if timeout is None else timeout
        ticket = self._buffer.ticket
        self._sender.wake()
        done = self._buffer.wait_released(ticket, wait)
        errors = self._sender.take_errors()
        if not done:
            held = self._buffer.held
            last = self._sender.last_error
            cause = last.cause if isinstance(last, BrokerUnavailableError) else None
            raise BrokerUnavailableError(
                self._transport.target,
                f"flush timed out after {wait:.1f} s with {held} point(s) not acknowledged; "
                + (f"last error: {cause}" if cause else "no acknowledgement yet, no error yet"),
            )
        if errors:
            first = errors[0]
            if len(errors) > 1:
                raise ProducerError(
                    f"{first} (and {len(errors) - 1} more error(s))", error_code=first.error_code
                )
            raise first
        return self._sender.token

    def close(self, timeout: float | None = None) -> None:
        """Flush, stop the sender, close the transport.  Raises if events could not be
        delivered (without a spool); with a spool, what is left stays there for the
        next process that opens the same spool directory."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._exit)
        if os.getpid() != self._pid:
            return  # a forked child: the parent owns the thread and the connection
        assert self._sender is not None
        wait = self.settings.exit_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + wait
        error: ProducerError | None = None
        try:
            self.flush(wait)
        except ProducerError as exc:
            error = exc
        self._buffer.close()
        self._sender.stop(give_up=True)
        remaining = max(1.0, deadline - time.monotonic())
        self._sender.join(remaining + self.settings.publish_timeout_s)
        late = self._sender.take_errors()
        if error is None and late:
            error = late[0]
        if self._spool is not None and not self._sender.is_alive():
            if self._spool.pending:
                logger.warning(
                    "unsent events remain in the spool %s: a later producer with the same "
                    "spool directory resends them",
                    self._spool.folder,
                )
            self._spool.close()
        try:
            self._transport.close(max(0.0, deadline - time.monotonic()))
        except ProducerError as exc:
            error = error or exc
        if error is not None:
            raise error

    def close_at_exit(self) -> None:
        try:
            self.close()
        except ProducerError as exc:
            logger.error("runstream: at exit, not everything could be published: %s", exc)

    @property
    def closed(self) -> bool:
        return self._closed
