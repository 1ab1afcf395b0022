"""``runstream gc``: the command around :mod:`runstream.infra.gc`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runstream.proto.settings import Env
from runstream.proto.vocabulary import DEFAULT_TOPIC


def register(subparsers: Any) -> None:
    env = Env()
    p = subparsers.add_parser(
        "gc",
        help="permanently delete deleted runs and experiments (tombstones in the log)",
        description="Permanently delete runs and experiments that were deleted (like "
        "'mlflow gc'): every run and experiment deleted at least --older-than DAYS ago, or "
        "the named ones (which must be deleted).  An experiment takes all of its runs with "
        "it.  runstream gc publishes a tombstone per run and experiment to the event topic; "
        "ingest then deletes their rows from every table, and a replay of the log never "
        "brings them back.  Reads the tables at --clickhouse (on chDB the directory must "
        "not be open in another process: stop the stack, run gc, start it again; ingest "
        "applies the tombstones when it runs).",
    )
    p.add_argument(
        "--older-than",
        type=float,
        default=None,
        metavar="DAYS",
        help="runs and experiments deleted at least DAYS ago (0: every deleted one)",
    )
    p.add_argument("--run-ids", default="", help="comma-separated run ids to purge")
    p.add_argument("--experiment-ids", default="", help="comma-separated experiment ids to purge")
    p.add_argument(
        "--clickhouse",
        default=env.optional("RUNSTREAM_CLICKHOUSE"),
        help="ClickHouse target to read: chdb:///DIR or http://host:8123 "
        "(env RUNSTREAM_CLICKHOUSE; default chDB in ./.runstream/clickhouse)",
    )
    p.add_argument(
        "--database",
        default=env.text("RUNSTREAM_DATABASE", "runstream"),
        help="database (env RUNSTREAM_DATABASE; default runstream)",
    )
    p.add_argument(
        "--kafka",
        default=env.text("RUNSTREAM_KAFKA", "127.0.0.1:9092"),
        help="Kafka bootstrap servers (env RUNSTREAM_KAFKA; default 127.0.0.1:9092)",
    )
    p.add_argument(
        "--topic",
        default=env.text("RUNSTREAM_TOPIC", DEFAULT_TOPIC),
        help=f"event topic (env RUNSTREAM_TOPIC; default {DEFAULT_TOPIC})",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print what would be purged, publish nothing"
    )
    p.set_defaults(func=_run)


def _ids(text: str) -> list[str]:
    return [i.strip() for i in text.split(",") if i.strip()]


def _run(args: argparse.Namespace) -> int:
    from runstream.ingest.settings import default_dsn
    from runstream.producer.kafka_transport import KafkaTransport
    from runstream.producer.settings import KafkaOptions
    from runstream.query.clickhouse_store import ClickHouseStore

    from .gc import GcError, collect, plan

    store = ClickHouseStore(args.clickhouse or default_dsn(), args.database, pool_size=1)
    try:
        gc = plan(
            store,
            older_than_days=args.older_than,
            run_ids=_ids(args.run_ids),
            experiment_ids=_ids(args.experiment_ids),
        )
    except GcError as exc:
        print(f"gc: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    for run_id, experiment_id in gc.runs:
        print(f"run {run_id} (experiment {experiment_id})")
    for experiment_id in gc.experiments:
        print(f"experiment {experiment_id}")
    if not gc:
        print("nothing to purge")
        return 0
    if args.dry_run:
        print(f"dry run: {len(gc.runs)} runs, {len(gc.experiments)} experiments not purged")
        return 0
    reason = f"gc --older-than {args.older_than:g}" if args.older_than is not None else "gc by id"
    transport = KafkaTransport(KafkaOptions(bootstrap=args.kafka, topic=args.topic))
    try:
        token = collect(transport, gc, reason)
    finally:
        transport.close()
    print(
        f"purged {len(gc.runs)} runs and {len(gc.experiments)} experiments: tombstones at "
        f"{token.encode()} (ingest deletes their rows when it applies them)"
    )
    return 0
