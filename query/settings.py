"""Settings of the query service: one frozen dataclass, every field backed by an
environment variable (documented in docs/query.md and docs/configuration.md) and a flag.
Read with the one settings reader, :class:`runstream.proto.settings.Env`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runstream.proto.endpoints import (
    ENV_AUTH_PRINCIPALS,
    ENV_AUTH_TOKEN_FILE,
    ENV_AUTH_TOKENS,
    ENV_TLS_CERT,
    ENV_TLS_KEY,
    ServerOptions,
)
from runstream.proto.settings import Env
from runstream.proto.vocabulary import DEFAULT_TOPIC


def _default_clickhouse() -> str:
    return f"chdb://{Path('.runstream/clickhouse').resolve()}"


@dataclass(frozen=True)
class QuerySettings:
    clickhouse: str = field(default_factory=_default_clickhouse)  # chdb:///DIR or http://h:8123
    database: str = "runstream"
    topic: str = DEFAULT_TOPIC  # read-your-writes tokens without a topic use this one
    address: str = "127.0.0.1:50051"  # serve_query only
    auth_token_file: str | None = None  # serve_query only
    auth_tokens: tuple[str, ...] = ()  # serve_query only
    auth_principals: str | None = None  # serve_query only: per-experiment permissions
    tls_cert: str | None = None  # serve_query only
    tls_key: str | None = None  # serve_query only
    pool_size: int = 4  # ClickHouse clients (concurrent queries)
    workers: int = 16  # gRPC threads, serve_query only
    wait_timeout_s: float = 10.0  # default read-your-writes wait
    create_views: bool = True  # runs_wide, metric_points, run_metrics
    # Kafka, asked for the log end offsets: a write token beyond them is refused at once.
    # None: tokens are not checked against the log (a forged one waits up to max_wait_s).
    kafka: str | None = None
    max_wait_s: float = 30.0  # cap of any read-your-writes wait, whatever the call asks
    max_calls: int = 8  # QueryService calls in progress at once; past it RESOURCE_EXHAUSTED
    max_waiting: int = 4  # of those, calls waiting for ingest to apply a token
    max_filter_clauses: int = 20  # comparisons in one filter
    max_order_keys: int = 10  # order_by clauses of one search
    max_execution_time_s: float = 30.0  # per ClickHouse query (max_execution_time)
    max_memory_bytes: int = 2 * 1024**3  # per ClickHouse query (max_memory_usage)
    max_query_bytes: int = 256 * 1024  # SQL text of one query (max_query_size)
    # The live tail (Tail): streams open at once (each holds a gRPC thread: keep
    # workers > max_calls + max_streams), how often the applied offsets are polled, the
    # heartbeat, how long a message may wait for its reader before the stream is cut off
    # (RESOURCE_EXHAUSTED), and after how long a reader that takes nothing is cancelled.
    max_streams: int = 4
    tail_poll_s: float = 0.1
    tail_heartbeat_s: float = 1.0
    tail_stall_s: float = 5.0
    tail_abandon_s: float = 60.0

    def server_options(self) -> ServerOptions:
        """How the standalone query server listens (``serve_query``)."""
        return ServerOptions.of(self, name="query")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> QuerySettings:
        e = Env(env)
        base = cls()
        return cls(
            clickhouse=e.text("RUNSTREAM_CLICKHOUSE", base.clickhouse),
            database=e.text("RUNSTREAM_DATABASE", base.database),
            topic=e.text("RUNSTREAM_TOPIC", base.topic),
            address=e.text("RUNSTREAM_QUERY_ADDRESS", base.address),
            auth_token_file=e.optional(ENV_AUTH_TOKEN_FILE),
            auth_tokens=e.items(ENV_AUTH_TOKENS),
            auth_principals=e.optional(ENV_AUTH_PRINCIPALS),
            tls_cert=e.optional(ENV_TLS_CERT),
            tls_key=e.optional(ENV_TLS_KEY),
            pool_size=e.integer("RUNSTREAM_QUERY_POOL_SIZE", base.pool_size, minimum=1),
            workers=e.integer("RUNSTREAM_QUERY_WORKERS", base.workers, minimum=1),
            wait_timeout_s=e.number(
                "RUNSTREAM_QUERY_WAIT_TIMEOUT", base.wait_timeout_s, minimum=0.0
            ),
            create_views=e.flag("RUNSTREAM_QUERY_VIEWS", base.create_views),
            kafka=e.optional("RUNSTREAM_KAFKA"),
            max_wait_s=e.number("RUNSTREAM_QUERY_MAX_WAIT", base.max_wait_s, minimum=0.0),
            max_calls=e.integer("RUNSTREAM_QUERY_MAX_CALLS", base.max_calls, minimum=1),
            max_waiting=e.integer("RUNSTREAM_QUERY_MAX_WAITING", base.max_waiting, minimum=1),
            max_filter_clauses=e.integer(
                "RUNSTREAM_QUERY_MAX_FILTER_CLAUSES", base.max_filter_clauses, minimum=1
            ),
            max_order_keys=e.integer(
                "RUNSTREAM_QUERY_MAX_ORDER_KEYS", base.max_order_keys, minimum=1
            ),
            max_execution_time_s=e.number(
                "RUNSTREAM_QUERY_MAX_EXECUTION_TIME", base.max_execution_time_s, minimum=0.001
            ),
            max_memory_bytes=e.integer(
                "RUNSTREAM_QUERY_MAX_MEMORY", base.max_memory_bytes, minimum=1
            ),
            max_query_bytes=e.integer(
                "RUNSTREAM_QUERY_MAX_QUERY_SIZE", base.max_query_bytes, minimum=1
            ),
            max_streams=e.integer("RUNSTREAM_QUERY_MAX_STREAMS", base.max_streams, minimum=1),
            tail_poll_s=e.number("RUNSTREAM_TAIL_POLL", base.tail_poll_s, minimum=0.005),
            tail_heartbeat_s=e.number(
                "RUNSTREAM_TAIL_HEARTBEAT", base.tail_heartbeat_s, minimum=0.05
            ),
            tail_stall_s=e.number("RUNSTREAM_TAIL_STALL", base.tail_stall_s, minimum=0.1),
            tail_abandon_s=e.number("RUNSTREAM_TAIL_ABANDON", base.tail_abandon_s, minimum=1.0),
        )

    def limits(self) -> dict[str, int | float]:
        """ClickHouse settings sent with every query of the service."""
        return {
            "max_execution_time": self.max_execution_time_s,
            "max_memory_usage": self.max_memory_bytes,
            "max_query_size": self.max_query_bytes,
        }
