"""Kafka adapter for reading: a :class:`KafkaSource` over kafka-python's ``KafkaConsumer``.

Two modes: in a consumer group (``subscribe`` with a rebalance listener; auto commit off,
offsets committed by the worker after the ClickHouse write) and without one (``assign``
of explicit partitions, for replay: nothing is committed).  Records are decoded here:
a record that cannot be decoded comes out as poison, with the reason.

Every kafka-python error stops here: each method raises :class:`~.errors.SourceError`
(retryable) instead, and every call that waits for the broker is bounded by
:data:`CALL_TIMEOUT_MS`, so a broker outage never blocks or kills the worker loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from runstream.proto.codec import EventCodec
from runstream.proto.errors import DecodeError, UnknownSchemaError

from .errors import SourceError
from .ports import AssignmentCallback
from .records import Poison, PoisonReason, SourceRecord

logger = logging.getLogger(__name__)

T = TypeVar("T")

CALL_TIMEOUT_MS = 2000
"""Upper bound of every call that waits for the broker (offsets, commits, positions) in a
consumer group: the worker loop probes the broker with them and must stay responsive."""
REPLAY_CALL_TIMEOUT_MS = 15_000  # replay has nothing else to do meanwhile

# Reconnect within a second of the broker's return (kafka-python backs off to 30 s by
# default), and refresh metadata often enough that a group joined while the broker was
# still electing leaders (so with an empty assignment) rejoins within seconds.
_RECOVERY = {
    "reconnect_backoff_ms": 50,
    "reconnect_backoff_max_ms": 1000,
    "retry_backoff_ms": 100,
    "metadata_max_age_ms": 3000,
}

_FETCH = {
    # How long the broker holds a fetch that finds no records (Kafka's default: 500 ms).
    # kafka-python keeps one fetch in flight per broker, and a fetch sent while a
    # partition's records were still being handed out leaves that partition out: records
    # arriving there waited for the held fetch to time out (freshness p99 ~470 ms).
    "fetch_max_wait_ms": 50,
    "max_partition_fetch_bytes": 16 * 1024 * 1024,
    "fetch_max_bytes": 64 * 1024 * 1024,
    "max_poll_records": 5000,
    "receive_buffer_bytes": 4 * 1024 * 1024,
}


def _groupless(bootstrap: str, client_id: str, **extra: Any) -> KafkaConsumer:
    """A consumer outside any group that commits nothing."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=None,
        client_id=client_id,
        enable_auto_commit=False,
        **_RECOVERY,
        **extra,
    )


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


def rejoin_until_joined(consumer: Any) -> None:
    """Make ``consumer`` finish every rebalance it starts (a kafka-python 3.0 race).

    A rebalance that starts because the subscribed topics' metadata changed (the first
    join happened before the topic's partitions were known, as with a topic created a
    moment earlier, or the broker restarted) leaves the coordinator's rejoin flag unset.
    When the JoinGroup/SyncGroup round trip outlasts one ``poll()``, the leader's own
    assignment meanwhile makes ``need_rejoin()`` false, so no later ``poll()`` completes
    the join: the member stays rebalancing with heartbeats off and no partitions until
    the broker evicts it, and never joins again.  Kafka's Java client had the same bug
    (KAFKA-9815) and fixed it by setting the flag whenever the snapshots differ; this
    does the same on this consumer's coordinator.  Without those internals it does
    nothing.
    """
    coordinator: Any = getattr(consumer, "_coordinator", None)
    original = getattr(coordinator, "need_rejoin", None)
    request = getattr(coordinator, "request_rejoin", None)
    if original is None or request is None or not hasattr(coordinator, "_assignment_snapshot"):
        logger.debug("kafka-python internals changed: rejoin fix not applied")
        return

    def need_rejoin() -> bool:
        snapshot = getattr(coordinator, "_assignment_snapshot", None)
        if snapshot is not None and snapshot != getattr(coordinator, "_metadata_snapshot", None):
            request()
        return bool(original())

    coordinator.need_rejoin = need_rejoin


