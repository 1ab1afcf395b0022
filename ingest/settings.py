"""Typed settings of the ingest worker and of replay, read from flags and environment.

One frozen settings object per process: :class:`IngestSettings` for ``runstream ingest``
(or a worker thread inside another process), :class:`ReplaySettings` for
``runstream replay``.  Every environment variable read here is listed in
``docs/ingest.md``; CLI flags default to them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runstream.proto.settings import Env
from runstream.proto.vocabulary import DEAD_LETTER_SUFFIX, DEFAULT_TOPIC

from .errors import ConfigError

ENV_CLICKHOUSE = "RUNSTREAM_CLICKHOUSE"
ENV_DATABASE = "RUNSTREAM_DATABASE"
ENV_KAFKA = "RUNSTREAM_KAFKA"
ENV_TOPIC = "RUNSTREAM_TOPIC"
ENV_DLQ_TOPIC = "RUNSTREAM_DLQ_TOPIC"
ENV_GROUP = "RUNSTREAM_GROUP"
ENV_METRICS_PORT = "RUNSTREAM_INGEST_METRICS_PORT"
ENV_PARTITIONS = "RUNSTREAM_INGEST_PARTITIONS"
ENV_REPLICATION = "RUNSTREAM_INGEST_REPLICATION_FACTOR"
ENV_BATCH_POINTS = "RUNSTREAM_INGEST_BATCH_POINTS"
ENV_BATCH_EVENTS = "RUNSTREAM_INGEST_BATCH_EVENTS"
ENV_BATCH_INTERVAL = "RUNSTREAM_INGEST_BATCH_INTERVAL"
ENV_INSTANCE_ID = "RUNSTREAM_INGEST_INSTANCE_ID"
ENV_SESSION_TIMEOUT = "RUNSTREAM_INGEST_SESSION_TIMEOUT_MS"
ENV_STATE_CACHE = "RUNSTREAM_INGEST_STATE_CACHE"
ENV_ALLOW_LOG_GAP = "RUNSTREAM_INGEST_ALLOW_LOG_GAP"
ENV_METRICS_TTL_DAYS = "RUNSTREAM_INGEST_METRICS_TTL_DAYS"
ENV_SNAPSHOT_DIR = "RUNSTREAM_SNAPSHOT_DIR"
ENV_FETCH_MAX_BYTES = "RUNSTREAM_INGEST_FETCH_MAX_BYTES"
ENV_PARTITION_FETCH_BYTES = "RUNSTREAM_INGEST_PARTITION_FETCH_BYTES"

DEFAULT_KAFKA = "127.0.0.1:9092"
DEFAULT_GROUP = "runstream-ingest"
DEFAULT_DATABASE = "runstream"
# Memory of the worker (docs/benchmarks.md, section 5): a batch's points pass through numpy
# columns, an Arrow table and chDB's insert (sort, compression, a new part) at once, and
# chDB's allocator keeps what the largest insert took; a fetch is held whole before decoding.
DEFAULT_BATCH_POINTS = 200_000
# Of the event topic a worker creates (a stack on chDB creates one: ``infra/stack.py``).
DEFAULT_PARTITIONS = 8
DEFAULT_FETCH_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_PARTITION_FETCH_BYTES = 4 * 1024 * 1024
DEFAULT_DATA_DIR = ".runstream/clickhouse"  # the same place as runstream up and query

_DATABASE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def default_dsn() -> str:
    """chDB in ``./.runstream/clickhouse`` (made absolute: chDB compares paths literally)."""
    return "chdb://" + str(Path(DEFAULT_DATA_DIR).absolute())


@dataclass(frozen=True)
class ClickHouseTarget:
    """Where the tables live: ``chdb:///DIR`` (embedded) or ``http(s)://host:port`` (server)."""

    dsn: str = field(default_factory=default_dsn)
    database: str = DEFAULT_DATABASE

    def __post_init__(self) -> None:
        if not self.dsn.startswith(("chdb://", "http://", "https://")):
            raise ConfigError(
                f"ClickHouse target must be chdb:///DIR or http(s)://host:port, got {self.dsn!r}"
            )
        if self.dsn.startswith("chdb://") and not self.dsn[len("chdb://") :].startswith("/"):
            raise ConfigError(
                f"chDB target needs an absolute directory (chdb:///DIR): {self.dsn!r}"
            )
        if not _DATABASE_RE.match(self.database):
            raise ConfigError(f"database name must be an identifier, got {self.database!r}")

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb://")


