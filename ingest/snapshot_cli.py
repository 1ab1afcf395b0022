"""``runstream snapshot create|restore|list`` (:mod:`runstream.ingest.snapshot`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from runstream.proto.settings import Env

from . import settings as st

ENV_SNAPSHOT_DIR = "RUNSTREAM_SNAPSHOT_DIR"
DEFAULT_SNAPSHOT_DIR = ".runstream/snapshots"


def register(subparsers: Any) -> None:
    env = Env()
    snapshot = subparsers.add_parser(
        "snapshot",
        help="back the tables up with their applied offsets, restore them, list snapshots",
        description="A snapshot is ClickHouse's own BACKUP of the database (embedded chDB), "
        "ingest_offsets included, with a manifest of the applied offsets.  Restore it into a "
        "fresh data directory and start ingest there: only the log after the snapshot is "
        "read.  The directory must not be open in another process (stop the stack first).",
    )
    actions = snapshot.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="take a snapshot of the database")
    create.add_argument("--name", default="", help="snapshot name (default: UTC timestamp)")
    restore = actions.add_parser("restore", help="restore a snapshot into a fresh database")
    restore.add_argument("name", nargs="?", default="", help="snapshot name (default: newest)")
    listing = actions.add_parser(
        "list", help="list snapshots; with --kafka, whether the log can still complete each"
    )
    for p in (create, restore, listing):
        p.add_argument(
            "--snapshot-dir",
            type=Path,
            default=Path(env.text(ENV_SNAPSHOT_DIR, DEFAULT_SNAPSHOT_DIR)),
            help=f"where snapshots live (env {ENV_SNAPSHOT_DIR}; default {DEFAULT_SNAPSHOT_DIR})",
        )
        p.add_argument(
            "--topic",
            default=env.text(st.ENV_TOPIC, st.DEFAULT_TOPIC),
            help=f"event topic (env {st.ENV_TOPIC}; default {st.DEFAULT_TOPIC})",
        )
    for p in (create, restore):
        p.add_argument(
            "--clickhouse",
            default=env.optional(st.ENV_CLICKHOUSE),
            help=f"chdb:///DIR (env {st.ENV_CLICKHOUSE}; default chDB in ./{st.DEFAULT_DATA_DIR})",
        )
        p.add_argument(
            "--database",
            default=env.text(st.ENV_DATABASE, st.DEFAULT_DATABASE),
            help=f"database (env {st.ENV_DATABASE}; default {st.DEFAULT_DATABASE})",
        )
    for p in (restore, listing):
        p.add_argument(
            "--kafka",
            default=env.optional(st.ENV_KAFKA),
            help=f"Kafka bootstrap servers: check that the log still holds everything after "
            f"the snapshot (env {st.ENV_KAFKA}; default: no check)",
        )
    create.set_defaults(func=_create)
    restore.set_defaults(func=_restore)
    listing.set_defaults(func=_list)


def _target(args: argparse.Namespace) -> st.ClickHouseTarget:
    return st.ClickHouseTarget(args.clickhouse or st.default_dsn(), args.database)


def _create(args: argparse.Namespace) -> int:
    from .snapshot import SnapshotError, create

    try:
        m = create(_target(args), args.snapshot_dir, args.topic, args.name)
    except SnapshotError as exc:
        print(f"snapshot create: {exc}", file=sys.stderr)
        return 1
    print(f"snapshot {m.name}: database {m.database}, topic {m.topic}, offsets {m.offsets}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from .snapshot import SnapshotError, listing, read, restore

    try:
        name = args.name or next(iter(reversed(listing(args.snapshot_dir))), None)
        if not name:
            raise SnapshotError(f"no snapshot in {args.snapshot_dir}")
        name = name if isinstance(name, str) else name.name
        gaps = _gaps(args, read(args.snapshot_dir, name)) if args.kafka else {}
        if gaps:
            raise SnapshotError(
                f"the log of {args.topic} no longer holds what follows snapshot {name} "
                f"({_describe(gaps)}): restore a newer snapshot"
            )
        m = restore(_target(args), args.snapshot_dir, name)
    except SnapshotError as exc:
        print(f"snapshot restore: {exc}", file=sys.stderr)
        return 1
    print(f"restored {m.name} as database {args.database}: ingest resumes at offsets {m.offsets}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from .snapshot import listing

    found = listing(args.snapshot_dir)
    if not found:
        print(f"no snapshots in {args.snapshot_dir}")
    for m in found:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(m.created_ms / 1000))
        line = f"{m.name}  {created} UTC  database {m.database}  offsets {m.offsets}"
        if args.kafka and m.topic == args.topic:
            gaps = _gaps(args, m)
            line += f"  NOT completable: {_describe(gaps)}" if gaps else "  completable from log"
        print(line)
    return 0


def _gaps(args: argparse.Namespace, m: Any) -> dict[int, tuple[int, int]]:
    from .kafka_source import KafkaSource

    source = KafkaSource.assigned(args.kafka, m.topic)
    try:
        starts = source.beginning_offsets(sorted(source.assignment()))
    finally:
        source.close()
    gaps: dict[int, tuple[int, int]] = m.unreachable(starts)
    return gaps


def _describe(gaps: dict[int, tuple[int, int]]) -> str:
    return ", ".join(
        f"partition {p} snapshot at {s}, log starts at {b}" for p, (s, b) in gaps.items()
    )
