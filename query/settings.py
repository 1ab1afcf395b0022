"""Settings of the query service: one frozen dataclass, every field backed by an
environment variable (documented in docs/query.md) and a CLI flag."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def _default_clickhouse() -> str:
    return f"chdb://{Path('.runstream/clickhouse').resolve()}"


@dataclass(frozen=True)
class QuerySettings:
    clickhouse: str = field(default_factory=_default_clickhouse)  # chdb:///DIR or http://h:8123
    database: str = "runstream"
    topic: str = "runstream.events"  # read-your-writes tokens without a topic use this one
    address: str = "127.0.0.1:50051"  # serve_query only
    auth_token_file: str | None = None  # serve_query only
    auth_tokens: tuple[str, ...] = ()  # serve_query only
    pool_size: int = 4  # ClickHouse clients (concurrent queries)
    workers: int = 16  # gRPC threads, serve_query only
    wait_timeout_s: float = 10.0  # default read-your-writes wait
    create_views: bool = True  # runs_wide, metric_points, run_metrics

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> QuerySettings:
        e = os.environ if env is None else env
        base = cls()
        return cls(
            clickhouse=e.get("RUNSTREAM_CLICKHOUSE") or base.clickhouse,
            database=e.get("RUNSTREAM_DATABASE") or base.database,
            topic=e.get("RUNSTREAM_TOPIC") or base.topic,
            address=e.get("RUNSTREAM_QUERY_ADDRESS") or base.address,
            auth_token_file=e.get("RUNSTREAM_AUTH_TOKEN_FILE") or None,
            auth_tokens=tuple(
                t.strip() for t in e.get("RUNSTREAM_AUTH_TOKENS", "").split(",") if t.strip()
            ),
            pool_size=int(e.get("RUNSTREAM_QUERY_POOL_SIZE") or base.pool_size),
            workers=int(e.get("RUNSTREAM_QUERY_WORKERS") or base.workers),
            wait_timeout_s=float(e.get("RUNSTREAM_QUERY_WAIT_TIMEOUT") or base.wait_timeout_s),
            create_views=(e.get("RUNSTREAM_QUERY_VIEWS") or "1").lower()
            not in ("0", "false", "no"),
        )
