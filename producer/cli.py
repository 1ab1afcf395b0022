"""``runstream gateway`` (the gRPC write gateway) and ``runstream spool`` (inspect or resend
a spool directory).  Every flag falls back to its environment variable."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


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
        "--tls-cert", help="PEM certificate chain: serve TLS (RUNSTREAM_TLS_CERT; needs --tls-key)"
    )
    gateway.add_argument("--tls-key", help="PEM private key (RUNSTREAM_TLS_KEY)")
    gateway.add_argument(
        "--max-workers", type=int, help="handler threads (RUNSTREAM_GATEWAY_WORKERS, default 16)"
    )
    gateway.set_defaults(func=_run_gateway)

    spool = subparsers.add_parser(
        "spool",
        help="inspect or resend a producer spool directory",
        description="Events a producer could not publish wait in its spool directory. "
        "'status' lists them; 'drain' resends those whose producer is gone.",
    )
    spool_sub = spool.add_subparsers(dest="spool_command", metavar="ACTION", required=True)
    for name, helptext in (("status", "list spooled segments"), ("drain", "resend them")):
        action = spool_sub.add_parser(name, help=helptext)
        action.add_argument("--spool-dir", help="spool directory (RUNSTREAM_SPOOL_DIR)")
        action.add_argument("--uri", help="destination (RUNSTREAM_URI)")
        action.add_argument(
            "--timeout", type=float, default=60.0, help="seconds to keep trying (drain; default 60)"
        )
        action.set_defaults(func=_run_spool)


def _run_gateway(args: argparse.Namespace) -> int:
    from .gateway_server import serve_gateway
    from .settings import GatewaySettings

    settings = GatewaySettings.from_env(
        address=args.address,
        kafka=args.kafka,
        topic=args.topic,
        auth_token_file=args.auth_token_file,
        auth_tokens=args.auth_tokens,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        max_workers=args.max_workers,
    )
    serve_gateway(settings)
    return 0


def _run_spool(args: argparse.Namespace) -> int:
    from .settings import ProducerSettings
    from .spool import SEGMENT_SUFFIX, Spool

    settings = ProducerSettings.from_env(uri=args.uri, spool_dir=args.spool_dir)
    if not settings.spool_dir:
        print("no spool directory: pass --spool-dir or set RUNSTREAM_SPOOL_DIR")
        return 2
    root = Path(settings.spool_dir)
    folders = Spool.orphans(root)
    if args.spool_command == "status":
        for folder in folders:
            segments = sorted(folder.glob("*" + SEGMENT_SUFFIX))
            size = sum(s.stat().st_size for s in segments)
            print(f"{folder.name}: {len(segments)} segment(s), {size} bytes")
        print(f"{len(folders)} producer folder(s) with spooled events in {root}")
        return 0
    return _drain(settings, args.timeout)


def _drain(settings: Any, timeout: float) -> int:
    import time

    from .client import RunstreamClient
    from .spool import Spool

    root = Path(settings.spool_dir)
    client = RunstreamClient(settings=settings)
    deadline = time.monotonic() + timeout
    try:
        while Spool.orphans(root, own=root / client.producer_id):
            if time.monotonic() > deadline:
                print(f"events remain in {root}: is the broker at {settings.uri} up?")
                return 1
            time.sleep(0.5)
    finally:
        client.close()
    print(f"spool {root} drained to {settings.uri}")
    return 0
