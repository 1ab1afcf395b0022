"""The cluster DDL (``runstream migrations print --cluster NAME``) makes the same schema as
the embedded one: same tables, columns, codecs, sort keys, indexes and projections.

No ClickHouse cluster (nor Keeper) runs here, so the cluster statements are checked in two
ways against chDB itself:

* ClickHouse's parser accepts every statement exactly as generated (``formatQuery``);
* the statements are applied in a fresh chDB database with only what needs a cluster
  undone: ``ON CLUSTER 'NAME'`` dropped, ``ReplicatedX('<path>', '{replica}', args)`` run
  as ``X(args)``, the ``Distributed`` table run as a ``Merge`` table over its local table
  (both take the local table's columns), and an ``INSERT`` into it sent to the local table
  (as the Distributed table forwards it).  The catalog of that database is then compared
  with the catalog the embedded migrations make.
"""

from __future__ import annotations

import re
from typing import Any

from runstream.ingest.migrations import apply_migrations
from runstream.ingest.migrations.cluster import LOCAL_SUFFIX, REPLICA_NAME, REPLICA_PATH
from tests.integration.ingest.workload import client

CLUSTER = "rs_cluster"
ON = f" ON CLUSTER '{CLUSTER}'"
REPLICATED = re.compile(
    rf"ENGINE = Replicated(\w+)\('{re.escape(REPLICA_PATH)}', '{re.escape(REPLICA_NAME)}'"
    r"(?:, ([^)]*))?\)"
)
DISTRIBUTED = re.compile(
    rf"AS (\w+){LOCAL_SUFFIX}\nENGINE = Distributed\('{CLUSTER}', '(\w+)', "
    rf"(\w+){LOCAL_SUFFIX}, cityHash64\((\w+)\)\)$"
)


class PlainRunner:
    def __init__(self, c: Any) -> None:
        self.c = c

    def command(self, sql: str) -> None:
        self.c.command(sql)

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        return [tuple(r) for r in self.c.query(sql).result_rows]


class StandInRunner(PlainRunner):
    """Runs cluster DDL on one chDB database, undoing only what needs a cluster."""

    def __init__(self, c: Any, database: str) -> None:
        super().__init__(c)
        self.database = database
        self.replicated: dict[str, str] = {}  # local table -> engine it replicates
        self.shard_keys: dict[str, str] = {}  # Distributed table -> shard key column
        self.statements = 0

    def command(self, sql: str) -> None:
        self.statements += 1
        # ClickHouse's own parser takes the statement as generated
        parsed = self.c.query("SELECT formatQuery({q:String})", parameters={"q": sql})
        assert parsed.result_rows[0][0]
        if sql.startswith("CREATE TABLE"):
            assert ON in sql, sql
        if sql.startswith("ALTER TABLE"):
            assert ON in sql, sql
        sql = sql.replace(ON, "")
        if created := re.match(rf"CREATE TABLE IF NOT EXISTS (\w+{LOCAL_SUFFIX}) \(", sql):
            engine = REPLICATED.search(sql)
            assert engine is not None, sql
            self.replicated[created.group(1)] = engine.group(1)
            args = f"({engine.group(2)})" if engine.group(2) else ""
            sql = REPLICATED.sub(lambda _: f"ENGINE = {engine.group(1)}{args}", sql)
        elif distributed := DISTRIBUTED.search(sql):
            table, database, local, key = distributed.groups()
            assert table == local and database == self.database, sql
            self.shard_keys[table] = key
            sql = DISTRIBUTED.sub(
                lambda _: (
                    f"AS {table}{LOCAL_SUFFIX}\n"
                    f"ENGINE = Merge('{database}', '^{table}{LOCAL_SUFFIX}$')"
                ),
                sql,
            )
        elif inserted := re.match(r"INSERT INTO (\w+) ", sql):
            sql = sql.replace(inserted.group(0), f"INSERT INTO {inserted.group(1)}_local ", 1)
        self.c.command(sql)


