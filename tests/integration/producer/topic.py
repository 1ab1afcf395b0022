"""Reading a topic back with kafka-python and the event codec (the contract)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from kafka import KafkaConsumer, TopicPartition

from runstream.proto.codec import EventCodec
from runstream.proto.events import MetricsLogged, RunEvent


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes
    event: RunEvent


def read_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Record]:
    """Every record of ``topic`` (all partitions, to their current end), decoded."""
    codec = EventCodec()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        deadline = time.monotonic() + timeout
        partitions = consumer.partitions_for_topic(topic)
        while not partitions and time.monotonic() < deadline:
            time.sleep(0.2)
            partitions = consumer.partitions_for_topic(topic)
        assert partitions, f"topic {topic} does not exist"
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[Record] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "timed out reading the topic"
            for tp, messages in consumer.poll(timeout_ms=500, max_records=10_000).items():
                for m in messages:
                    records.append(Record(tp.partition, m.offset, m.key, codec.decode(m.value)))
        return records
    finally:
        consumer.close()


def unique_events(records: list[Record]) -> list[RunEvent]:
    """Events deduplicated by (producer_id, seq), in (producer, seq) order."""
    seen: dict[tuple[str, int], RunEvent] = {}
    for record in records:
        event = record.event
        seen.setdefault((event.producer_id, event.seq), event)
    return [seen[k] for k in sorted(seen)]


def points(events: list[RunEvent]) -> dict[str, np.ndarray]:
    """Metric points per producer: rows (step, value) in seq order."""
    out: dict[str, list[np.ndarray]] = {}
    for event in events:
        if isinstance(event.payload, MetricsLogged):
            p = event.payload
            out.setdefault(event.producer_id, []).append(np.column_stack([p.steps, p.values]))
    return {k: np.concatenate(v) for k, v in out.items()}
