"""Settings, CLI flags backed by environment variables, migration files."""

from __future__ import annotations

import argparse

import pytest

from runstream.ingest import cli
from runstream.ingest.errors import ConfigError, IngestError
from runstream.ingest.migrations import (
    SCHEMA_MIGRATIONS_DDL,
    apply_migrations,
    load_migrations,
    parse_migration,
    split_statements,
)
from runstream.ingest.records import DeadLetter, Poison, PoisonReason, SourceRecord
from runstream.ingest.settings import IngestSettings, parse_offsets
from runstream.proto.v1 import common_pb2


def test_settings_from_env_and_defaults() -> None:
    s = IngestSettings.from_env(
        {
            "RUNSTREAM_CLICKHOUSE": "http://ch:8123",
            "RUNSTREAM_TOPIC": "ev",
            "RUNSTREAM_INGEST_BATCH_POINTS": "1000",
            "RUNSTREAM_INGEST_METRICS_PORT": "9100",
        }
    )
    assert (
        s.clickhouse == "http://ch:8123"
        and s.database == "runstream"
        and s.kafka == "127.0.0.1:9092"
    )
    assert s.dead_letter_topic == "ev.dlq" and s.group == "runstream-ingest"
    assert s.batch.max_points == 1000 and s.metrics_port == 9100
    assert IngestSettings.from_env({}).clickhouse.startswith("chdb:///")


def test_fetch_sizes_from_env() -> None:
    s = IngestSettings.from_env(
        {
            "RUNSTREAM_INGEST_FETCH_MAX_BYTES": "8388608",
            "RUNSTREAM_INGEST_PARTITION_FETCH_BYTES": "1048576",
        }
    )
    assert (s.fetch_max_bytes, s.partition_fetch_bytes) == (8388608, 1048576)
    d = IngestSettings.from_env({})
    assert (d.fetch_max_bytes, d.partition_fetch_bytes) == (16 << 20, 4 << 20)


@pytest.mark.parametrize(
    "env",
    [
        {"RUNSTREAM_CLICKHOUSE": "mysql://x"},
        {"RUNSTREAM_CLICKHOUSE": "chdb://relative"},
        {"RUNSTREAM_DATABASE": "bad-name"},
        {"RUNSTREAM_INGEST_BATCH_POINTS": "many"},
        {"RUNSTREAM_INGEST_PARTITIONS": "0"},
        {"RUNSTREAM_INGEST_FETCH_MAX_BYTES": "0"},
        {"RUNSTREAM_INGEST_PARTITION_FETCH_BYTES": "lots"},
        {"RUNSTREAM_TOPIC": "a topic"},
    ],
)
def test_bad_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        IngestSettings.from_env(env)
    assert info.value.error_code == common_pb2.INVALID_PARAMETER_VALUE
    assert isinstance(info.value, IngestError)


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNSTREAM_TOPIC", "from-env")
    monkeypatch.setenv("RUNSTREAM_GROUP", "g-env")
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["ingest", "--topic", "from-flag", "--batch-interval", "0.5"])
    settings = IngestSettings.from_env(cli._merged_env(args))
    assert settings.topic == "from-flag" and settings.group == "g-env"
    assert settings.batch.max_interval_s == 0.5


def test_replay_flags() -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["replay", "--offsets", "0:5,3:7", "--database", "rebuilt"])
    assert parse_offsets(args.offsets) == {0: 5, 3: 7}
    with pytest.raises(SystemExit):
        parser.parse_args(["replay", "--database", "x"])  # a start is required
    with pytest.raises(ConfigError):
        parse_offsets("3")


def test_dead_letter_headers() -> None:
    rec = SourceRecord("ev", 3, 42, b"k", b"v")
    headers = dict(DeadLetter(rec, Poison(PoisonReason.PARAM_CONFLICT, "lr changed")).headers())
    assert headers["runstream-reason"] == b"param-conflict"
    assert headers["runstream-origin-topic"] == b"ev"
    assert headers["runstream-origin-partition"] == b"3"
    assert headers["runstream-origin-offset"] == b"42"


def test_statements_split_on_semicolon_lines() -> None:
    text = "-- header\nCREATE TABLE a (x Int8)\nENGINE = Log\n;\n-- only a comment\n;\nSELECT 1\n"
    assert split_statements(text) == (
        "-- header\nCREATE TABLE a (x Int8)\nENGINE = Log",
        "SELECT 1",
    )


def test_shipped_migrations_are_ordered_and_named() -> None:
    found = load_migrations()
    versions = [m.version for m in found]
    # numbers are handed out ahead of time, so one may land before a lower one: no gap
    # is required, only a strict order from 1
    assert versions[0] == 1 and versions == sorted(set(versions))
    assert found[0].name == "init" and all(m.statements for m in found)
    with pytest.raises(IngestError):
        parse_migration("init.sql", "SELECT 1")


class FakeRunner:
    def __init__(self) -> None:
        self.commands: list[str] = []
        self.applied: list[tuple[int, str]] = []

    def command(self, sql: str) -> None:
        self.commands.append(sql)
        if sql.startswith("INSERT INTO schema_migrations"):
            version = int(sql.split("VALUES (")[1].split(",")[0])
            checksum = sql.rsplit("'", 2)[1]
            self.applied.append((version, checksum))

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        return list(self.applied)


def test_migrations_apply_once_in_order() -> None:
    runner = FakeRunner()
    migrations = [
        parse_migration("0002_b.sql", "SELECT 2"),
        parse_migration("0001_a.sql", "SELECT 1"),
    ]
    migrations.sort(key=lambda m: m.version)
    assert apply_migrations(runner, migrations) == [1, 2]
    assert [c for c in runner.commands if c.startswith("SELECT")] == ["SELECT 1", "SELECT 2"]
    assert runner.commands[0] == SCHEMA_MIGRATIONS_DDL
    assert apply_migrations(runner, migrations) == []
