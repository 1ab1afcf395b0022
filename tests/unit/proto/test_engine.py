"""The embedded engine's settings: read from the environment, refused by name when bad."""

from __future__ import annotations

import os

import pytest

from runstream.proto import engine
from runstream.proto.errors import SettingsError


def test_defaults_size_the_caches_for_a_shared_machine() -> None:
    options = engine.chdb_options({})
    assert options == {
        "mark_cache_size": str(64 * engine.MIB),
        "index_mark_cache_size": str(64 * engine.MIB),
        "primary_index_cache_size": str(64 * engine.MIB),
        "uncompressed_cache_size": "0",
    }  # no max_server_memory_usage: ClickHouse's own limit stays
    assert engine.EngineSettings.from_env({}).malloc_conf == engine.DEFAULT_MALLOC_CONF


def test_environment_sets_every_option() -> None:
    env = {
        "RUNSTREAM_CHDB_MAX_MEMORY": "1073741824",
        "RUNSTREAM_CHDB_MARK_CACHE": "1000",
        "RUNSTREAM_CHDB_INDEX_CACHE": "2000",
        "RUNSTREAM_CHDB_UNCOMPRESSED_CACHE": "3000",
        "RUNSTREAM_CHDB_OPTIONS": "background_pool_size=4, max_thread_pool_size=500",
        "RUNSTREAM_CHDB_MALLOC_CONF": "none",
    }
    assert engine.chdb_options(env) == {
        "mark_cache_size": "1000",
        "index_mark_cache_size": "1000",
        "primary_index_cache_size": "2000",
        "uncompressed_cache_size": "3000",
        "max_server_memory_usage": "1073741824",
        "background_pool_size": "4",
        "max_thread_pool_size": "500",
    }
    assert engine.EngineSettings.from_env(env).malloc_conf == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RUNSTREAM_CHDB_MAX_MEMORY", "-1"),
        ("RUNSTREAM_CHDB_MARK_CACHE", "64MB"),
        ("RUNSTREAM_CHDB_OPTIONS", "background_pool_size"),
        ("RUNSTREAM_CHDB_OPTIONS", "bad name=1"),
        ("RUNSTREAM_CHDB_OPTIONS", "x="),
    ],
)
def test_bad_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        engine.chdb_options({name: value})


def test_allocator_options_go_to_the_environment_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(engine.MALLOC_ENV, raising=False)
    engine.prepare_allocator({"RUNSTREAM_CHDB_MALLOC_CONF": "dirty_decay_ms:100"})
    assert os.environ[engine.MALLOC_ENV] == "dirty_decay_ms:100"
    engine.prepare_allocator({})  # an explicit JE_MALLOC_CONF wins
    assert os.environ[engine.MALLOC_ENV] == "dirty_decay_ms:100"
    monkeypatch.delenv(engine.MALLOC_ENV)
    engine.prepare_allocator({"RUNSTREAM_CHDB_MALLOC_CONF": "none"})
    assert engine.MALLOC_ENV not in os.environ
