"""``runstream up`` (the all-in-one local stack) and ``runstream demo``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from runstream.proto.rpc import load_tokens


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def _add_stack_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(_env("RUNSTREAM_DATA_DIR", ".runstream") or ".runstream"),
        help="where the embedded ClickHouse and the local broker keep their data "
        "(env RUNSTREAM_DATA_DIR; default .runstream)",
    )
    p.add_argument(
        "--kafka",
        default=_env("RUNSTREAM_KAFKA"),
        metavar="HOST:PORT",
        help="use this Kafka broker instead of starting a local one (env RUNSTREAM_KAFKA)",
    )
    p.add_argument(
        "--kafka-port",
        type=int,
        default=int(_env("RUNSTREAM_KAFKA_PORT", "9092") or 9092),
        help="port of the local broker started when --kafka is not given "
        "(env RUNSTREAM_KAFKA_PORT; default 9092; its controller uses the next port)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(_env("RUNSTREAM_PORT", "50051") or 50051),
        help="gRPC port for the write and query APIs (env RUNSTREAM_PORT; default 50051)",
    )
    p.add_argument(
        "--host",
        default=_env("RUNSTREAM_HOST", "127.0.0.1"),
        help="address to bind (env RUNSTREAM_HOST; default 127.0.0.1)",
    )
    p.add_argument(
        "--topic",
        default=_env("RUNSTREAM_TOPIC", "runstream.events"),
        help="events topic (env RUNSTREAM_TOPIC; default runstream.events)",
    )
    p.add_argument(
        "--database",
        default=_env("RUNSTREAM_DATABASE", "runstream"),
        help="ClickHouse database (env RUNSTREAM_DATABASE; default runstream)",
    )
    p.add_argument(
        "--clickhouse",
        default=_env("RUNSTREAM_CLICKHOUSE"),
        metavar="DSN",
        help="chdb:///DIR or http://host:8123 (env RUNSTREAM_CLICKHOUSE; "
        "default: chDB in DATA_DIR/clickhouse)",
    )
    p.add_argument(
        "--auth-token-file",
        default=_env("RUNSTREAM_AUTH_TOKEN_FILE"),
        help="require a bearer token listed in this file (env RUNSTREAM_AUTH_TOKEN_FILE; "
        "RUNSTREAM_AUTH_TOKENS adds comma-separated tokens)",
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
        auth_tokens=load_tokens(args.auth_token_file, _env("RUNSTREAM_AUTH_TOKENS")),
    )


def _up(args: argparse.Namespace) -> int:
    from .kafka import InfraError
    from .stack import Stack

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stack = Stack(settings_from_args(args)).start()
    except (InfraError, OSError) as exc:
        print(f"runstream up: {exc}", file=sys.stderr)
        return 1
    print(f"runstream listening on {stack.address} (WriteService, QueryService)", flush=True)
    print(f"kafka at {stack.bootstrap}; data in {args.data_dir}", flush=True)
    print("Ctrl-C stops it.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    print("stopping...", flush=True)
    stack.stop()
    print("stopped.", flush=True)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    from .kafka import InfraError

    if "--log-level" not in sys.argv:  # the demo's own output is the point: keep logs quiet
        logging.getLogger("runstream").setLevel(logging.WARNING)
        logging.getLogger("kafka").setLevel(logging.ERROR)

    try:
        return run_demo(settings_from_args(args), runs=args.runs)
    except InfraError as exc:
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