def catalog(c: Any, database: str) -> dict[str, dict[str, Any]]:
    """Per table: engine, keys, settings, columns, indexes, projections."""
    params = {"db": database}

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in c.query(sql, parameters=params).result_rows]

    tables: dict[str, dict[str, Any]] = {}
    for name, engine, sorting, primary, full in rows(
        "SELECT name, engine, sorting_key, primary_key, engine_full FROM system.tables "
        "WHERE database = {db:String}"
    ):
        settings = full.partition(" SETTINGS ")[2]
        tables[name] = {
            "engine": engine,
            "sorting_key": sorting,
            "primary_key": primary,
            "settings": settings.replace(
                "non_replicated_deduplication_window", "replicated_deduplication_window"
            ),
            "columns": [],
            "indexes": [],
            "projections": [],
        }
    for table, *column in rows(
        "SELECT table, name, type, default_kind, default_expression, compression_codec "
        "FROM system.columns WHERE database = {db:String} ORDER BY table, position"
    ):
        tables[table]["columns"].append(tuple(column))
    for table, *index in rows(
        "SELECT table, name, type_full, expr, granularity FROM system.data_skipping_indices "
        "WHERE database = {db:String} ORDER BY table, name"
    ):
        tables[table]["indexes"].append(tuple(index))
    for table, *projection in rows(
        "SELECT table, name, type, sorting_key, query FROM system.projections "
        "WHERE database = {db:String} ORDER BY table, name"
    ):
        tables[table]["projections"].append(tuple(projection))
    return tables


def test_cluster_ddl_makes_the_embedded_schema(chdb_dsn: str, fresh_database: str) -> None:
    embedded_db, cluster_db = fresh_database, fresh_database + "_cluster"
    boot = client(chdb_dsn, "default")
    for db in (embedded_db, cluster_db):
        boot.command(f"CREATE DATABASE {db}")
    boot.close()
    embedded_c, cluster_c = client(chdb_dsn, embedded_db), client(chdb_dsn, cluster_db)
    try:
        applied = apply_migrations(PlainRunner(embedded_c))
        stand_in = StandInRunner(cluster_c, cluster_db)
        assert apply_migrations(stand_in, cluster=CLUSTER, database=cluster_db) == applied
        # recorded, as embedded
        assert apply_migrations(stand_in, cluster=CLUSTER, database=cluster_db) == []

        embedded = catalog(embedded_c, embedded_db)
        cluster = catalog(cluster_c, cluster_db)
        # default experiment, inserted once through the Distributed table
        assert cluster_c.command("SELECT count() FROM experiments") == 1
    finally:
        embedded_c.close()
        cluster_c.close()

    assert sorted(cluster) == sorted([*embedded, *(t + LOCAL_SUFFIX for t in embedded)])
    assert set(stand_in.shard_keys) == set(embedded)
    for table, want in embedded.items():
        local = cluster[table + LOCAL_SUFFIX]
        assert stand_in.replicated[table + LOCAL_SUFFIX] == want["engine"], table
        for field in ("engine", "sorting_key", "primary_key", "settings", "columns"):
            assert local[field] == want[field], (table, field)
        assert local["indexes"] == want["indexes"], table
        assert local["projections"] == want["projections"], table
        assert want["projections"] or table not in ("params", "tags", "latest_metrics")
        # the Distributed table: the same columns, sharded by a sort-key column
        front = cluster[table]
        names_types = [c[:2] for c in front["columns"]]
        assert names_types == [c[:2] for c in want["columns"]], table
        sort_columns = {c.strip() for c in want["sorting_key"].split(",")}
        assert stand_in.shard_keys[table] in sort_columns, table
    codecs = {c[0]: c[4] for c in embedded["metrics"]["columns"]}
    assert (codecs["step"], codecs["timestamp"], codecs["value"]) == (
        "CODEC(DoubleDelta, ZSTD(1))",
        "CODEC(DoubleDelta, ZSTD(1))",
        "CODEC(Gorilla(8), ZSTD(1))",
    )
