"""``runstream migrations print``: the schema the ingest migrations make, as DDL.

Without ``--cluster``: the statements ingest applies to one server (chDB or ClickHouse).
With ``--cluster NAME``: their ``ON CLUSTER`` form (replicated local tables and
Distributed tables, :mod:`runstream.ingest.migrations.cluster`), to apply on one node of a
cluster named NAME in its ``remote_servers`` (each node defines the ``{shard}`` and
``{replica}`` macros).  Reads no database.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    migrations = subparsers.add_parser(
        "migrations",
        help="print the ClickHouse schema (one server, or a cluster)",
        description="The DDL of the ingest migrations, generated from the same migration "
        "files ingest applies.",
    )
    sub = migrations.add_subparsers(dest="migrations_command", metavar="ACTION", required=True)
    show = sub.add_parser(
        "print",
        help="print the DDL of every migration, in order",
        description="Print the DDL of every migration, in order, statements separated by a "
        "line holding only ';'.  Connects to nothing.",
    )
    show.add_argument(
        "--cluster",
        metavar="NAME",
        default=None,
        help="emit ON CLUSTER DDL for the ClickHouse cluster NAME (as in remote_servers): "
        "each table T becomes T_local (the Replicated* counterpart of its engine) and T "
        "(Distributed over T_local on every shard); default: the DDL of one server",
    )
    show.add_argument(
        "--database",
        metavar="NAME",
        default=None,
        help="with --cluster: the database the Distributed tables point into, the one the "
        "script runs in (default: runstream)",
    )
    show.set_defaults(func=_print)


def _print(args: argparse.Namespace) -> int:
    from ..errors import MigrationError
    from ..settings import DEFAULT_DATABASE
    from .cluster import render

    try:
        text = render(args.cluster, args.database or DEFAULT_DATABASE)
    except MigrationError as exc:
        print(f"runstream migrations: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0
