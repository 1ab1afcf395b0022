"""ClickHouse adapter: the one module that talks to ClickHouse (chDB or a server).

:class:`ClickHouseStore` writes partition batches (one column-oriented insert per table,
each with the batch's insert deduplication token), keeps intents and applied offsets, and
reads entity states.  It opens its own clickhouse-connect client: on a chDB directory
several clients in one process work in parallel, so the worker can share the directory
with the query service of the same process.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from runstream.proto.engine import chdb_options, prepare_allocator
from runstream.proto.tokens import APPLIED_OFFSETS_SQL

from .batch import TABLE_ORDER, DictColumn, Intent, PartitionBatch, Progress
from .errors import SinkBackpressure, SinkError, SinkUnavailable
from .migrations import apply_migrations
from .model_reads import ModelStateReads
from .purge import PURGEABLE_TABLES_SQL, Purge, deletions, split
from .settings import ClickHouseTarget
from .state import EXPERIMENT_COLUMNS, RUN_COLUMNS, ExperimentState, RunState

try:  # Arrow (a dependency of chDB) inserts dictionary-encoded strings 2-3x faster
    import pyarrow as pa
except ImportError:  # pragma: no cover - then strings go as Python lists
    pa = None

logger = logging.getLogger(__name__)

# ClickHouse error codes after which a later retry may succeed (names: errorCodeToName).
# Out of a resource the server will have again: time, memory, disk space, parts merged.
_BACKPRESSURE_CODES = frozenset(
    {
        159,  # TIMEOUT_EXCEEDED
        173,  # CANNOT_ALLOCATE_MEMORY
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        241,  # MEMORY_LIMIT_EXCEEDED
        243,  # NOT_ENOUGH_SPACE (disk full: the reservation for a new part failed)
        252,  # TOO_MANY_PARTS
        364,  # RECEIVED_ERROR_TOO_MANY_REQUESTS
        776,  # RESOURCE_LIMIT_EXCEEDED
        777,  # MEMORY_RESERVATION_KILLED
        778,  # MEMORY_RESERVATION_FAILED
        1019,  # QUERY_SLOT_ACQUISITION_TIMEOUT
        1020,  # MEMORY_RESERVATION_ACQUISITION_TIMEOUT
    }
)
# The server, the network or the storage failed under the statement; nothing about the
# statement itself is wrong.  Inserts are retried with the same deduplication token, so
# a retry after an insert that did land is dropped.
_UNAVAILABLE_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE
        75,  # CANNOT_WRITE_TO_FILE_DESCRIPTOR
        76,  # CANNOT_OPEN_FILE
        77,  # CANNOT_CLOSE_FILE
        88,  # CANNOT_TRUNCATE_FILE
        95,  # CANNOT_READ_FROM_SOCKET
        96,  # CANNOT_WRITE_TO_SOCKET
        172,  # CANNOT_CREATE_DIRECTORY
        203,  # NO_FREE_CONNECTION
        204,  # CANNOT_FSYNC
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        225,  # NO_ZOOKEEPER
        236,  # ABORTED
        242,  # TABLE_IS_READ_ONLY
        275,  # AIO_WRITE_ERROR
        279,  # ALL_CONNECTION_TRIES_FAILED
        285,  # TOO_FEW_LIVE_REPLICAS
        286,  # UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
        294,  # CANNOT_WRITE_TO_FILE
        297,  # SHARD_HAS_NO_CONNECTIONS
        319,  # UNKNOWN_STATUS_OF_INSERT
        384,  # PART_IS_TEMPORARILY_LOCKED
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        473,  # DEADLOCK_AVOIDED
        521,  # ATOMIC_RENAME_FAIL
        586,  # CANNOT_CREATE_FILE
        641,  # CANNOT_APPEND_TO_FILE
        738,  # PART_IS_LOCKED
        904,  # TOO_MANY_UNAVAILABLE_SHARDS
        999,  # KEEPER_EXCEPTION
    }
)
# A full disk can also surface as the OS error under another code (STD_EXCEPTION, ...).
_NO_SPACE_RE = re.compile(r"No space left on device|ENOSPC|errno: 28\b|Disk quota exceeded")
_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_CODE_RE = re.compile(r"Code: (\d+)")
_CHUNK = 10_000

InsertObserver = Callable[[str, float, int], None]  # table, seconds, rows
T = TypeVar("T")


def translate(exc: BaseException, doing: str) -> SinkError:
    """A clickhouse-connect or chDB exception as one of ours."""
    text = str(exc)
    message = f"{doing}: {text}"
    if isinstance(exc, OperationalError):
        return SinkUnavailable(message)
    if (isinstance(exc, OSError) and exc.errno in _NO_SPACE_ERRNOS) or _NO_SPACE_RE.search(text):
        return SinkBackpressure(message)
    match = _CODE_RE.search(text)
    code = int(match.group(1)) if match else None
    if code in _BACKPRESSURE_CODES:
        return SinkBackpressure(message)
    if code in _UNAVAILABLE_CODES or "EmbeddedServer" in text:
        return SinkUnavailable(message)
    return SinkError(message)


def _get_client(target: ClickHouseTarget, **kwargs: Any) -> Any:
    """chDB: with the engine's memory, cache and allocator settings (``proto.engine``)."""
    if target.embedded:
        prepare_allocator()
        kwargs["chdb_options"] = chdb_options()
    return clickhouse_connect.get_client(dsn=target.dsn, **kwargs)