@dataclass(frozen=True)
class BatchSettings:
    """When a batch is cut: whichever bound is reached first."""

    max_points: int = DEFAULT_BATCH_POINTS
    max_events: int = 50_000
    max_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_points < 1 or self.max_events < 1 or self.max_interval_s <= 0:
            raise ConfigError("batch bounds must be positive")


@dataclass(frozen=True)
class IngestSettings:
    """Everything one ingest worker needs.  Build with :meth:`from_env` or directly::

    IngestSettings(clickhouse="chdb:///data/dir", database="runstream",
                   kafka="127.0.0.1:9092", topic="runstream.events")
    """

    clickhouse: str = field(default_factory=default_dsn)  # chdb:///DIR or http(s)://host:port
    database: str = DEFAULT_DATABASE
    kafka: str = DEFAULT_KAFKA  # bootstrap servers, comma separated
    topic: str = DEFAULT_TOPIC
    dlq_topic: str = ""  # empty: ``<topic>.dlq``
    group: str = DEFAULT_GROUP
    # Static group membership (KIP-345): a restarted worker with the same id takes its
    # partitions back at once instead of waiting for the session timeout.
    instance_id: str | None = None
    session_timeout_ms: int = 10_000
    partitions: int = DEFAULT_PARTITIONS  # of the event topic, when the worker creates it
    replication_factor: int = 0  # of topics the worker creates; 0: min(3, brokers)
    create_topics: bool = True
    batch: BatchSettings = field(default_factory=BatchSettings)
    metrics_port: int = 0  # 0: no Prometheus endpoint
    state_cache_runs: int = 100_000  # run states kept in memory per partition
    # Go on from the log start when retention deleted events the tables never applied
    # (they are lost for the tables); by default the worker refuses (state log-truncated).
    allow_log_gap: bool = False
    # Raw metric points older than this many days (by their own timestamp) are dropped at
    # merges; 0 keeps them forever.  The per-key summaries (latest_metrics) stay.
    metrics_ttl_days: int = 0
    # Where snapshots live: at start the worker warns when the newest one can no longer be
    # completed from the log ("" : no check).
    snapshot_dir: str = ""
    # What one fetch of the Kafka consumer may bring (all partitions / one partition): the
    # records the worker holds before it decodes them.  A record larger than either still
    # comes whole.
    fetch_max_bytes: int = DEFAULT_FETCH_MAX_BYTES
    partition_fetch_bytes: int = DEFAULT_PARTITION_FETCH_BYTES

    def __post_init__(self) -> None:
        self.target  # noqa: B018 - validates the DSN and the database name
        if self.fetch_max_bytes < 1 or self.partition_fetch_bytes < 1:
            raise ConfigError("fetch sizes must be positive")
        for topic in (self.topic, self.dead_letter_topic):
            if not _TOPIC_RE.match(topic):
                raise ConfigError(f"invalid Kafka topic name {topic!r}")
        if self.partitions < 1 or self.replication_factor < 0:
            raise ConfigError(
                "partitions must be at least 1, replication factor at least 0 (0: automatic)"
            )
        if self.session_timeout_ms < 1000:
            raise ConfigError("session timeout must be at least 1000 ms")
        if not self.kafka:
            raise ConfigError("Kafka bootstrap servers must not be empty")
        if not 0 <= self.metrics_port < 65536:
            raise ConfigError(f"metrics port must be in 0..65535, got {self.metrics_port}")
        if self.state_cache_runs < 1:
            raise ConfigError("state cache must hold at least one run")
        if self.metrics_ttl_days < 0:
            raise ConfigError(f"metrics TTL must be >= 0 days, got {self.metrics_ttl_days}")

    @property
    def target(self) -> ClickHouseTarget:
        return ClickHouseTarget(self.clickhouse, self.database)

    @property
    def dead_letter_topic(self) -> str:
        return self.dlq_topic or f"{self.topic}{DEAD_LETTER_SUFFIX}"

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, default_partitions: int = DEFAULT_PARTITIONS
    ) -> IngestSettings:
        """``default_partitions``: when ``RUNSTREAM_INGEST_PARTITIONS`` is not set (a stack
        on chDB passes 1: ``infra/stack.py``)."""
        e = Env(env, error=ConfigError)
        return cls(
            clickhouse=e.text(ENV_CLICKHOUSE, default_dsn()),
            database=e.text(ENV_DATABASE, DEFAULT_DATABASE),
            kafka=e.text(ENV_KAFKA, DEFAULT_KAFKA),
            topic=e.text(ENV_TOPIC, DEFAULT_TOPIC),
            dlq_topic=e.text(ENV_DLQ_TOPIC, ""),
            group=e.text(ENV_GROUP, DEFAULT_GROUP),
            instance_id=e.optional(ENV_INSTANCE_ID),
            session_timeout_ms=e.integer(ENV_SESSION_TIMEOUT, 10_000),
            partitions=e.integer(ENV_PARTITIONS, default_partitions),
            replication_factor=e.integer(ENV_REPLICATION, 0),
            batch=batch_from_env(env),
            metrics_port=e.integer(ENV_METRICS_PORT, 0),
            state_cache_runs=e.integer(ENV_STATE_CACHE, 100_000),
            allow_log_gap=e.flag(ENV_ALLOW_LOG_GAP, False),
            metrics_ttl_days=e.integer(ENV_METRICS_TTL_DAYS, 0, minimum=0),
            snapshot_dir=e.text(ENV_SNAPSHOT_DIR, ""),
            fetch_max_bytes=e.integer(ENV_FETCH_MAX_BYTES, DEFAULT_FETCH_MAX_BYTES, minimum=1),
            partition_fetch_bytes=e.integer(
                ENV_PARTITION_FETCH_BYTES, DEFAULT_PARTITION_FETCH_BYTES, minimum=1
            ),
        )


