"""The embedded engine starts with runstream's memory settings, whichever adapter opens it
first (a real chDB, in a process of its own: one engine per process, started once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    first, dsn = sys.argv[1], sys.argv[2]
    from runstream.ingest.clickhouse_sink import ClickHouseStore as Sink
    from runstream.ingest.settings import ClickHouseTarget
    from runstream.query.clickhouse_store import ClickHouseStore as Store
    from runstream.query.sql_text import Sql

    def sink():
        return Sink(ClickHouseTarget(dsn, "runstream"))

    def store():
        return Store(dsn, "runstream", pool_size=1)

    if first == "ingest":
        opened = sink(); reader = store()
    else:
        reader = store(); opened = sink()
    settings = dict(reader.rows(Sql(
        "SELECT name, value FROM system.server_settings WHERE name IN ("
        "'mark_cache_size', 'index_mark_cache_size', 'primary_index_cache_size', "
        "'uncompressed_cache_size', 'max_server_memory_usage', 'background_pool_size')"
    )))
    stats = reader.rows(Sql("SELECT stats FROM system.jemalloc_stats"))[0][0]
    decay = [ln.strip() for ln in stats.splitlines() if ln.strip().startswith("opt.dirty_decay_ms")]
    narenas = [ln.strip() for ln in stats.splitlines() if ln.strip().startswith("opt.narenas")]
    print(json.dumps({"settings": settings, "decay": decay, "narenas": narenas}))
    """
)


def _engine(tmp_path: Path, first: str, env: dict[str, str]) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSTREAM_CHDB_", "JE_"))}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, first, f"chdb://{tmp_path / 'ch'}"],
        env={**clean, **env}, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("first", ["ingest", "query"])
def test_the_engine_takes_the_settings_from_either_adapter(tmp_path: Path, first: str) -> None:
    got = _engine(
        tmp_path,
        first,
        {
            "RUNSTREAM_CHDB_MARK_CACHE": "12345678",
            "RUNSTREAM_CHDB_INDEX_CACHE": "23456789",
            "RUNSTREAM_CHDB_MAX_MEMORY": "3000000000",
            "RUNSTREAM_CHDB_OPTIONS": "background_pool_size=3",
            "RUNSTREAM_CHDB_MALLOC_CONF": "dirty_decay_ms:250",
        },
    )
    assert got["settings"] == {
        "mark_cache_size": "12345678",
        "index_mark_cache_size": "12345678",
        "primary_index_cache_size": "23456789",
        "uncompressed_cache_size": "0",
        "max_server_memory_usage": "3000000000",
        "background_pool_size": "3",
    }
    assert got["decay"][0].startswith("opt.dirty_decay_ms: 250")


def test_defaults_one_arena_and_pages_returned_after_a_second(tmp_path: Path) -> None:
    got = _engine(tmp_path, "ingest", {})
    assert got["settings"]["mark_cache_size"] == str(64 << 20)
    assert got["decay"][0].startswith("opt.dirty_decay_ms: 1000")
    assert got["narenas"][0] == "opt.narenas: 1"