def open_client(target: ClickHouseTarget, *, create_database: bool = True) -> Any:
    """A clickhouse-connect client whose default database is ``target.database``."""
    try:
        if create_database:
            admin = _get_client(target)
            try:
                admin.command(f"CREATE DATABASE IF NOT EXISTS `{target.database}`")
            finally:
                admin.close()
        return _get_client(target, database=target.database)
    except (ClickHouseError, RuntimeError, OSError) as exc:
        raise translate(exc, f"cannot open ClickHouse target {target.dsn}") from exc


def database_exists(target: ClickHouseTarget) -> bool:
    try:
        client = _get_client(target)
        try:
            return bool(client.command(f"EXISTS DATABASE `{target.database}`"))
        finally:
            client.close()
    except (ClickHouseError, RuntimeError, OSError) as exc:
        raise translate(exc, f"cannot open ClickHouse target {target.dsn}") from exc


class ClickHouseStore(ModelStateReads):
    """Sink, progress store and state store on one ClickHouse database."""

    def __init__(
        self, target: ClickHouseTarget, *, on_insert: InsertObserver | None = None
    ) -> None:
        self.target = target
        self._on_insert = on_insert
        self._client = open_client(target)
        self._lock = threading.Lock()  # one client: calls are serialised anyway
        # Column types per table, read once: an insert without them makes clickhouse-connect
        # ask the server (DESCRIBE) first, which tripled the cost of a small insert.
        self._types: dict[str, dict[str, str]] = {}
        # clickhouse-connect imports pandas lazily on its first insert (~0.4 s): pay it now.
        with contextlib.suppress(ImportError):
            importlib.import_module("pandas")

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # closing is best effort
            logger.debug("closing the ClickHouse client failed", exc_info=True)

    def _call(self, doing: str, fn: Callable[[], T]) -> T:
        try:
            with self._lock:
                return fn()
        except (ClickHouseError, RuntimeError, OSError) as exc:
            raise translate(exc, doing) from exc

    def command(self, sql: str) -> None:
        self._call("command", lambda: self._client.command(sql))

    def rows(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        result = self._call("query", lambda: self._client.query(sql, parameters=parameters))
        return [tuple(r) for r in result.result_rows]

    def migrate(self) -> list[int]:
        """Create or upgrade the tables; returns the migration versions applied now."""
        self._types.clear()
        return apply_migrations(self)

    def set_metrics_ttl(self, days: int) -> None:
        """Raw points older than ``days`` (by their timestamp) go at merges; 0: no TTL.
        Only ``metrics``: the per-key summaries in ``latest_metrics`` stay."""
        ddl = str(
            self.rows(
                "SELECT create_table_query FROM system.tables WHERE "
                "database = currentDatabase() AND name = 'metrics'"
            )[0][0]
        )
        expression = f"toDateTime(intDiv(timestamp, 1000)) + toIntervalDay({int(days)})"
        if days > 0 and f"toIntervalDay({int(days)})" not in ddl:
            self.command(f"ALTER TABLE metrics MODIFY TTL {expression}")
            logger.info("metrics: raw points older than %d days are dropped at merges", days)
        elif days == 0 and " TTL " in ddl:
            self.command("ALTER TABLE metrics REMOVE TTL")
            logger.info("metrics: no TTL (raw points are kept)")

    def _insert(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Any],
        rows: int,
        token: str | None = None,
    ) -> None:
        settings = {"insert_deduplication_token": token} if token else None
        started = time.perf_counter()
        if any(isinstance(c, DictColumn) for c in data):
            if pa is not None:
                arrow = pa.Table.from_arrays([_arrow(c) for c in data], names=list(columns))
                self._call(
                    f"insert into {table}",
                    lambda: self._client.insert_arrow(table, arrow, settings=settings),
                )
                self._observe(table, started, rows)
                return
            data = [c.expand() if isinstance(c, DictColumn) else c for c in data]
        types = self._column_types(table, columns)
        try:
            self._call(
                f"insert into {table}",
                lambda: self._client.insert(
                    table,
                    data,
                    column_names=list(columns),
                    column_type_names=types,
                    column_oriented=True,
                    settings=settings,
                ),
            )
        except SinkError:
            self._types.pop(table, None)  # read them again next time (a migration may have run)
            raise
        self._observe(table, started, rows)

    def _column_types(self, table: str, columns: Sequence[str]) -> list[str] | None:
        """The ClickHouse type of each of ``columns`` of ``table``, as the server names it;
        None when the table lacks one (the insert then asks the server, whose error names
        what is wrong)."""
        known = self._types.get(table)
        if known is None or any(c not in known for c in columns):
            known = {
                str(name): str(kind)
                for name, kind in self.rows(
                    "SELECT name, type FROM system.columns "
                    "WHERE database = currentDatabase() AND table = {table:String}",
                    {"table": table},
                )
            }
            if any(c not in known for c in columns):
                return None
            self._types[table] = known
        return [known[c] for c in columns]

    def _observe(self, table: str, started: float, rows: int) -> None:
        if self._on_insert is not None:
            self._on_insert(table, time.perf_counter() - started, rows)

    # -- Sink -------------------------------------------------------------------------------

    def write(self, batch: PartitionBatch) -> None:
        """One insert per table, in :data:`~.batch.TABLE_ORDER`, each with its token."""
        by_name = {t.table: t for t in batch.tables}
        for name in TABLE_ORDER:
            t = by_name.get(name)
            if t is not None and t.rows:
                self._insert(t.table, t.columns, t.data, t.rows, batch.token(t.table))
        if batch.purges:
            self.delete_purged(batch.purges)

    def delete_purged(self, purges: Sequence[Purge]) -> None:
        """Delete every row of the purged runs and experiments from every table (the
        deletions are synchronous: done when this returns; running them again is
        harmless)."""
        runs, experiments = split(purges)
        tables = [(str(t), list(c)) for t, c in self.rows(PURGEABLE_TABLES_SQL)]
        for d in deletions(tables, runs, experiments):
            started = time.perf_counter()
            self._call(
                f"delete from {d.table}",
                lambda d=d: self._client.command(d.sql(), parameters=dict(d.parameters)),  # type: ignore[misc]
            )
            logger.info(
                "purged table=%s runs=%d experiments=%d in %.2f s",
                d.table, len(runs), len(experiments), time.perf_counter() - started,
            )  # fmt: skip

    def sweep_purged(self) -> int:
        """Delete the rows of every id ``purges`` lists (a replay's last step); returns how
        many ids."""
        rows = self.rows("SELECT kind, id FROM purges FINAL WHERE lifted = 0")
        purges = [Purge(str(k), str(i), "", "", 0, 0, 0, "", "") for k, i in rows]
        if purges:
            self.delete_purged(purges)
        return len(purges)

    # -- ProgressStore ----------------------------------------------------------------------

    def read_progress(self, topic: str, partitions: Collection[int]) -> dict[int, Progress]:
        params = {"topic": topic, "partitions": sorted(partitions)}
        offsets = dict(self.rows(APPLIED_OFFSETS_SQL, params))
        intents = {
            int(p): Intent(topic, int(p), int(first), int(end))
            for p, first, end in self.rows(
                "SELECT partition, argMax(first_offset, end_offset), max(end_offset) "
                "FROM ingest_batches "
                "WHERE topic = {topic:String} AND partition IN {partitions:Array(Int32)} "
                "GROUP BY partition",
                params,
            )
        }
        return {
            p: Progress(
                int(offsets[p]) if p in offsets else None,
                intents.get(p),
            )
            for p in partitions
        }

    def write_intents(self, intents: Sequence[Intent]) -> None:
        if intents:
            columns = ("topic", "partition", "first_offset", "end_offset")
            data = [
                [i.topic for i in intents],
                [i.partition for i in intents],
                [i.first for i in intents],
                [i.end for i in intents],
            ]
            self._insert("ingest_batches", columns, data, len(intents))

    def write_offsets(self, topic: str, offsets: Mapping[int, int]) -> None:
        if offsets:
            parts = sorted(offsets)
            data = [[topic] * len(parts), parts, [offsets[p] for p in parts]]
            self._insert("ingest_offsets", ("topic", "partition", "next_offset"), data, len(parts))

    # -- StateStore -------------------------------------------------------------------------

    def load_runs(self, run_ids: Collection[str]) -> dict[str, RunState]:
        found: dict[str, RunState] = {}
        for chunk in _chunks(run_ids):
            for row in self.rows(
                f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id IN {{ids:Array(String)}} "
                "ORDER BY version DESC LIMIT 1 BY run_id",
                {"ids": chunk},
            ):
                state = RunState(*row)
                found[state.run_id] = state
        return found

    def load_params(self, run_ids: Collection[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {r: {} for r in run_ids}
        for chunk in _chunks(run_ids):
            for run_id, key, value in self.rows(
                "SELECT run_id, key, any(value) FROM params WHERE run_id IN {ids:Array(String)} "
                "GROUP BY run_id, key",
                {"ids": chunk},
            ):
                found[run_id][key] = value
        return found

    def load_experiments(self, experiment_ids: Collection[str]) -> dict[str, ExperimentState]:
        found: dict[str, ExperimentState] = {}
        for chunk in _chunks(experiment_ids):
            for row in self.rows(
                f"SELECT {', '.join(EXPERIMENT_COLUMNS)} FROM experiments "
                "WHERE experiment_id IN {ids:Array(String)} "
                "ORDER BY version DESC LIMIT 1 BY experiment_id",
                {"ids": chunk},
            ):
                state = ExperimentState(*row)
                found[state.experiment_id] = state
        return found

    def load_purged(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for kind in sorted({k for k, _ in keys}):
            for chunk in _chunks({i for k, i in keys if k == kind}):
                for (entity_id,) in self.rows(
                    "SELECT id FROM purges FINAL WHERE kind = {kind:String} "
                    "AND id IN {ids:Array(String)} AND lifted = 0",
                    {"kind": kind, "ids": chunk},
                ):
                    found.add((kind, str(entity_id)))
        return found

    def load_producers(
        self, topic: str, partition: int, producer_ids: Collection[str], before: int
    ) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(producer_ids):
            for producer_id, seq in self.rows(
                "SELECT producer_id, max(seq) FROM ingest_producers "
                "WHERE topic = {topic:String} AND partition = {partition:Int32} "
                "AND producer_id IN {ids:Array(String)} AND offset < {before:Int64} "
                "GROUP BY producer_id",
                {"topic": topic, "partition": partition, "ids": chunk, "before": before},
            ):
                found[str(producer_id)] = int(seq)
        return found


def _arrow(column: Any) -> Any:
    if isinstance(column, DictColumn):
        return pa.DictionaryArray.from_arrays(
            pa.array(column.codes, type=pa.int32()),
            pa.array(list(column.dictionary), type=pa.string()),
        )
    return pa.array(column)


def _chunks(items: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(items)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]
