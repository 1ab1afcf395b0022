"""``runstream ingest`` and ``runstream replay``.

Every flag of ``ingest`` is backed by an environment variable (the flag wins); the
settings object is then built from that merged view, so flags and variables can never
disagree about defaults.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from . import settings as st

# (flag, environment variable, help) for the worker; values are strings like env values.
_INGEST_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--clickhouse", st.ENV_CLICKHOUSE, "ClickHouse target: chdb:///DIR or http://host:8123 "
     f"(default: chDB in ./{st.DEFAULT_DATA_DIR})"),
    ("--database", st.ENV_DATABASE, f"database name (default: {st.DEFAULT_DATABASE})"),
    ("--kafka", st.ENV_KAFKA, f"Kafka bootstrap servers (default: {st.DEFAULT_KAFKA})"),
    ("--topic", st.ENV_TOPIC, f"event topic (default: {st.DEFAULT_TOPIC})"),
    ("--dlq-topic", st.ENV_DLQ_TOPIC, "dead-letter topic (default: <topic>.dlq)"),
    ("--group", st.ENV_GROUP, f"consumer group (default: {st.DEFAULT_GROUP})"),
    ("--partitions", st.ENV_PARTITIONS,
     f"partitions of a new event topic (default: {st.DEFAULT_PARTITIONS})"),
    ("--replication-factor", st.ENV_REPLICATION, "replication of new topics; 0: min(3, brokers) "
     "with min.insync.replicas one less, at least 1 (default: 0)"),
    ("--metrics-port", st.ENV_METRICS_PORT, "Prometheus endpoint port, 0 = none (default: 0)"),
    ("--instance-id", st.ENV_INSTANCE_ID, "static group membership id (default: none)"),
    ("--session-timeout-ms", st.ENV_SESSION_TIMEOUT, "group session timeout (default: 10000)"),
    ("--batch-points", st.ENV_BATCH_POINTS,
     f"cut a batch at this many points (default: {st.DEFAULT_BATCH_POINTS})"),
    ("--batch-events", st.ENV_BATCH_EVENTS, "cut a batch at this many events (default: 50000)"),
    ("--batch-interval", st.ENV_BATCH_INTERVAL, "cut a batch after N seconds (default: 1.0)"),
    ("--state-cache", st.ENV_STATE_CACHE, "run states kept in memory (default: 100000)"),
    ("--snapshot-dir", st.ENV_SNAPSHOT_DIR, "warn at start when the newest snapshot here can "
     "no longer be completed from the log (default: no check)"),
    ("--metrics-ttl-days", st.ENV_METRICS_TTL_DAYS, "drop raw metric points older than N days, "
     "keeping latest_metrics; 0 = keep (default: 0)"),
)  # fmt: skip


def register(subparsers: Any) -> None:
    ingest = subparsers.add_parser(
        "ingest",
        help="run the ingest worker (Kafka -> ClickHouse)",
        description="Consume the event topic in a consumer group and project it into "
        "ClickHouse tables, exactly once.  Every flag falls back to the environment "
        "variable named in its help.",
    )
    for flag, env, text in _INGEST_FLAGS:
        ingest.add_argument(flag, dest=_dest(flag), default=None, help=f"{text} [env {env}]")
    ingest.add_argument(
        "--no-create-topics", action="store_true", help="do not create missing topics"
    )
    ingest.add_argument(
        "--allow-log-gap",
        action="store_true",
        help="when retention deleted events the tables never applied, go on from the log "
        f"start without them instead of stopping [env {st.ENV_ALLOW_LOG_GAP}]",
    )
    ingest.set_defaults(func=_run_ingest)

    replay = subparsers.add_parser(
        "replay",
        help="rebuild the tables from the topic into a fresh database",
        description="Read the topic from the beginning (or from given offsets) up to the "
        "end offsets seen at start, and build the tables in a new database.  Uses no "
        "consumer group.",
    )
    start = replay.add_mutually_exclusive_group(required=True)
    start.add_argument(
        "--from-beginning", action="store_true", help="every partition from its first offset"
    )
    start.add_argument(
        "--offsets",
        metavar="P:O,...",
        help="start offsets per partition; partitions not named start at the beginning",
    )
    replay.add_argument("--database", required=True, help="the database to build (must be new)")
    replay.add_argument(
        "--target", default=None, help=f"ClickHouse target [env {st.ENV_CLICKHOUSE}]"
    )
    replay.add_argument(
        "--kafka", default=None, help=f"Kafka bootstrap servers [env {st.ENV_KAFKA}]"
    )
    replay.add_argument("--topic", default=None, help=f"event topic [env {st.ENV_TOPIC}]")
    replay.add_argument(
        "--dead-letter-topic",
        default=None,
        help="also send poison events to this topic (default: count and log them only)",
    )
    replay.add_argument("--resume", action="store_true", help="go on with an interrupted replay")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    for flag, env, text in _INGEST_FLAGS:
        if flag.startswith("--batch-"):
            replay.add_argument(flag, dest=_dest(flag), default=None, help=f"{text} [env {env}]")
    replay.set_defaults(func=_run_replay)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _merged_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    for flag, name, _ in _INGEST_FLAGS:
        value = getattr(args, _dest(flag), None)
        if value is not None:
            env[name] = str(value)
    return env


def _run_ingest(args: argparse.Namespace) -> int:
    stop = threading.Event()
    restore = _on_signals(lambda: stop.set())  # before the slow imports below
    from dataclasses import replace

    from .errors import LogTruncated
    from .worker import IngestWorker

    settings = st.IngestSettings.from_env(_merged_env(args))
    if args.no_create_topics:
        settings = replace(settings, create_topics=False)
    if args.allow_log_gap:
        settings = replace(settings, allow_log_gap=True)
    try:
        IngestWorker(settings).run(stop)
    except LogTruncated:
        return 3  # logged by the worker, with what to do
    finally:
        restore()
    return 0


def _run_replay(args: argparse.Namespace) -> int:
    from .errors import IngestError
    from .replay import replay

    env = _merged_env(args)
    settings = st.ReplaySettings(
        database=args.database,
        clickhouse=args.target or env.get(st.ENV_CLICKHOUSE) or st.default_dsn(),
        kafka=args.kafka or env.get(st.ENV_KAFKA) or st.DEFAULT_KAFKA,
        topic=args.topic or env.get(st.ENV_TOPIC) or st.DEFAULT_TOPIC,
        start_offsets={} if args.from_beginning else st.parse_offsets(args.offsets),
        batch=st.batch_from_env(env),
        dead_letter_topic=args.dead_letter_topic,
        resume=args.resume,
        progress=not args.no_progress,
    )
    try:
        result = replay(settings)
    except IngestError as exc:
        print(f"replay failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"replayed {result.events} events ({result.points} points, {result.dead_letters} "
        f"dead letters) into {result.database} in {result.seconds:.1f} s"
    )
    return 0


def _on_signals(handler: Callable[[], None]) -> Callable[[], None]:
    """SIGTERM and SIGINT stop the worker cleanly; returns a function restoring them."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, lambda _signum, _frame: handler())

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore
