"""``runstream up`` (the all-in-one local stack) and ``runstream demo``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from runstream.proto.endpoints import (
    ENV_AUTH_PRINCIPALS,
    ENV_AUTH_TOKEN_FILE,
    ENV_AUTH_TOKENS,
    ENV_TLS_CERT,
    ENV_TLS_KEY,
)
from runstream.proto.errors import RunstreamError
from runstream.proto.settings import Env
from runstream.proto.vocabulary import DEFAULT_TOPIC


def _add_stack_arguments(p: argparse.ArgumentParser) -> None:
    env = Env()
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(env.text("RUNSTREAM_DATA_DIR", ".runstream")),
        help="where the embedded ClickHouse and the local broker keep their data "
        "(env RUNSTREAM_DATA_DIR; default .runstream)",
    )
    p.add_argument(
        "--kafka",
        default=env.optional("RUNSTREAM_KAFKA"),
        metavar="HOST:PORT[,HOST:PORT...]",
        help="use these Kafka brokers (one, or a cluster's list) instead of starting a local "
        "one (env RUNSTREAM_KAFKA)",
    )
    p.add_argument(
        "--kafka-port",
        type=int,
        default=env.integer("RUNSTREAM_KAFKA_PORT", 9092, minimum=1, maximum=65534),
        help="port of the local broker started when --kafka is not given "
        "(env RUNSTREAM_KAFKA_PORT; default 9092; its controller uses the next port)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=env.integer("RUNSTREAM_PORT", 50051, minimum=0, maximum=65535),
        help="gRPC port for the write and query APIs (env RUNSTREAM_PORT; default 50051)",
    )
    p.add_argument(
        "--host",
        default=env.text("RUNSTREAM_HOST", "127.0.0.1"),
        help="address to bind (env RUNSTREAM_HOST; default 127.0.0.1)",
    )
    p.add_argument(
        "--topic",
        default=env.text("RUNSTREAM_TOPIC", DEFAULT_TOPIC),
        help=f"events topic (env RUNSTREAM_TOPIC; default {DEFAULT_TOPIC})",
    )
    p.add_argument(
        "--database",
        default=env.text("RUNSTREAM_DATABASE", "runstream"),
        help="ClickHouse database (env RUNSTREAM_DATABASE; default runstream)",
    )
    p.add_argument(
        "--clickhouse",
        default=env.optional("RUNSTREAM_CLICKHOUSE"),
        metavar="DSN",
        help="chdb:///DIR or http://host:8123 (env RUNSTREAM_CLICKHOUSE; "
        "default: chDB in DATA_DIR/clickhouse)",
    )
    p.add_argument(
        "--auth-token-file",
        default=env.optional(ENV_AUTH_TOKEN_FILE),
        help="require a bearer token listed in this file (env RUNSTREAM_AUTH_TOKEN_FILE; "
        "RUNSTREAM_AUTH_TOKENS adds comma-separated tokens); a file without a token is "
        "refused, never read as 'auth off'",
    )
    p.add_argument(
        "--auth-principals",
        default=env.optional(ENV_AUTH_PRINCIPALS),
        metavar="TOML",
        help="principals with per-experiment READ/EDIT/MANAGE permissions, each with its "
        "token (env RUNSTREAM_AUTH_PRINCIPALS; docs/security.md); turns auth on",
    )
    p.add_argument(
        "--tls-cert",
        default=env.optional(ENV_TLS_CERT),
        metavar="PEM",
        help="serve TLS with this certificate (env RUNSTREAM_TLS_CERT; needs --tls-key)",
    )
    p.add_argument(
        "--tls-key",
        default=env.optional(ENV_TLS_KEY),
        metavar="PEM",
        help="private key of --tls-cert (env RUNSTREAM_TLS_KEY)",
    )


def settings_from_args(args: argparse.Namespace) -> Any:
    from .stack import StackSettings

    return StackSettings(
        data_dir=args.data_dir,
        kafka=args.kafka,
        kafka_port=args.kafka_port,
        kafka_controller_port=args.kafka_port + 1,
        address=f"{args.host}:{args.port}",
        topic=args.topic,
        database=args.database,
        clickhouse=args.clickhouse,
        auth_token_file=args.auth_token_file,
        auth_tokens=Env().items(ENV_AUTH_TOKENS),
        auth_principals=args.auth_principals,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


def _up(args: argparse.Namespace) -> int:
    from runstream.proto.errors import RunstreamError
    from runstream.proto.rpc import wait_for_signal

    from .stack import Stack

    try:
        stack = Stack(settings_from_args(args)).start()
    except (RunstreamError, OSError) as exc:
        print(f"runstream up: {exc}", file=sys.stderr)
        return 1
    tls = "TLS" if stack.url.startswith("grpcs:") else "plaintext"
    print(f"runstream listening on {stack.address} ({tls}; WriteService, QueryService)", flush=True)
    print(f"kafka at {stack.bootstrap}; data in {args.data_dir}", flush=True)
    print("Ctrl-C stops it.", flush=True)
    wait_for_signal()
    print("stopping...", flush=True)
    stack.stop()
    print("stopped.", flush=True)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    if "--log-level" not in sys.argv:  # the demo's own output is the point: keep logs quiet
        logging.getLogger("runstream").setLevel(logging.WARNING)
        logging.getLogger("kafka").setLevel(logging.ERROR)

    try:
        return run_demo(settings_from_args(args), runs=args.runs)
    except (RunstreamError, OSError) as exc:
        print(f"runstream demo: {exc}", file=sys.stderr)
        return 1


def register(subparsers: Any) -> None:
    up = subparsers.add_parser(
        "up",
        help="run the all-in-one local stack (Kafka, ingest, write and query APIs)",
        description="Start a local Kafka broker (unless --kafka is given) and one process "
        "holding the gRPC write API, the ingest worker and the query service on an embedded "
        "ClickHouse (chDB). Ctrl-C stops everything cleanly.",
    )
    _add_stack_arguments(up)
    up.set_defaults(func=_up)

    demo = subparsers.add_parser(
        "demo",
        help="bring the stack up, log a few example runs, print a search, stop",
        description="Start the all-in-one stack, run an example training script that logs "
        "runs through the SDK, print the result of a search, and stop everything.",
    )
    _add_stack_arguments(demo)
    demo.add_argument("--runs", type=int, default=3, help="runs to log (default 3)")
    demo.set_defaults(func=_demo)
