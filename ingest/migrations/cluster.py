"""The migrations for a ClickHouse cluster: ``ON CLUSTER`` DDL from the same statements.

Every ``CREATE TABLE name`` of a migration becomes two tables on every node of the cluster:

* ``name_local``: the same columns, sort key, indexes, projections and settings on the
  replicated counterpart of the engine (``ReplacingMergeTree(v)`` ->
  ``ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}',
  '{replica}', v)``; ``{shard}`` and ``{replica}`` are each node's macros), with the insert
  deduplication window of replicated tables (``replicated_deduplication_window``) where
  the embedded table sets ``non_replicated_deduplication_window``;
* ``name``: a ``Distributed`` table over ``database.name_local`` on every shard (the
  database is named: ``currentDatabase()`` would be evaluated by each node's DDL worker,
  not by the caller), so every query of
  ingest and of the query service runs unchanged, by the same names.  Rows are sharded by
  a hash of a sort-key column (:func:`shard_key`): every version of one row then lands on
  one shard, where ReplacingMergeTree and ``FINAL`` can collapse it.

``ALTER TABLE name`` goes to ``name_local``; a change of the columns (add, drop, rename,
a new type) goes to ``name`` as well, so both keep the same columns (a column added and
appended to the sort key in one statement: the column only).  ``INSERT`` (the
default experiment) goes, once, through the Distributed table.  A statement of any other
kind has no cluster form yet: :class:`~runstream.ingest.errors.MigrationError` says which.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from ..errors import MigrationError
from ..settings import DEFAULT_DATABASE
from . import SCHEMA_MIGRATIONS_DDL, Migration, load_migrations

LOCAL_SUFFIX = "_local"
REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
REPLICA_NAME = "{replica}"
# The shard key: a hash of the entity column that comes first in the table's sort key
# (experiment_id only when the table has no other): every row of one run, one model
# (logged or registered) or one partition's bookkeeping lands on one shard, so the tables
# of one entity are co-sharded and a subquery from one into another can run shard-locally
# (``distributed_product_mode = 'local'``).
SHARD_COLUMNS = ("run_id", "model_id", "name", "event_id", "partition")
FALLBACK_SHARD_COLUMN = "experiment_id"
MERGE_TREE_ENGINES = frozenset(
    {
        "MergeTree",
        "ReplacingMergeTree",
        "AggregatingMergeTree",
        "SummingMergeTree",
        "CollapsingMergeTree",
        "VersionedCollapsingMergeTree",
        "CoalescingMergeTree",
    }
)

_WINDOW = "non_replicated_deduplication_window"
_REPLICATED_WINDOW = "replicated_deduplication_window"
_CLUSTER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")
_DATABASE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_CREATE_RE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\s*\(")
_ENGINE_RE = re.compile(r"\bENGINE\s*=\s*(\w+)(?:\(([^)]*)\))?")
_ORDER_RE = re.compile(r"\bORDER BY\s+(\([^)]*\)|\w+)")
_ALTER_RE = re.compile(r"^ALTER TABLE (\w+)\s+(.*)$", re.S)
_INSERT_RE = re.compile(r"^INSERT INTO (\w+)\b")
_DROP_RE = re.compile(r"^DROP TABLE (IF EXISTS )?(\w+)\s*$")
# ALTER actions that change the columns (both tables) and that touch storage only (local).
_COLUMN_ACTION_RE = re.compile(
    r"^(?:(?:ADD|DROP|RENAME|COMMENT) COLUMN\b"
    r"|MODIFY COLUMN (?:IF EXISTS )?\w+ (?!CODEC\b|COMMENT\b|TTL\b|REMOVE\b|MODIFY SETTING\b"
    r"|RESET SETTING\b))"
)
# A column added and appended to the sort key in one ALTER (0008): the Distributed table
# gets the column only.
_ADD_TO_SORT_KEY_RE = re.compile(r"^(ADD COLUMN\b.*?),\s*MODIFY ORDER BY\b", re.S)
_STORAGE_ACTION_RE = re.compile(
    r"^(?:MODIFY COLUMN (?:IF EXISTS )?\w+ (?:CODEC|TTL|REMOVE)\b"
    r"|(?:ADD|DROP|MATERIALIZE|CLEAR) (?:INDEX|PROJECTION)\b"
    r"|(?:MODIFY|RESET) SETTING\b|(?:MODIFY|REMOVE|MATERIALIZE) TTL\b"
    r"|DELETE WHERE\b|UPDATE\b)"
)


def check_cluster_name(cluster: str) -> str:
    if not _CLUSTER_RE.match(cluster):
        raise MigrationError(
            f"cluster name must be letters, digits, '_', '.' or '-' (as in remote_servers): "
            f"{cluster!r}"
        )
    return cluster


def check_database_name(database: str) -> str:
    if not _DATABASE_RE.match(database):
        raise MigrationError(f"database name must be an identifier: {database!r}")
    return database


def strip_comments(statement: str) -> str:
    """The statement without its whole-line ``--`` comments."""
    lines = [ln for ln in statement.splitlines() if not ln.strip().startswith("--")]
    return "\n".join(lines).strip()


def shard_key(order_by: str) -> str:
    columns = [c.strip() for c in order_by.strip("()").split(",")]
    entity = [c for c in columns if c in SHARD_COLUMNS]
    if entity:
        return f"cityHash64({entity[0]})"
    return (
        f"cityHash64({FALLBACK_SHARD_COLUMN if FALLBACK_SHARD_COLUMN in columns else columns[0]})"
    )


def _replicated_engine(name: str, args: str | None, table: str) -> str:
    if name not in MERGE_TREE_ENGINES:
        raise MigrationError(f"table {table}: engine {name} has no cluster (replicated) form")
    inner = [f"'{REPLICA_PATH}'", f"'{REPLICA_NAME}'"]
    if args and args.strip():
        inner.append(args.strip())
    return f"ENGINE = Replicated{name}({', '.join(inner)})"


def _create(table: str, sql: str, on: str, cluster: str, database: str) -> list[str]:
    engine = _ENGINE_RE.search(sql)
    order = _ORDER_RE.search(sql)
    if engine is None or order is None:
        raise MigrationError(f"table {table}: no cluster form without ENGINE and ORDER BY")
    local = table + LOCAL_SUFFIX
    head = f"CREATE TABLE IF NOT EXISTS {local} {on} ("
    body = _CREATE_RE.sub(head, sql, count=1)
    body = _ENGINE_RE.sub(_replicated_engine(engine.group(1), engine.group(2), table), body, 1)
    distributed = (
        f"CREATE TABLE IF NOT EXISTS {table} {on} AS {local}\n"
        f"ENGINE = Distributed('{cluster}', '{database}', {local}, "
        f"{shard_key(order.group(1))})"
    )
    return [body, distributed]


def _alter(table: str, action: str, on: str) -> list[str]:
    local = f"ALTER TABLE {table}{LOCAL_SUFFIX} {on} {action}"
    if sorting := _ADD_TO_SORT_KEY_RE.match(action):  # the sort key is the local table's
        return [local, f"ALTER TABLE {table} {on} {sorting.group(1)}"]
    if _COLUMN_ACTION_RE.match(action):
        return [local, f"ALTER TABLE {table} {on} {action}"]
    if _STORAGE_ACTION_RE.match(action):
        return [local]
    raise MigrationError(f"ALTER TABLE {table}: no cluster form for {action.split()[:3]}")


def cluster_statement(statement: str, cluster: str, database: str) -> list[str]:
    """The ``ON CLUSTER`` statements that do on ``cluster`` what ``statement`` does on one
    server, in ``database`` (comments dropped)."""
    on = f"ON CLUSTER '{check_cluster_name(cluster)}'"
    check_database_name(database)
    sql = strip_comments(statement).replace(_WINDOW, _REPLICATED_WINDOW)
    if created := _CREATE_RE.match(sql):
        return _create(created.group(1), sql, on, cluster, database)
    if altered := _ALTER_RE.match(sql):
        return _alter(altered.group(1), " ".join(altered.group(2).split()), on)
    if _INSERT_RE.match(sql):
        return [sql]  # once, through the Distributed table
    if dropped := _DROP_RE.match(sql):
        exists, table = dropped.group(1) or "", dropped.group(2)
        return [
            f"DROP TABLE {exists}{table} {on} SYNC",
            f"DROP TABLE {exists}{table}{LOCAL_SUFFIX} {on} SYNC",
        ]
    raise MigrationError(f"no cluster form for the statement: {sql.splitlines()[0][:80]!r}")


def cluster_migration(migration: Migration, cluster: str, database: str) -> Migration:
    statements = tuple(
        s for st in migration.statements for s in cluster_statement(st, cluster, database)
    )
    checksum = hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()
    return Migration(migration.version, migration.name, statements, checksum)


def cluster_migrations(
    cluster: str, database: str, migrations: Sequence[Migration] | None = None
) -> list[Migration]:
    """Every migration (the shipped ones by default) in its ``ON CLUSTER`` form."""
    todo = load_migrations() if migrations is None else migrations
    return [cluster_migration(m, cluster, database) for m in todo]


def schema_migrations_ddl(cluster: str | None, database: str) -> tuple[str, ...]:
    """The bookkeeping table :func:`~runstream.ingest.migrations.apply_migrations` makes."""
    if cluster is None:
        return (SCHEMA_MIGRATIONS_DDL,)
    return tuple(cluster_statement(SCHEMA_MIGRATIONS_DDL, cluster, database))


def render(
    cluster: str | None = None,
    database: str = DEFAULT_DATABASE,
    migrations: Sequence[Migration] | None = None,
) -> str:
    """The whole schema as one script: the embedded DDL, or with ``cluster`` the cluster
    DDL for ``database`` (statements separated by a line holding only ``;``, as in the
    migration files).  Run it in ``database`` (on a cluster: on one node)."""
    todo = list(load_migrations() if migrations is None else migrations)
    if cluster is not None:
        todo = cluster_migrations(cluster, database, todo)
    where = f"cluster '{cluster}', database {database}" if cluster else "one server"
    out = [
        f"-- runstream schema for {where}, generated from the ingest migrations.",
        "-- Statements are separated by a line holding only ';'.",
        "",
        "-- schema_migrations: the versions applied",
        "\n;\n".join(schema_migrations_ddl(cluster, database)),
    ]
    for m in todo:
        out += [";", "", f"-- {m.version:04d}_{m.name}", "\n;\n".join(m.statements)]
    return "\n".join(out) + "\n"
