"""Kafka adapter: publishes Avro-encoded run events with kafka-python's ``KafkaProducer``.

``acks="all"``, idempotence on, compressed (lz4 by default), large batches.  The write
token is built from the ``RecordMetadata`` of every record: partition -> last offset.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import kafka.errors as kafka_errors
from kafka import KafkaProducer

from runstream.proto.codec import EventCodec
from runstream.proto.events import RunEvent
from runstream.proto.tokens import WriteToken

from .errors import BrokerUnavailableError, InvalidStateError, ProducerError
from .settings import KafkaOptions

logger = logging.getLogger(__name__)

# Events are kept at or under ~1 MB (the broker's default message.max.bytes); one
# record batch holds several of them, compressed.
_BATCH_SIZE = 1_000_000
_MAX_REQUEST_SIZE = 1_048_576
_REQUEST_TIMEOUT_MS = 15_000


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text and not text.startswith(name) else (text or name)


def _error_for(target: str, exc: BaseException) -> ProducerError:
    """Our error for a kafka-python failure: retriable ones mean 'broker unavailable'."""
    if isinstance(exc, ProducerError):
        return exc
    retriable = isinstance(exc, kafka_errors.KafkaError) and (
        exc.retriable
        or isinstance(
            exc,
            kafka_errors.KafkaTimeoutError
            | kafka_errors.NoBrokersAvailable
            | kafka_errors.KafkaConnectionError
            | kafka_errors.IllegalStateError,
        )
    )
    if retriable:
        return BrokerUnavailableError(target, _describe(exc))
    return ProducerError(f"Kafka at {target} refused the events: {_describe(exc)}")


class KafkaPendingWrite:
    """The futures of one submit; ``result()`` waits for all and builds the token."""

    def __init__(self, futures: list[Any], target: str, topic: str) -> None:
        self._futures = futures
        self._target = target
        self._topic = topic

    def result(self, timeout: float | None = None) -> WriteToken:
        deadline = None if timeout is None else time.monotonic() + timeout
        offsets: dict[int, int] = {}
        for future in self._futures:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                metadata = future.get(timeout=remaining)
            except kafka_errors.KafkaTimeoutError as exc:
                if future.is_done:
                    raise _error_for(self._target, exc) from exc
                raise BrokerUnavailableError(
                    self._target, f"no acknowledgement within {timeout:.1f} s ({_describe(exc)})"
                ) from exc
            except Exception as exc:
                raise _error_for(self._target, exc) from exc
            if metadata.offset > offsets.get(metadata.partition, -1):
                offsets[metadata.partition] = metadata.offset
        return WriteToken.of(self._topic, offsets)


def _discard(producer: KafkaProducer) -> None:
    """Close a producer at once, failing the records it still holds (we resend or spool
    them ourselves).  ``close(timeout=0)`` alone raises while records are pending and
    leaves kafka-python's I/O thread running, so its sender is force-closed first."""
    sender = getattr(producer, "_sender", None)
    if sender is not None and hasattr(sender, "force_close"):
        sender.force_close()
        sender.join(5)
    try:
        producer.close(timeout=0)
    except Exception:  # a broken producer may fail to close: it is gone anyway
        logger.debug("closing the kafka producer failed", exc_info=True)


class KafkaTransport:
    """A :class:`~runstream.producer.transport.Transport` straight to Kafka.

    The ``KafkaProducer`` is created on first use (and again after :meth:`reset`), so a
    broker that is down when the SDK starts only delays publishing.
    """

    def __init__(self, options: KafkaOptions, codec: EventCodec | None = None) -> None:
        self._options = options
        self._codec = codec or EventCodec()
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None
        self._closed = False

    @property
    def target(self) -> str:
        return f"kafka://{self._options.bootstrap}"

    @property
    def topic(self) -> str:
        return self._options.topic

    @property
    def codec(self) -> EventCodec:
        return self._codec

    def _config(self) -> dict[str, Any]:
        opts = self._options
        publish_ms = int(opts.publish_timeout_s * 1000)
        connect_ms = max(1, int(opts.connect_timeout_s * 1000))
        return {
            "bootstrap_servers": opts.bootstrap_servers,
            "client_id": opts.client_id,
            "acks": "all",
            "enable_idempotence": True,
            "compression_type": None if opts.compression == "none" else opts.compression,
            "linger_ms": opts.linger_ms,
            "batch_size": _BATCH_SIZE,
            "max_request_size": _MAX_REQUEST_SIZE,
            "request_timeout_ms": _REQUEST_TIMEOUT_MS,
            "delivery_timeout_ms": max(30_000, publish_ms + _REQUEST_TIMEOUT_MS),
            "retry_backoff_ms": 100,
            "reconnect_backoff_ms": 50,
            "reconnect_backoff_max_ms": 1000,
            "bootstrap_timeout_ms": connect_ms,
            "max_block_ms": connect_ms,
        }

    def _ensure(self) -> KafkaProducer:
        with self._lock:
            if self._closed:
                raise InvalidStateError(f"the transport to {self.target} is closed")
            if self._producer is not None:
                return self._producer
            try:
                producer = KafkaProducer(**self._config())
            except Exception as exc:
                raise _error_for(self.target, exc) from exc
            # kafka-python closes every producer at interpreter exit with a 1 s timeout.
            # Exit hooks run last-registered-first, so that would close this producer
            # before the SDK's own exit hook flushes its buffer through it: the SDK's
            # close() closes the producer instead.
            cleanup = getattr(producer, "_cleanup", None)
            if cleanup is not None:
                atexit.unregister(cleanup)
            self._producer = producer
            logger.debug("kafka producer connected to %s", self._options.bootstrap)
            return producer

    def _send_all(self, records: Sequence[tuple[bytes, bytes]]) -> KafkaPendingWrite:
        producer = self._ensure()
        topic = self._options.topic
        futures = []
        try:
            for key, value in records:
                futures.append(producer.send(topic, key=key, value=value))
        except Exception as exc:
            raise _error_for(self.target, exc) from exc
        return KafkaPendingWrite(futures, self.target, topic)

    def encode(self, events: Sequence[RunEvent]) -> list[tuple[bytes, bytes]]:
        return [(event.kafka_key, self._codec.encode(event)) for event in events]

    def submit(self, events: Sequence[RunEvent]) -> KafkaPendingWrite:
        return self._send_all(self.encode(events))

    def submit_records(self, records: Sequence[tuple[bytes, bytes]]) -> KafkaPendingWrite:
        """Already-encoded (key, value) records, e.g. replayed from the spool."""
        return self._send_all(records)

    def publish(self, events: Sequence[RunEvent], timeout: float | None = None) -> WriteToken:
        return self.publish_records(self.encode(events), timeout)

    def publish_records(
        self, records: Sequence[tuple[bytes, bytes]], timeout: float | None = None
    ) -> WriteToken:
        wait = self._options.publish_timeout_s if timeout is None else timeout
        try:
            return self._send_all(records).result(wait)
        except BrokerUnavailableError:
            self.reset()
            raise

    def reset(self) -> None:
        """Drop the producer and whatever it still holds; the next publish reconnects."""
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            _discard(producer)

    def flush(self, timeout: float | None = None) -> None:
        producer = self._producer
        if producer is not None:
            try:
                producer.flush(timeout)
            except Exception as exc:
                raise _error_for(self.target, exc) from exc

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
            self._closed = True
        if producer is not None:
            try:
                wait = self._options.publish_timeout_s if timeout is None else timeout
                producer.close(timeout=wait)
            except Exception:
                logger.warning("closing the kafka producer failed", exc_info=True)
