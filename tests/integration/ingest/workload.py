"""Helpers of the ingest integration tests: topics, events on the wire, waiting, dumps.

Events are produced with ``EventCodec`` and kafka-python directly (not through the SDK),
keyed as the contract says (``RunEvent.kafka_key``).
"""

from __future__ import annotations

import itertools
import math
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import clickhouse_connect
import numpy as np
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from runstream.ingest.kafka_dead_letters import ensure_topics
from runstream.proto import events as ev
from runstream.proto.codec import EventCodec

CODEC = EventCodec()
_seq = itertools.count()


def new_topic(bootstrap: str, prefix: str, partitions: int) -> str:
    topic = f"{prefix}-ingest-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [(topic, partitions, 1), (f"{topic}.dlq", 1, 1)])
    return topic


def event(run_id: str, payload: ev.Payload, experiment_id: str = "1") -> ev.RunEvent:
    return ev.RunEvent(
        ev.new_event_id(), run_id, experiment_id, "itest", next(_seq), 1_000, payload
    )


def points(
    keys: Sequence[str], steps: Sequence[int], values: Sequence[float], ts: int = 1_000
) -> ev.MetricsLogged:
    n = len(steps)
    index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    return ev.MetricsLogged(
        tuple(index),
        np.asarray([index[k] for k in keys], dtype=np.uint16),
        np.asarray(values, dtype=np.float64),
        np.asarray(steps, dtype=np.int64),
        np.full(n, ts, dtype=np.int64),
    )


@dataclass
class Sender:
    bootstrap: str
    topic: str
    producer: KafkaProducer = field(init=False)

    def __post_init__(self) -> None:
        self.producer = KafkaProducer(
            bootstrap_servers=self.bootstrap.split(","), linger_ms=5, max_request_size=16 << 20
        )

    def send(self, events: Iterable[ev.RunEvent]) -> None:
        for e in events:
            self.producer.send(self.topic, key=e.kafka_key, value=CODEC.encode(e))

    def raw(self, key: bytes, value: bytes) -> None:
        self.producer.send(self.topic, key=key, value=value)

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","))
    try:
        parts = sorted(consumer.partitions_for_topic(topic) or [])
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return {tp.partition: int(o) for tp, o in ends.items()}
    finally:
        consumer.close()


def committed(bootstrap: str, group: str) -> dict[int, int]:
    """The consumer group's committed offsets per partition of every topic it reads."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
        return {tp.partition: om.offset for tp, om in offsets.items() if om.offset >= 0}
    finally:
        admin.close()


def read_all(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list[Any]:
    """Every record of ``topic`` (no group)."""
    ends = end_offsets(bootstrap, topic)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition(topic, p) for p in ends])
        consumer.seek_to_beginning()
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < sum(ends.values()) and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=500).values():
                out.extend(recs)
        return out
    finally:
        consumer.close()


def wait_for(
    predicate: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


def applied(client: Any, topic: str) -> dict[int, int]:
    rows = client.query(
        "SELECT partition, max(next_offset) FROM ingest_offsets "
        "WHERE topic = {t:String} GROUP BY partition",
        parameters={"t": topic},
    ).result_rows
    return {int(p): int(o) for p, o in rows}


def wait_applied(
    client: Any, bootstrap: str, topic: str, timeout_s: float = 60.0
) -> dict[int, int]:
    """Wait until the database says every record of ``topic`` is applied."""
    ends = {p: o for p, o in end_offsets(bootstrap, topic).items() if o > 0}

    def done() -> bool:
        got = applied(client, topic)
        return all(got.get(p, 0) >= o for p, o in ends.items())

    wait_for(done, timeout_s, f"ingest of {topic} up to {ends}")
    return ends


def client(dsn: str, database: str) -> Any:
    return clickhouse_connect.get_client(dsn=dsn, database=database)


# Canonical contents of the tables, for "replay equals live".  ingest_batches differ
# by design (other batch boundaries) and are left out; latest_metrics compares merged.
DUMPS: dict[str, str] = {
    "experiments": "SELECT * FROM experiments FINAL ORDER BY experiment_id",
    "experiment_tags": "SELECT * FROM experiment_tags FINAL ORDER BY experiment_id, key",
    "runs": "SELECT * FROM runs FINAL ORDER BY run_id",
    "params": "SELECT DISTINCT * FROM params ORDER BY run_id, key",
    "tags": "SELECT * FROM tags FINAL ORDER BY run_id, key",
    "metrics": "SELECT * FROM metrics FINAL ORDER BY run_id, key, step, timestamp, value",
    "latest_metrics": (
        "SELECT experiment_id, key, run_id, max(latest), min(min_value), max(max_value), "
        "sum(count) FROM latest_metrics GROUP BY experiment_id, key, run_id "
        "ORDER BY experiment_id, key, run_id"
    ),
    "ingest_offsets": "SELECT topic, partition, max(next_offset) FROM ingest_offsets "
    "GROUP BY topic, partition ORDER BY partition",
    # the model half (0004_models.sql)
    "registered_models": "SELECT * FROM registered_models FINAL ORDER BY name",
    "registered_model_tags": "SELECT * FROM registered_model_tags FINAL ORDER BY name, key",
    "registered_model_aliases": "SELECT * FROM registered_model_aliases FINAL ORDER BY name, alias",
    "model_versions": "SELECT * FROM model_versions FINAL ORDER BY name, model_version",
    "model_version_tags": "SELECT * FROM model_version_tags FINAL "
    "ORDER BY name, model_version, key",
    "write_outcomes": "SELECT * FROM write_outcomes FINAL ORDER BY event_id",
    "logged_models": "SELECT * FROM logged_models FINAL ORDER BY model_id",
    "logged_model_tags": "SELECT * FROM logged_model_tags FINAL ORDER BY model_id, key",
    "logged_model_params": "SELECT * FROM logged_model_params FINAL ORDER BY model_id, key",
    "logged_model_metrics": "SELECT * FROM logged_model_metrics FINAL "
    "ORDER BY model_id, key, timestamp, step, run_id, value",
    "run_inputs": "SELECT * FROM run_inputs FINAL "
    "ORDER BY run_id, dataset_name, dataset_digest, version",
    "run_model_links": "SELECT * FROM run_model_links FINAL "
    "ORDER BY run_id, direction, model_id, step",
}


def fingerprints(c: Any) -> dict[str, list[Any]]:
    """Row count and an order-independent hash of every dump: cheap on big tables."""
    return {
        name: canonical(
            c.query(f"SELECT count(), sum(cityHash64(toString(tuple(*)))) FROM ({sql})").result_rows
        )
        for name, sql in DUMPS.items()
    }


def canonical(value: Any) -> Any:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, tuple | list):
        return [canonical(v) for v in value]
    return value if isinstance(value, int | str | type(None)) else str(value)


def dump(c: Any) -> dict[str, list[Any]]:
    return {name: canonical(c.query(sql).result_rows) for name, sql in DUMPS.items()}
