"""``runstream query``: the standalone query service.  Flags default to environment
variables (see docs/query.md); heavy imports happen in the handler."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from typing import Any

from .settings import QuerySettings


def register(subparsers: Any) -> None:
    base = QuerySettings.from_env()
    p = subparsers.add_parser(
        "query",
        help="serve the gRPC query service (read side) over ClickHouse",
        description="Serve runstream.v1.QueryService over the ClickHouse tables.",
    )
    p.add_argument(
        "--clickhouse",
        default=base.clickhouse,
        help="chdb:///DIR or http://host:8123 [RUNSTREAM_CLICKHOUSE]",
    )
    p.add_argument("--database", default=base.database, help="[RUNSTREAM_DATABASE]")
    p.add_argument(
        "--topic", default=base.topic, help="topic of read-your-writes tokens [RUNSTREAM_TOPIC]"
    )
    p.add_argument(
        "--address", default=base.address, help="host:port to listen on [RUNSTREAM_QUERY_ADDRESS]"
    )
    p.add_argument(
        "--auth-token-file",
        default=base.auth_token_file,
        help="bearer tokens, one per line; turns auth on [RUNSTREAM_AUTH_TOKEN_FILE]",
    )
    p.add_argument(
        "--auth-principals",
        default=base.auth_principals,
        help="TOML file of principals with per-experiment permissions; turns auth on "
        "[RUNSTREAM_AUTH_PRINCIPALS]",
    )
    p.add_argument(
        "--tls-cert", default=base.tls_cert, help="PEM certificate; TLS on [RUNSTREAM_TLS_CERT]"
    )
    p.add_argument("--tls-key", default=base.tls_key, help="PEM private key [RUNSTREAM_TLS_KEY]")
    p.add_argument(
        "--pool-size",
        type=int,
        default=base.pool_size,
        help="ClickHouse clients [RUNSTREAM_QUERY_POOL_SIZE]",
    )
    p.add_argument(
        "--workers", type=int, default=base.workers, help="gRPC threads [RUNSTREAM_QUERY_WORKERS]"
    )
    p.add_argument(
        "--wait-timeout",
        type=float,
        default=base.wait_timeout_s,
        help="default read-your-writes wait, seconds [RUNSTREAM_QUERY_WAIT_TIMEOUT]",
    )
    p.add_argument(
        "--kafka",
        default=base.kafka,
        help="Kafka bootstrap servers, asked for the log end: write tokens beyond it are "
        "refused at once (unset: not checked); the live tail reads its events there "
        "(unset: Tail is refused) [RUNSTREAM_KAFKA]",
    )
    p.add_argument(
        "--no-views",
        action="store_true",
        default=not base.create_views,
        help="do not create the analyst views [RUNSTREAM_QUERY_VIEWS=0]",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .grpc_server import serve_query

    settings = replace(  # limits (RUNSTREAM_QUERY_MAX_*) come from the environment only
        QuerySettings.from_env(os.environ),
        clickhouse=args.clickhouse,
        database=args.database,
        topic=args.topic,
        address=args.address,
        auth_token_file=args.auth_token_file,
        auth_principals=args.auth_principals,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        pool_size=args.pool_size,
        workers=args.workers,
        wait_timeout_s=args.wait_timeout,
        create_views=not args.no_views,
        kafka=args.kafka or None,
    )
    serve_query(settings)
    return 0
