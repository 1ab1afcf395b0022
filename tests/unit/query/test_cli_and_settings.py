"""``runstream query`` wiring, settings from the environment, the package's public names."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import runstream.query as query
from runstream.query import QuerySettings
from runstream.query.cli import register


def test_settings_from_environment() -> None:
    s = QuerySettings.from_env(
        {
            "RUNSTREAM_CLICKHOUSE": "http://ch:8123",
            "RUNSTREAM_DATABASE": "db",
            "RUNSTREAM_TOPIC": "t",
            "RUNSTREAM_QUERY_ADDRESS": "0.0.0.0:1",
            "RUNSTREAM_AUTH_TOKENS": "a, b,",
            "RUNSTREAM_QUERY_POOL_SIZE": "8",
            "RUNSTREAM_QUERY_WAIT_TIMEOUT": "2.5",
            "RUNSTREAM_QUERY_VIEWS": "0",
        }
    )
    assert (s.clickhouse, s.database, s.topic, s.address) == (
        "http://ch:8123",
        "db",
        "t",
        "0.0.0.0:1",
    )
    assert s.auth_tokens == ("a", "b") and s.pool_size == 8 and s.wait_timeout_s == 2.5
    assert not s.create_views
    default = QuerySettings.from_env({})
    assert default.clickhouse.startswith("chdb:///") and default.database == "runstream"
    assert default.topic == "runstream.events" and default.address == "127.0.0.1:50051"


def test_cli_registers_query_with_env_backed_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNSTREAM_DATABASE", "from_env")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["query", "--address", "127.0.0.1:0"])
    assert args.database == "from_env" and args.address == "127.0.0.1:0"
    assert callable(args.func)


def test_public_names_resolve() -> None:
    for name in query.__all__:
        assert getattr(query, name) is not None
    with pytest.raises(AttributeError):
        _ = query.no_such_name  # type: ignore[attr-defined]


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, runstream.query, runstream.query.cli; "
        "print(any(m in sys.modules for m in ('grpc', 'clickhouse_connect', 'chdb')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_limits_from_environment() -> None:
    s = QuerySettings.from_env(
        {
            "RUNSTREAM_KAFKA": "k:9092",
            "RUNSTREAM_QUERY_MAX_WAIT": "5",
            "RUNSTREAM_QUERY_MAX_CALLS": "6",
            "RUNSTREAM_QUERY_MAX_WAITING": "3",
            "RUNSTREAM_QUERY_MAX_FILTER_CLAUSES": "7",
            "RUNSTREAM_QUERY_MAX_ORDER_KEYS": "2",
            "RUNSTREAM_QUERY_MAX_EXECUTION_TIME": "1.5",
            "RUNSTREAM_QUERY_MAX_MEMORY": "1000000",
            "RUNSTREAM_QUERY_MAX_QUERY_SIZE": "4096",
        }
    )
    assert (s.kafka, s.max_wait_s, s.max_calls, s.max_waiting) == ("k:9092", 5.0, 6, 3)
    assert (s.max_filter_clauses, s.max_order_keys) == (7, 2)
    assert s.limits() == {
        "max_execution_time": 1.5,
        "max_memory_usage": 1_000_000,
        "max_query_size": 4096,
    }
    default = QuerySettings.from_env({})
    assert default.kafka is None and default.max_wait_s == 30.0
    assert default.max_calls < default.workers  # threads stay free for other calls


def test_cli_passes_kafka_and_keeps_limits_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import runstream.query.grpc_server as grpc_server

    monkeypatch.setenv("RUNSTREAM_QUERY_MAX_FILTER_CLAUSES", "3")
    seen: list[QuerySettings] = []
    monkeypatch.setattr(grpc_server, "serve_query", seen.append)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["query", "--kafka", "b:1"])
    assert args.func(args) == 0
    assert seen[0].kafka == "b:1" and seen[0].max_filter_clauses == 3
