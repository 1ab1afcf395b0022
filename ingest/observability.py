"""Prometheus metrics of the ingest worker, in a registry of its own.

A registry per worker lets several workers (or a worker and the query service) live in
one process.  ``serve(port)`` exposes it over HTTP; ``port == 0`` exposes nothing.
Rates (events/s, points/s) come from the counters: ``rate(runstream_ingest_points_total[1m])``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    start_http_server,
)

from .batch import PartitionBatch

logger = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CONSUMING = "consuming"
HEALTH_STATES = (
    "starting",  # opening the tables and joining the group
    CONSUMING,  # making progress (or idle and able to)
    "waiting-for-partitions",  # in the group, but no partition assigned
    "kafka-unavailable",  # the broker does not answer; retrying
    "clickhouse-unavailable",  # a write or read failed (disk full, server down); retrying
    "log-truncated",  # stopped: retention deleted events the tables never applied
    "failed",  # the worker stopped on an error a retry cannot fix
    "stopped",  # stopped on request
)


@dataclass(frozen=True)
class IngestHealth:
    """Whether the worker can make progress, and if it cannot, why (``reason``)."""

    state: str
    reason: str = ""

    @property
    def progressing(self) -> bool:
        return self.state == CONSUMING


class IngestMetrics:
    def __init__(self, topic: str, registry: CollectorRegistry | None = None) -> None:
        self.topic = topic
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "runstream_ingest_events", "Events applied to the tables", ["topic"], registry=r
        )
        self.points = Counter(
            "runstream_ingest_points", "Metric points applied to the tables", ["topic"], registry=r
        )
        self.skipped = Counter(
            "runstream_ingest_skipped_events",
            "Events skipped because their entity already had them (replayed offsets)",
            ["topic"],
            registry=r,
        )
        self.duplicates = Counter(
            "runstream_ingest_duplicate_events",
            "Resent events dropped (seq at or below their producer's last applied)",
            ["topic"],
            registry=r,
        )
        self.purged = Counter(
            "runstream_ingest_purged_events",
            "Events of a purged run or experiment dropped (runstream gc)",
            ["topic"],
            registry=r,
        )
        self.dead_letters = Counter(
            "runstream_ingest_dead_letters",
            "Events sent to the dead-letter topic",
            ["topic", "reason"],
            registry=r,
        )
        self.batches = Counter(
            "runstream_ingest_batches", "Partition batches written", ["topic"], registry=r
        )
        self.rebuilt = Counter(
            "runstream_ingest_rebuilt_batches",
            "Partly written batches rebuilt after a crash or rebalance",
            ["topic"],
            registry=r,
        )
        self.retries = Counter(
            "runstream_ingest_write_retries",
            "Flushes retried after ClickHouse or Kafka was unavailable",
            ["topic"],
            registry=r,
        )
        self.insert_seconds = Histogram(
            "runstream_ingest_insert_seconds",
            "Latency of one ClickHouse insert",
            ["table"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.flush_seconds = Histogram(
            "runstream_ingest_flush_seconds",
            "Latency of one flush (all partition batches, intents and offsets)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "runstream_ingest_consumer_lag",
            "Records in the partition not yet applied to the tables",
            ["topic", "partition"],
            registry=r,
        )
        self.applied = Gauge(
            "runstream_ingest_applied_offset",
            "Next offset to apply per partition (everything below is in the tables)",
            ["topic", "partition"],
            registry=r,
        )
        self.state = Enum(
            "runstream_ingest_state",
            "What the worker does: consuming, or why it cannot make progress",
            ["topic"],
            states=list(HEALTH_STATES),
            registry=r,
        )
        self.progressing = Gauge(
            "runstream_ingest_progressing",
            "1 while the worker can make progress, 0 while it waits or has failed",
            ["topic"],
            registry=r,
        )
        self.observe_health(IngestHealth("starting"))
        self._lag_values: dict[int, int] = {}

    def observe_health(self, health: IngestHealth) -> None:
        self.state.labels(self.topic).state(health.state)
        self.progressing.labels(self.topic).set(1 if health.progressing else 0)

    def observe_insert(self, table: str, seconds: float, rows: int) -> None:
        self.insert_seconds.labels(table).observe(seconds)

    def observe_batch(self, batch: PartitionBatch) -> None:
        t = self.topic
        self.batches.labels(t).inc()
        self.events.labels(t).inc(batch.events)
        self.points.labels(t).inc(batch.points)
        self.skipped.labels(t).inc(batch.skipped)
        self.duplicates.labels(t).inc(batch.duplicates)
        self.purged.labels(t).inc(batch.purged)
        for letter in batch.dead_letters:
            self.dead_letters.labels(t, letter.poison.reason.value).inc()
        self.applied.labels(t, str(batch.partition)).set(batch.end)

    def set_lag(self, applied: Mapping[int, int], ends: Mapping[int, int]) -> None:
        """Lag per assigned partition; partitions no longer assigned are dropped."""
        for p in set(self._lag_values) - set(ends):
            self.lag.remove(self.topic, str(p))
        self._lag_values = {p: max(0, end - applied.get(p, 0)) for p, end in ends.items()}
        for p, lag in self._lag_values.items():
            self.lag.labels(self.topic, str(p)).set(lag)

    def total_lag(self) -> int:
        return sum(self._lag_values.values())


def serve(registry: CollectorRegistry, port: int) -> Any:
    """Start the ``/metrics`` HTTP endpoint on ``port`` (0: none).  Returns the server."""
    if port == 0:
        return None
    server, _thread = start_http_server(port, registry=registry)
    logger.info("ingest metrics on http://0.0.0.0:%d/metrics", port)
    return server
