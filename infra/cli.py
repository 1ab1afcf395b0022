"""The ``runstream`` command: one entry point, subcommands contributed by each component.

Each component owns a small CLI module exposing ``register(subparsers)``; this
file only lists them.  Heavy imports (chDB, grpc, kafka) happen inside the
subcommand's handler, so ``runstream --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from runstream.proto.allocator import tune_malloc
from runstream.proto.errors import SettingsError

# (module, description) — each module has ``register(subparsers) -> None``.
_COMMAND_MODULES: tuple[str, ...] = (
    "runstream.infra.kafka.cli",  # runstream kafka up|down|status
    "runstream.infra.stack_cli",  # runstream up
    "runstream.producer.gateway.cli",  # runstream gateway
    "runstream.producer.cli",  # runstream spool
    "runstream.ingest.cli",  # runstream ingest, runstream replay
    "runstream.ingest.migrations.cli",  # runstream migrations print [--cluster NAME]
    "runstream.query.cli",  # runstream query
    "runstream.query.tail_cli",  # runstream tail
    "runstream.ingest.snapshot_cli",  # runstream snapshot create|restore|list
    "runstream.infra.gc_cli",  # runstream gc
    "runstream.integrations.mlflow.moving.cli",  # runstream import|export mlflow
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runstream",
        description="Event-sourced experiment tracking on Kafka and ClickHouse.",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("RUNSTREAM_LOG_LEVEL", "INFO"),
        help="logging level of runstream's own loggers; other libraries log warnings "
        "only (env RUNSTREAM_LOG_LEVEL; default INFO)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # component not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    level = logging.getLevelName(str(args.log_level).upper())
    if not isinstance(level, int):
        parser.error(f"--log-level: unknown level {args.log_level!r}")
    # Third-party libraries (kafka-python is chatty) log warnings only; ours at --log-level.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("runstream").setLevel(level)
    try:  # how the C allocator hands memory back (server processes: docs/configuration.md)
        tune_malloc()
    except SettingsError as exc:
        parser.error(str(exc))
    try:
        rc = args.func(args)
    except KeyboardInterrupt:
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