class KafkaSource:
    """Implements :class:`~.ports.Source` for one topic."""

    def __init__(self, consumer: Any, topic: str, codec: EventCodec, *, group: bool) -> None:
        self._consumer = consumer
        self._topic = topic
        self._codec = codec
        self._group = group
        self._timeout_ms = CALL_TIMEOUT_MS if group else REPLAY_CALL_TIMEOUT_MS
        self.caught_up = False

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
        fetch_max_bytes: int | None = None,
        partition_fetch_bytes: int | None = None,
    ) -> KafkaSource:
        fetch = dict(_FETCH)  # the bytes one fetch may bring: what the consumer buffers
        if fetch_max_bytes:
            fetch["fetch_max_bytes"] = fetch_max_bytes
        if partition_fetch_bytes:
            fetch["max_partition_fetch_bytes"] = partition_fetch_bytes
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
                **_RECOVERY,
                **fetch,
            )
            rejoin_until_joined(consumer)
            consumer.subscribe([topic], listener=_Listener(on_assigned, on_revoked))
        except KafkaError as exc:
            raise SourceError(f"cannot consume {topic} from {bootstrap}: {exc}") from exc
        return cls(consumer, topic, codec or EventCodec(), group=True)

    @classmethod
    def probe(cls, bootstrap: str, topic: str, *, codec: EventCodec | None = None) -> KafkaSource:
        """A consumer that never fetches, for end offsets on a connection of its own: a
        consumer's requests to a broker queue behind its pending fetch, which the broker
        holds until records arrive or ``fetch_max_wait_ms`` (500 ms) passes."""
        try:
            consumer = _groupless(bootstrap, "runstream-ingest-probe")
        except KafkaError as exc:
            raise SourceError(f"cannot reach {bootstrap}: {exc}") from exc
        return cls(consumer, topic, codec or EventCodec(), group=False)

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
            consumer = _groupless(
                bootstrap, "runstream-replay", auto_offset_reset="earliest", **_FETCH
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

    def _call(self, doing: str, fn: Callable[[], T]) -> T:
        """``fn()`` with every kafka-python error raised as a :class:`SourceError`."""
        try:
            return fn()
        except (KafkaError, OSError, ValueError, KeyError) as exc:
            # kafka-python reports a partition no longer assigned (a rebalance, a member
            # evicted while the broker was away) with ValueError or KeyError.
            detail = f"{type(exc).__name__}: {exc}"
            raise SourceError(f"{doing} of {self._topic} failed: {detail}") from exc

    def poll(self, timeout_s: float) -> list[SourceRecord]:
        """Blocks until records arrive or ``timeout_s`` passes.  Sets :attr:`caught_up`:
        the poll returned records, and each partition it returned them from has no more
        (its last record is the last before the log end the broker reported with them)."""
        fetched = self._call("poll", lambda: self._consumer.poll(timeout_ms=int(timeout_s * 1000)))
        records: list[SourceRecord] = []
        caught_up = bool(fetched)
        for tp in sorted(fetched, key=lambda t: t.partition):
            raws = fetched[tp]
            records.extend(decode_record(self._codec, raw) for raw in raws)
            if caught_up and raws:
                end = self._consumer.highwater(tp)  # from the fetch response: no round trip
                caught_up = end is not None and raws[-1].offset + 1 >= end
        self.caught_up = caught_up
        return records

    def assignment(self) -> frozenset[int]:
        assigned = self._call("assignment", self._consumer.assignment)
        return frozenset(tp.partition for tp in assigned)

    def seek(self, partition: int, offset: int) -> None:
        self._call("seek", lambda: self._consumer.seek(self._tp(partition), offset))

    def seek_to_beginning(self, partitions: Collection[int]) -> None:
        tps = [self._tp(p) for p in partitions]
        self._call("seek to beginning", lambda: self._consumer.seek_to_beginning(*tps))

    def position(self, partition: int) -> int | None:
        value = self._call(
            "position",
            lambda: self._consumer.position(self._tp(partition), timeout_ms=self._timeout_ms),
        )
        return None if value is None else int(value)

    def committed(self, partition: int) -> int | None:
        if not self._group:
            return None
        value = self._call(
            "reading the committed offset",
            lambda: self._consumer.committed(self._tp(partition), timeout_ms=self._timeout_ms),
        )
        return None if value is None else int(value)

    def commit(self, offsets: Mapping[int, int]) -> None:
        if not self._group or not offsets:
            return
        payload = {self._tp(p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()}
        try:
            self._call(
                "commit",
                lambda: self._consumer.commit(offsets=payload, timeout_ms=self._timeout_ms),
            )
        except SourceError as exc:
            # The database holds the truth (ingest_offsets); a failed commit only makes
            # the group's lag look higher until the next one succeeds.
            logger.warning("commit of offsets %s on %s failed: %s", dict(offsets), self._topic, exc)

    def end_offsets(self, partitions: Collection[int]) -> dict[int, int]:
        if not partitions:
            return {}
        tps = [self._tp(p) for p in partitions]
        ends = self._call(
            "reading end offsets",
            lambda: self._consumer.end_offsets(tps, timeout_ms=self._timeout_ms),
        )
        return {tp.partition: int(o) for tp, o in ends.items()}

    def beginning_offsets(self, partitions: Collection[int]) -> dict[int, int]:
        if not partitions:
            return {}
        tps = [self._tp(p) for p in partitions]
        starts = self._call(
            "reading start offsets",
            lambda: self._consumer.beginning_offsets(tps, timeout_ms=self._timeout_ms),
        )
        return {tp.partition: int(o) for tp, o in starts.items()}

    def pause(self, partitions: Collection[int]) -> None:
        tps = [self._tp(p) for p in partitions]
        self._call("pause", lambda: self._consumer.pause(*tps))

    def resume(self, partitions: Collection[int]) -> None:
        tps = [self._tp(p) for p in partitions]
        self._call("resume", lambda: self._consumer.resume(*tps))

    def close(self) -> None:
        """Close without committing.  A static member (instance id) stays in the group
        until its session times out; a dynamic one leaves at once."""
        try:
            self._consumer.close(autocommit=False, timeout_ms=self._timeout_ms)
        except Exception:  # closing is best effort
            logger.debug("closing the consumer failed", exc_info=True)
