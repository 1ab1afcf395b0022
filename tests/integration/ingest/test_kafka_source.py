"""The Kafka adapter against a real broker, and against none.

* A group rebalances when the topic's metadata changes: a consumer that joined before
  the partitions of a topic created a moment earlier were known (an empty assignment),
  after a broker restart, or here when partitions are added.  The consumer must notice
  within seconds (it refreshed metadata every 5 minutes), and with kafka-python 3.0
  alone such a rebalance never completes when it outlasts one ``poll()`` (see
  ``rejoin_until_joined``): the worker stayed without partitions for minutes.  Short
  polls make that the common case.
* Every kafka-python error comes out of the source as ``SourceError`` (retried by the
  worker), each wait bounded: a raw ``KafkaConnectionError`` from ``position()`` killed
  the ingest thread during a broker outage.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from kafka import KafkaAdminClient
from kafka.admin import NewPartitions

from runstream.ingest.errors import SourceError
from runstream.ingest.kafka_dead_letters import ensure_topics
from runstream.ingest.kafka_source import KafkaSource

ROUNDS = 3


def poll_until(source: KafkaSource, partitions: set[int], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while source.assignment() != partitions and time.monotonic() < deadline:
        source.poll(0.001)  # each poll far shorter than a JoinGroup/SyncGroup round trip


def test_a_rebalance_started_by_new_metadata_completes(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap.split(","))
    try:
        for _ in range(ROUNDS):
            topic = f"{topic_prefix}-join-{uuid.uuid4().hex[:8]}"
            ensure_topics(kafka_bootstrap, [(topic, 1, 1)])
            assigned: list[frozenset[int]] = []
            source = KafkaSource.in_group(
                kafka_bootstrap, topic, f"{topic}-group",
                on_assigned=assigned.append, on_revoked=lambda p: None,
            )  # fmt: skip
            try:
                poll_until(source, {0})
                assert source.assignment() == {0}, f"{topic}: callbacks saw {assigned}"
                # The metadata changes (as when the broker comes back): the group rebalances.
                admin.create_partitions({topic: NewPartitions(total_count=2)})
                poll_until(source, {0, 1})
                assert source.assignment() == {0, 1}, f"{topic}: callbacks saw {assigned}"
            finally:
                source.close()
    finally:
        admin.close()


def test_every_kafka_error_becomes_a_source_error(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}-errors-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [(topic, 1, 1)])
    source = KafkaSource.in_group(
        kafka_bootstrap, topic, f"{topic}-group", on_assigned=lambda p: None,
        on_revoked=lambda p: None,
    )  # fmt: skip
    try:  # nothing is assigned before the first poll; partition 7 does not exist
        calls: dict[str, Callable[[], object]] = {
            "position": lambda: source.position(0),  # was IllegalStateError
            "seek": lambda: source.seek(0, 5),  # was ValueError
            "seek_to_beginning": lambda: source.seek_to_beginning([0]),
            "pause": lambda: source.pause([0]),  # was KeyError
            "resume": lambda: source.resume([0]),
            "end_offsets": lambda: source.end_offsets({7}),  # was a wait of 30 s, then
            "beginning_offsets": lambda: source.beginning_offsets({7}),  # KafkaTimeoutError
        }
        raised: dict[str, str] = {}
        for name, call in calls.items():
            try:
                call()
            except SourceError as exc:  # any other exception fails the test
                raised[name] = str(exc)
        assert set(raised) == set(calls), raised
        assert all(topic in message for message in raised.values()), raised
    finally:
        source.close()
