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
