"""Replay: rebuild the tables from the topic into a fresh database.

No consumer group: the partitions are assigned directly, sought to the start offsets
(``--from-beginning`` or ``--offsets``), and read up to the end offsets taken when the
replay starts.  Batches go through the same pipeline as the worker's (intents, tokens,
``ingest_offsets``), so an interrupted replay can go on with ``resume``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from tqdm import tqdm

from .clickhouse_sink import ClickHouseStore, database_exists
from .errors import ReplayError
from .kafka_dead_letters import KafkaDeadLetters
from .kafka_source import KafkaSource
from .observability import IngestMetrics
from .pipeline import Pipeline
from .settings import ReplaySettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayResult:
    database: str
    start_offsets: Mapping[int, int]
    end_offsets: Mapping[int, int]
    events: int
    points: int
    dead_letters: int
    seconds: float


def replay(settings: ReplaySettings) -> ReplayResult:
    """Rebuild ``settings.clickhouse.database`` from the topic; returns what was applied."""
    started = time.monotonic()
    target = settings.target
    metrics = IngestMetrics(settings.topic)
    existed = database_exists(target)
    store = ClickHouseStore(target)
    dead_letters = (
        KafkaDeadLetters(settings.kafka, settings.dead_letter_topic)
        if settings.dead_letter_topic
        else None
    )
    source = KafkaSource.assigned(settings.kafka, settings.topic)
    try:
        if existed and not settings.resume and _has_progress(store, settings.topic):
            raise ReplayError(
                f"database {target.database} already holds tables built from {settings.topic}; "
                "replay into a new database, or resume (--resume) an interrupted replay"
            )
        store.migrate()
        partitions = sorted(source.assignment())
        unknown = set(settings.start_offsets) - set(partitions)
        if unknown:
            raise ReplayError(f"topic {settings.topic} has no partitions {sorted(unknown)}")
        ends = source.end_offsets(partitions)
        pipeline = Pipeline(
            source,
            store,
            dead_letters,
            batch=settings.batch,
            metrics=metrics,
            start_offsets=settings.start_offsets,
            stop_offsets=ends,
        )
        pipeline.assign(partitions)
        if not pipeline.recover():
            raise ReplayError(f"cannot read progress from database {target.database}")
        starts = dict(pipeline.applied)
        try:
            _run(pipeline, source, ends, starts, settings.progress)
        finally:
            pipeline.close()
        # A run of a purged experiment may sit in a partition read after the experiment's
        # tombstone: delete every row of every purged id once more, now that all is read.
        swept = store.sweep_purged()
        if swept:
            logger.info("replay deleted the rows of %d purged runs and experiments", swept)
    finally:
        source.close()
        if dead_letters is not None:
            dead_letters.close()
        store.close()
    result = ReplayResult(
        database=target.database,
        start_offsets=starts,
        end_offsets=ends,
        events=int(_counter(metrics, "runstream_ingest_events_total")),
        points=int(_counter(metrics, "runstream_ingest_points_total")),
        dead_letters=int(_counter(metrics, "runstream_ingest_dead_letters_total")),
        seconds=time.monotonic() - started,
    )
    logger.info(
        "replay of topic=%s into %s done: %d events, %d points, %d dead letters in %.1f s",
        settings.topic, result.database, result.events, result.points, result.dead_letters,
        result.seconds,
    )  # fmt: skip
    return result


def _run(
    pipeline: Pipeline,
    source: KafkaSource,
    ends: Mapping[int, int],
    starts: Mapping[int, int],
    show_progress: bool,
) -> None:
    total = sum(max(0, ends[p] - starts[p]) for p in ends)
    done_partitions: set[int] = set()
    with tqdm(total=total, unit="offset", disable=not show_progress, desc="replay") as bar:
        shown = 0
        while True:
            finished = {p for p in ends if pipeline.applied.get(p, 0) >= ends[p]}
            if finished - done_partitions:
                source.pause(finished - done_partitions)
                done_partitions |= finished
            progressed = sum(min(ends[p], pipeline.applied.get(p, 0)) - starts[p] for p in ends)
            bar.update(max(0, progressed - shown))
            shown = max(shown, progressed)
            if len(done_partitions) == len(ends):
                return
            records = source.poll(0.2)
            pipeline.handle(records)
            pipeline.tick(force=not records)
            if not records:
                pipeline.drain()
            if pipeline.unrecovered:
                time.sleep(0.5)


def _has_progress(store: ClickHouseStore, topic: str) -> bool:
    tables = {str(r[0]) for r in store.rows("SHOW TABLES")}
    if "ingest_offsets" not in tables:
        return False
    rows = store.rows(
        "SELECT count() FROM ingest_offsets WHERE topic = {topic:String}", {"topic": topic}
    )
    return bool(rows and int(str(rows[0][0])) > 0)


def _counter(metrics: IngestMetrics, name: str) -> float:
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
    return total
