"""The local Kafka launcher against a real broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from runstream.infra import kafka


def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()


def _read_all(bootstrap: str, topic: str) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The partition count of a topic and all its records, read without a group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[tuple[bytes, bytes]] = []
        while any(consumer.position(p) < ends[p] for p in partitions):
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend((record.key, record.value) for record in batch)
        return len(partitions), records
    finally:
        consumer.close()


def test_produce_and_consume_in_a_group(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}.launcher"
    _produce(kafka_bootstrap, topic, b"run-1", b"hello")
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic_prefix}.launcher-group",
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    try:
        record = next(iter(consumer))
    finally:
        consumer.close()
    assert (record.topic, record.key, record.value) == (topic, b"run-1", b"hello")


def test_up_twice_is_harmless_and_a_restart_keeps_data(
    tmp_path: Path, free_ports: Callable[[int], list[int]]
) -> None:
    port, controller_port = free_ports(2)
    first = kafka.up(tmp_path, port=port, controller_port=controller_port)
    try:
        assert kafka.up(tmp_path, port=port, controller_port=controller_port) == first
        found = kafka.status(tmp_path)
        assert (found.running, found.pid, found.port, found.answering) == (
            True, first.pid, port, True,
        )  # fmt: skip
        with pytest.raises(kafka.BrokerConflictError):
            kafka.up(tmp_path, port=free_ports(1)[0], controller_port=controller_port)
        with pytest.raises(kafka.PortInUseError, match=str(port)):
            kafka.up(tmp_path / "other", port=port, controller_port=free_ports(1)[0])
        topic = "launcher.restart"
        _produce(first.bootstrap, topic, b"run-1", b"kept")
    finally:
        assert kafka.down(tmp_path) is True
    assert not kafka.status(tmp_path).running
    assert not (tmp_path / "kafka.pid").exists()
    assert kafka.down(tmp_path) is False

    again = kafka.up(tmp_path, port=port, controller_port=controller_port)
    try:
        assert again.pid != first.pid
        # auto-created with num.partitions=8; the record survived the restart
        assert _read_all(again.bootstrap, topic) == (8, [(b"run-1", b"kept")])
    finally:
        kafka.down(tmp_path)
