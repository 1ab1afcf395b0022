"""Kafka adapter for reading: a :class:`KafkaSource` over kafka-python's ``KafkaConsumer``.

Two modes: in a consumer group (``subscribe`` with a rebalance listener; auto commit off,
offsets committed by the worker after the ClickHouse write) and without one (``assign``
of explicit partitions, for replay: nothing is committed).  Records are decoded here:
a record that cannot be decoded comes out as poison, with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from runstream.proto.codec import EventCodec
from runstream.proto.errors import DecodeError, UnknownSchemaError

from .errors import SourceError
from .ports import AssignmentCallback
from .records import Poison, PoisonReason, SourceRecord

logger = logging.getLogger(__name__)

_FETCH = {
    "max_partition_fetch_bytes": 16 * 1024 * 1024,
    "fetch_max_bytes": 64 * 1024 * 1024,
    "max_poll_records": 5000,
    "receive_buffer_bytes": 4 * 1024 * 1024,
}


def decode_record(codec: EventCodec, raw: Any) -> SourceRecord:
    """A kafka-python ``ConsumerRecord`` as a :class:`SourceRecord` (event or poison)."""
    base = {
        "topic": raw.topic,
        "partition": raw.partition,
        "offset": raw.offset,
        "key": raw.key,
        "value": raw.value,
    }
    if raw.value is None:
        return SourceRecord(**base, poison=Poison(PoisonReason.DECODE_ERROR, "record has no value"))
    try:
        return SourceRecord(**base, event=codec.decode(raw.value))
    except UnknownSchemaError as exc:
        return SourceRecord(**base, poison=Poison(PoisonReason.UNKNOWN_SCHEMA, str(exc)))
    except DecodeError as exc:
        return SourceRecord(**base, poison=Poison(PoisonReason.DECODE_ERROR, str(exc)))
    except Exception as exc:  # the codec should wrap everything; never let one record stop us
        detail = f"{type(exc).__name__}: {exc}"
        return SourceRecord(**base, poison=Poison(PoisonReason.DECODE_ERROR, detail))


class _Listener(ConsumerRebalanceListener):
    def __init__(self, on_assigned: AssignmentCallback, on_revoked: AssignmentCallback) -> None:
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked

    def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        self._on_revoked(frozenset(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        self._on_assigned(frozenset(tp.partition for tp in assigned))


class KafkaSource:
    """Implements :class:`~.ports.Source` for one topic."""

    def __init__(self, consumer: Any, topic: str, codec: EventCodec, *, group: bool) -> None:
        self._consumer = consumer
        self._topic = topic
        self._codec = codec
        self._group = group

    @classmethod
    def in_group(
        cls,
        bootstrap: str,
        topic: str,
        group: str,
        *,
        on_assigned: AssignmentCallback,
        on_revoked: AssignmentCallback,
        instance_id: str | None = None,
        session_timeout_ms: int = 10_000,
        codec: EventCodec | None = None,
    ) -> KafkaSource:
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=bootstrap.split(","),
                group_id=group,
                group_instance_id=instance_id,
                client_id=f"runstream-ingest-{instance_id or 'worker'}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=session_timeout_ms,
                heartbeat_interval_ms=max(300, min(3000, session_timeout_ms // 3)),
                **_FETCH,
            )
            consumer.subscribe([topic], listener=_Listener(on_assigned, on_revoked))
        except KafkaError as exc:
            raise SourceError(f"cannot consume {topic} from {bootstrap}: {exc}") from exc
        return cls(consumer, topic, codec or EventCodec(), group=True)

    @classmethod
    def assigned(
        cls,
        bootstrap: str,
        topic: str,
        partitions: Collection[int] | None = None,
        *,
        codec: EventCodec | None = None,
    ) -> KafkaSource:
        """No consumer group: the given partitions (default all), nothing committed."""
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=bootstrap.split(","),
                group_id=None,
                client_id="runstream-replay",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                **_FETCH,
            )
            if partitions is None:
                found = consumer.partitions_for_topic(topic)
                if not found:
                    raise SourceError(f"topic {topic} does not exist on {bootstrap}")
                partitions = sorted(found)
            consumer.assign([TopicPartition(topic, p) for p in partitions])
        except KafkaError as exc:
            raise SourceError(f"cannot consume {topic} from {bootstrap}: {exc}") from exc
        return cls(consumer, topic, codec or EventCodec(), group=False)

    # -- Source -----------------------------------------------------------------------------

    @property
    def topic(self) -> str:
        return self._topic

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self._topic, partition)

    def poll(self, timeout_s: float) -> list[SourceRecord]:
        try:
            fetched = self._consumer.poll(timeout_ms=int(timeout_s * 1000))
        except KafkaError as exc:
            raise SourceError(f"poll of {self._topic} failed: {exc}") from exc
        records: list[SourceRecord] = []
        for tp in sorted(fetched, key=lambda t: t.partition):
            records.extend(decode_record(self._codec, raw) for raw in fetched[tp])
        return records

    def assignment(self) -> frozenset[int]:
        return frozenset(tp.partition for tp in self._consumer.assignment())

    def seek(self, partition: int, offset: int) -> None:
        self._consumer.seek(self._tp(partition), offset)

    def seek_to_beginning(self, partitions: Collection[int]) -> None:
        self._consumer.seek_to_beginning(*[self._tp(p) for p in partitions])

    def position(self, partition: int) -> int:
        return int(self._consumer.position(self._tp(partition)))

    def committed(self, partition: int) -> int | None:
        if not self._group:
            return None
        value = self._consumer.committed(self._tp(partition))
        return None if value is None else int(value)

    def commit(self, offsets: Mapping[int, int]) -> None:
        if not self._group or not offsets:
            return
        payload = {self._tp(p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()}
        try:
            self._consumer.commit(offsets=payload)
        except KafkaError as exc:
            # The database holds the truth (ingest_offsets); a failed commit only makes
            # the group's lag look higher until the next one succeeds.
            logger.warning("commit of offsets %s on %s failed: %s", dict(offsets), self._topic, exc)

    def end_offsets(self, partitions: Collection[int]) -> dict[int, int]:
        if not partitions:
            return {}
        try:
            ends = self._consumer.end_offsets([self._tp(p) for p in partitions])
        except KafkaError as exc:
            raise SourceError(f"cannot read end offsets of {self._topic}: {exc}") from exc
        return {tp.partition: int(o) for tp, o in ends.items()}

    def beginning_offsets(self, partitions: Collection[int]) -> dict[int, int]:
        if not partitions:
            return {}
        try:
            starts = self._consumer.beginning_offsets([self._tp(p) for p in partitions])
        except KafkaError as exc:
            raise SourceError(f"cannot read start offsets of {self._topic}: {exc}") from exc
        return {tp.partition: int(o) for tp, o in starts.items()}

    def pause(self, partitions: Collection[int]) -> None:
        self._consumer.pause(*[self._tp(p) for p in partitions])

    def resume(self, partitions: Collection[int]) -> None:
        self._consumer.resume(*[self._tp(p) for p in partitions])

    def close(self) -> None:
        """Close without committing.  A static member (instance id) stays in the group
        until its session times out; a dynamic one leaves at once."""
        try:
            self._consumer.close(autocommit=False)
        except Exception:  # closing is best effort
            logger.debug("closing the consumer failed", exc_info=True)