@dataclass(frozen=True)
class ReplaySettings:
    """``runstream replay``: rebuild the tables from the topic into a fresh database.

    ``start_offsets`` maps partition -> first offset; partitions it does not name start
    at the beginning of the log.  Empty means every partition from the beginning.
    """

    database: str  # the database to build
    clickhouse: str = field(default_factory=default_dsn)
    kafka: str = DEFAULT_KAFKA
    topic: str = DEFAULT_TOPIC
    start_offsets: Mapping[int, int] = field(default_factory=dict)
    batch: BatchSettings = field(default_factory=BatchSettings)
    dead_letter_topic: str | None = None  # None: count poison events, send nothing
    resume: bool = False  # continue an interrupted replay into the same database
    progress: bool = True

    def __post_init__(self) -> None:
        self.target  # noqa: B018 - validates the DSN and the database name
        if not _TOPIC_RE.match(self.topic):
            raise ConfigError(f"invalid Kafka topic name {self.topic!r}")
        for p, o in self.start_offsets.items():
            if p < 0 or o < 0:
                raise ConfigError(f"offsets must be non-negative, got {p}:{o}")

    @property
    def target(self) -> ClickHouseTarget:
        return ClickHouseTarget(self.clickhouse, self.database)


def batch_from_env(env: Mapping[str, str] | None = None) -> BatchSettings:
    e = Env(env, error=ConfigError)
    return BatchSettings(
        max_points=e.integer(ENV_BATCH_POINTS, DEFAULT_BATCH_POINTS),
        max_events=e.integer(ENV_BATCH_EVENTS, 50_000),
        max_interval_s=e.number(ENV_BATCH_INTERVAL, 1.0),
    )


def parse_offsets(text: str) -> dict[int, int]:
    """``"0:15,3:200"`` -> ``{0: 15, 3: 200}``."""
    result: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        p, sep, o = part.partition(":")
        if not sep:
            raise ConfigError(f"offsets must look like PARTITION:OFFSET, got {part!r}")
        try:
            result[int(p)] = int(o)
        except ValueError:
            raise ConfigError(f"offsets must be integers, got {part!r}") from None
    if not result:
        raise ConfigError("no offsets given")
    return result
