"""Kafka adapter for writing: dead letters, and creation of the topics the worker needs.

A dead letter keeps the original key and value and adds the headers of
:meth:`~.records.DeadLetter.headers` (reason, detail, origin topic, partition, offset).
Delivery is at least once: a batch rebuilt after a crash sends its dead letters again,
so readers of the dead-letter topic dedupe on (origin partition, origin offset).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from runstream.proto.vocabulary import min_insync_replicas, replicas_for

from .errors import DeadLetterError, SourceError
from .records import DeadLetter

logger = logging.getLogger(__name__)


class KafkaDeadLetters:
    """Implements :class:`~.ports.DeadLetterSink` on one topic."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._bootstrap = bootstrap
        self._producer: Any = None

    def _ensure_producer(self) -> Any:
        if self._producer is None:
            try:
                self._producer = KafkaProducer(
                    bootstrap_servers=self._bootstrap.split(","),
                    client_id="runstream-ingest-dlq",
                    acks="all",
                    linger_ms=5,
                    max_request_size=16 * 1024 * 1024,
                )
            except KafkaError as exc:
                raise DeadLetterError(f"cannot reach Kafka for {self.topic}: {exc}") from exc
        return self._producer

    def send(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        producer = self._ensure_producer()
        try:
            futures = [
                producer.send(
                    self.topic,
                    key=letter.record.key,
                    value=letter.record.value or b"",
                    headers=letter.headers(),
                )
                for letter in letters
            ]
            producer.flush(timeout=30)
            for future in futures:
                future.get(timeout=1)
        except KafkaError as exc:
            raise DeadLetterError(f"cannot deliver dead letters to {self.topic}: {exc}") from exc

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=5)
            except Exception:  # closing is best effort
                logger.debug("closing the dead-letter producer failed", exc_info=True)


def ensure_topics(bootstrap: str, topics: Sequence[tuple[str, int, int]]) -> list[str]:
    """Create the topics ``(name, partitions, replication factor)`` that do not exist yet.

    A replication factor of 0 means as many replicas as the cluster allows, up to 3
    (:func:`~runstream.proto.vocabulary.replicas_for` its broker count).  Every topic
    created gets ``min.insync.replicas`` to match (2 of 3, else 1), so an ``acks=all``
    write is on two brokers before it is acknowledged.

    Returns the names created.  An existing topic is left as it is, whatever its
    partition count (never add partitions to the event topic: a run's events must stay
    in one partition).
    """
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap.split(","), client_id="runstream-ingest"
        )
    except KafkaError as exc:
        raise SourceError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    created: list[str] = []
    try:
        existing = set(admin.list_topics())
        brokers = 0
        for name, partitions, replication in topics:
            if name in existing:
                continue
            if replication < 1:
                brokers = brokers or len(admin.describe_cluster().get("brokers") or ()) or 1
                replication = replicas_for(brokers)
            configs = {"min.insync.replicas": str(min_insync_replicas(replication))}
            try:
                topic = NewTopic(name, partitions, replication, topic_configs=configs)
                admin.create_topics([topic])
                created.append(name)
                logger.info(
                    "created topic %s (%d partitions, %d replicas, min.insync.replicas %s)",
                    name, partitions, replication, configs["min.insync.replicas"],
                )  # fmt: skip
            except TopicAlreadyExistsError:
                pass
    except KafkaError as exc:
        raise SourceError(f"cannot create topics on {bootstrap}: {exc}") from exc
    finally:
        admin.close()
    return created
