"""``runstream kafka fetch|up|down|status``: the local Kafka broker (or a local cluster of
several, ``up --brokers N``) from the command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runstream.infra import kafka
from runstream.infra.kafka import cluster

DATA_DIR_ENV = "RUNSTREAM_KAFKA_DATA_DIR"
PORT_ENV = "RUNSTREAM_KAFKA_PORT"
CONTROLLER_PORT_ENV = "RUNSTREAM_KAFKA_CONTROLLER_PORT"
BROKERS_ENV = "RUNSTREAM_KAFKA_BROKERS"

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: Any) -> None:
    """Add ``kafka`` and its subcommands to the ``runstream`` parser."""
    parser = subparsers.add_parser(
        "kafka",
        help="run a local Kafka broker or cluster (KRaft, plain java)",
        description="Run a local Apache Kafka broker in KRaft mode (or a cluster of several, "
        "each its own process), from jars that Maven fetches, on plain java (no Docker).",
    )
    commands = parser.add_subparsers(dest="kafka_command", metavar="SUBCOMMAND", required=True)

    fetch = commands.add_parser("fetch", help="download the broker jars with Maven")
    _add_lib_dir(fetch)
    fetch.set_defaults(func=_guarded(_fetch))

    up = commands.add_parser("up", help="start the broker (harmless if it already runs)")
    _add_data_dir(up)
    up.add_argument(
        "--port", type=_port, default=os.environ.get(PORT_ENV, "9092"),
        help=f"client port on 127.0.0.1 (env {PORT_ENV}; default 9092)",
    )  # fmt: skip
    up.add_argument(
        "--controller-port", type=_port, default=os.environ.get(CONTROLLER_PORT_ENV, "9093"),
        help=f"KRaft controller port on 127.0.0.1 (env {CONTROLLER_PORT_ENV}; default 9093)",
    )  # fmt: skip
    up.add_argument(
        "--brokers", type=_brokers, default=os.environ.get(BROKERS_ENV, "1"),
        help=f"nodes (env {BROKERS_ENV}; default 1): with 2 or more, a cluster whose node I "
        "listens on PORT+2(I-1) and CONTROLLER_PORT+2(I-1), data in DATA_DIR/node-I; topics "
        "get min(3, N) replicas and min.insync.replicas one less",
    )  # fmt: skip
    _add_lib_dir(up)
    up.set_defaults(func=_guarded(_up))

    down = commands.add_parser(
        "down", help="stop the broker, or every node of a cluster (harmless if none runs)"
    )
    _add_data_dir(down)
    down.set_defaults(func=_guarded(_down))

    status = commands.add_parser(
        "status",
        help="tell whether the broker runs (a cluster: every node; exit 0 if all run, 1 if not)",
    )
    _add_data_dir(status)
    status.set_defaults(func=_guarded(_status))


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get(DATA_DIR_ENV)
    parser.add_argument(
        "--data-dir", type=Path, default=default, required=default is None,
        help=f"the broker's folder: config, data, logs, pid file (env {DATA_DIR_ENV})",
    )  # fmt: skip


def _add_lib_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lib-dir", type=Path, default=None,
        help=f"folder of the broker jars (env {kafka.LIB_DIR_ENV}; default "
        f"~/.cache/runstream/kafka-{kafka.KAFKA_VERSION}/lib)",
    )  # fmt: skip


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"not a TCP port number: {text!r}")
    return port


def _brokers(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= cluster.MAX_NODES:
        raise argparse.ArgumentTypeError(f"brokers must be 1..{cluster.MAX_NODES}, got {text!r}")
    return count


def _guarded(handler: Handler) -> Handler:
    """Turn the expected errors into a one-line message and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        _quiet_client_logs()
        try:
            return handler(args)
        except kafka.InfraError as exc:
            print(f"runstream kafka {args.kafka_command}: {exc.summary}", file=sys.stderr)
            for line in exc.detail.splitlines():
                print(f"  | {line}", file=sys.stderr)
            return 1

    return run


def _quiet_client_logs() -> None:
    # The readiness probe uses kafka-python, which logs every connection at INFO.
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("kafka").setLevel(logging.WARNING)


def _fetch(args: argparse.Namespace) -> int:
    lib = kafka.fetch_jars(args.lib_dir)
    print(f"kafka {kafka.KAFKA_VERSION} jars in {lib}")
    return 0


def _up(args: argparse.Namespace) -> int:
    if args.brokers > 1:
        nodes = cluster.up(
            args.data_dir, args.brokers, port=args.port, controller_port=args.controller_port,
            lib_dir=args.lib_dir,
        )  # fmt: skip
        print(f"kafka cluster of {len(nodes.nodes)} nodes listening on {nodes.bootstrap}")
        return 0
    handle = kafka.up(
        args.data_dir, port=args.port, controller_port=args.controller_port, lib_dir=args.lib_dir
    )
    print(f"kafka listening on {handle.bootstrap}")
    return 0


def _down(args: argparse.Namespace) -> int:
    if cluster.is_cluster(args.data_dir):
        stopped = cluster.down(args.data_dir)
        print(f"kafka cluster stopped ({stopped} nodes were running)")
        return 0
    stopped = kafka.down(args.data_dir)
    print("kafka stopped" if stopped else f"kafka not running in {args.data_dir}")
    return 0


def _status(args: argparse.Namespace) -> int:
    if cluster.is_cluster(args.data_dir):
        return _cluster_status(args.data_dir)
    found = kafka.status(args.data_dir)
    if not found.running:
        print(f"kafka not running in {args.data_dir}")
        return 1
    state = "answering" if found.answering else "not answering yet"
    print(f"kafka running (pid {found.pid}) on 127.0.0.1:{found.port}, {state}")
    return 0


def _cluster_status(data_dir: Path) -> int:
    nodes = cluster.status(data_dir)
    leader = cluster.active_controller(data_dir)
    for node, found in nodes.items():
        if not found.running:
            print(f"node {node}: not running")
            continue
        state = "answering" if found.answering else "not answering yet"
        role = ", active controller" if node == leader else ""
        print(f"node {node}: running (pid {found.pid}) on 127.0.0.1:{found.port}, {state}{role}")
    return 0 if all(found.running for found in nodes.values()) else 1
