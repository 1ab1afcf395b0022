"""``runstream gateway``: the gRPC write gateway in front of Kafka.  Every flag falls back
to its environment variable; grpc and Kafka are imported only when the command runs."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    gateway = subparsers.add_parser(
        "gateway",
        help="run the gRPC write gateway in front of Kafka",
        description="Serve runstream.v1.WriteService: validates writes, publishes them to "
        "Kafka and answers with the write token once Kafka acknowledged.",
    )
    gateway.add_argument(
        "--address",
        help="host:port to listen on (RUNSTREAM_GATEWAY_ADDRESS, default 127.0.0.1:50052)",
    )
    gateway.add_argument(
        "--kafka",
        help="Kafka bootstrap servers host:port[,host:port] "
        "(RUNSTREAM_KAFKA, default 127.0.0.1:9092)",
    )
    gateway.add_argument("--topic", help="event topic (RUNSTREAM_TOPIC, default runstream.events)")
    gateway.add_argument(
        "--auth-token-file",
        help="file of bearer tokens, one per line: "
        "turns the token check on (RUNSTREAM_AUTH_TOKEN_FILE)",
    )
    gateway.add_argument(
        "--auth-tokens",
        help="comma-separated bearer tokens: turns the token check on (RUNSTREAM_AUTH_TOKENS)",
    )
    gateway.add_argument(
        "--auth-principals",
        help="TOML file of principals with per-experiment permissions: turns auth on "
        "(RUNSTREAM_AUTH_PRINCIPALS; see docs/security.md)",
    )
    gateway.add_argument(
        "--query-url",
        help="grpc[s]://host:port of the query service that answers permission lookups; "
        "needed when the principals file restricts anyone (RUNSTREAM_GATEWAY_QUERY_URL; "
        "its admin token: RUNSTREAM_GATEWAY_QUERY_TOKEN; grpcs CA: RUNSTREAM_TLS_CA)",
    )
    gateway.add_argument(
        "--tls-cert", help="PEM certificate chain: serve TLS (RUNSTREAM_TLS_CERT; needs --tls-key)"
    )
    gateway.add_argument("--tls-key", help="PEM private key (RUNSTREAM_TLS_KEY)")
    gateway.add_argument(
        "--max-workers", type=int, help="handler threads (RUNSTREAM_GATEWAY_WORKERS, default 16)"
    )
    gateway.set_defaults(func=_run_gateway)


def _run_gateway(args: argparse.Namespace) -> int:
    from .server import serve_gateway
    from .settings import GatewaySettings

    settings = GatewaySettings.from_env(
        address=args.address,
        kafka=args.kafka,
        topic=args.topic,
        auth_token_file=args.auth_token_file,
        auth_tokens=args.auth_tokens,
        auth_principals=args.auth_principals,
        query_url=args.query_url,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        max_workers=args.max_workers,
    )
    serve_gateway(settings)
    return 0
