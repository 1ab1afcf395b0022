"""The ON CLUSTER form of migration statements (rules; the whole schema is compared with
the embedded one against chDB in tests/integration/ingest/test_cluster_schema.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runstream.infra.cli import build_parser
from runstream.ingest.errors import MigrationError
from runstream.ingest.migrations import load_migrations
from runstream.ingest.migrations.cluster import cluster_statement, render, shard_key

ON = "ON CLUSTER 'c1'"


def test_a_table_becomes_a_replicated_local_table_and_a_distributed_one() -> None:
    local, front = cluster_statement(
        "-- a comment\nCREATE TABLE IF NOT EXISTS t (\n    run_id String,\n    v UInt64\n"
        ") ENGINE = ReplacingMergeTree(v)\nORDER BY (experiment_id, run_id)\n"
        "SETTINGS non_replicated_deduplication_window = 10000",
        "c1",
        "rs",
    )
    assert local.startswith(f"CREATE TABLE IF NOT EXISTS t_local {ON} (\n    run_id String")
    assert "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/" \
        "{table}', '{replica}', v)\nORDER BY (experiment_id, run_id)" in local  # fmt: skip
    assert "SETTINGS replicated_deduplication_window = 10000" in local
    assert "comment" not in local
    assert front == (
        f"CREATE TABLE IF NOT EXISTS t {ON} AS t_local\n"
        "ENGINE = Distributed('c1', 'rs', t_local, cityHash64(run_id))"
    )


@pytest.mark.parametrize(
    ("action", "both"),
    [
        ("ADD COLUMN IF NOT EXISTS created_by String DEFAULT ''", True),
        ("DROP COLUMN IF EXISTS created_by", True),
        ("MODIFY COLUMN value Float32", True),
        ("MODIFY COLUMN value CODEC(Gorilla, ZSTD(1))", False),
        ("ADD INDEX IF NOT EXISTS i run_id TYPE bloom_filter GRANULARITY 1", False),
        ("ADD PROJECTION IF NOT EXISTS p (SELECT * ORDER BY run_id)", False),
        ("MATERIALIZE PROJECTION p", False),
        ("MODIFY SETTING non_replicated_deduplication_window = 10000", False),
        ("MODIFY TTL toDateTime(timestamp / 1000) + INTERVAL 30 DAY", False),
    ],
)
def test_column_changes_go_to_both_tables_storage_changes_to_the_local_one(
    action: str, both: bool
) -> None:
    out = cluster_statement(f"ALTER TABLE metrics {action}", "c1", "rs")
    assert out[0].startswith(f"ALTER TABLE metrics_local {ON} ")
    assert "non_replicated" not in out[0]
    assert len(out) == (2 if both else 1)
    if both:
        assert out[1] == f"ALTER TABLE metrics {ON} {action}"


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE IF NOT EXISTS t (x Int64) ENGINE = Memory",
        "CREATE VIEW v AS SELECT 1",
        "ALTER TABLE t FREEZE",
        "OPTIMIZE TABLE metrics FINAL",
    ],
)
def test_a_statement_without_a_cluster_form_is_refused_by_name(statement: str) -> None:
    with pytest.raises(MigrationError, match="cluster"):
        cluster_statement(statement, "c1", "rs")


@pytest.mark.parametrize("name", ["", "a b", "x'; DROP", "1abc"])
def test_a_bad_cluster_name_is_refused(name: str) -> None:
    with pytest.raises(MigrationError, match="cluster name"):
        cluster_statement("ALTER TABLE t MATERIALIZE PROJECTION p", name, "rs")


@pytest.mark.parametrize("name", ["", "a-b", "x'; DROP"])
def test_a_bad_database_name_is_refused(name: str) -> None:
    with pytest.raises(MigrationError, match="database name"):
        cluster_statement("ALTER TABLE t MATERIALIZE PROJECTION p", "c1", name)


def test_shard_key_is_a_sort_key_column() -> None:
    assert shard_key("(experiment_id, key, run_id)") == "cityHash64(run_id)"
    assert shard_key("experiment_id") == "cityHash64(experiment_id)"
    assert shard_key("(topic, partition, offset)") == "cityHash64(partition)"
    assert shard_key("(a, b)") == "cityHash64(a)"
    # the entity that comes first: logged-model metrics go with their model
    assert shard_key("(experiment_id, model_id, key, timestamp, step, run_id)") == (
        "cityHash64(model_id)"
    )
    assert shard_key("(experiment_id, run_id, direction, model_id)") == "cityHash64(run_id)"


def test_every_shipped_migration_has_a_cluster_form() -> None:
    text = render("prod")
    for m in load_migrations():
        assert f"-- {m.version:04d}_{m.name}\n" in text
    assert "non_replicated" not in text
    assert " ENGINE = ReplacingMergeTree" not in text
    assert "ENGINE = Distributed('prod', 'runstream', metrics_local, cityHash64(run_id))" in text
    assert render(None).count("ON CLUSTER") == 0


def test_the_cli_prints_the_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["migrations", "print", "--cluster", "prod"])
    assert args.func(args) == 0
    assert capsys.readouterr().out == render("prod")
    argv = ["migrations", "print", "--cluster", "prod", "--database", "rs2"]
    args = build_parser().parse_args(argv)
    assert args.func(args) == 0
    assert capsys.readouterr().out == render("prod", "rs2") != render("prod")
    args = build_parser().parse_args(["migrations", "print", "--cluster", "a b"])
    assert args.func(args) == 2
    assert "cluster name" in capsys.readouterr().err


def test_the_cluster_ddl_in_the_docs_is_the_generated_one() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "ingest.md").read_text()
    block = docs.split("<!-- cluster-ddl:metrics")[1].split("```sql\n")[1].split("```")[0]
    generated = render("runstream_cluster", "runstream").split("\n;\n")
    shown = block.strip().split("\n;\n")
    assert len(shown) >= 6
    for statement in shown:
        assert any(statement in g for g in generated), statement
