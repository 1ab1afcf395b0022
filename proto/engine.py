"""Server-wide settings of the embedded ClickHouse engine (chDB), shared by every process
that opens a ``chdb:///DIR`` target: its memory limit, its caches and its allocator.

chDB runs one engine per process, started by the first connection; the options of that
connection are the engine's (later connections cannot change them).  So every adapter that
opens chDB passes the same :func:`chdb_options` (read from the environment with
:class:`~runstream.proto.settings.Env`) and calls :func:`prepare_allocator` first: chDB's
allocator (jemalloc) reads ``JE_MALLOC_CONF`` once, when chDB's library is loaded.

ClickHouse's own defaults size the caches for a server with the machine to itself (the
mark and primary-index caches up to 5 GiB each, the memory limit 90 % of RAM); the defaults
here size them for a process that shares a workstation.  A ClickHouse server (``http://``)
is configured on the server, not here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .settings import Env

ENV_MAX_MEMORY = "RUNSTREAM_CHDB_MAX_MEMORY"
ENV_MARK_CACHE = "RUNSTREAM_CHDB_MARK_CACHE"
ENV_INDEX_CACHE = "RUNSTREAM_CHDB_INDEX_CACHE"
ENV_UNCOMPRESSED_CACHE = "RUNSTREAM_CHDB_UNCOMPRESSED_CACHE"
ENV_MALLOC_CONF = "RUNSTREAM_CHDB_MALLOC_CONF"
ENV_OPTIONS = "RUNSTREAM_CHDB_OPTIONS"
MALLOC_ENV = "JE_MALLOC_CONF"  # the variable chDB's jemalloc reads (prefixed build)

MIB = 1024 * 1024
DEFAULT_MAX_MEMORY = 0  # 0: ClickHouse's own (90 % of RAM)
DEFAULT_MARK_CACHE = 64 * MIB
DEFAULT_INDEX_CACHE = 64 * MIB
DEFAULT_UNCOMPRESSED_CACHE = 0
# One arena instead of one per CPU, and freed pages returned to the system after 1 s
# instead of 5 s (ClickHouse's build: percpu_arena, dirty_decay_ms 5000).  Returning them
# at once (dirty_decay_ms 0) made the sampled-chart statement half as slow again: every
# query then faults its pages in anew (docs/benchmarks.md, section 5).
DEFAULT_MALLOC_CONF = "percpu_arena:disabled,narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class EngineSettings:
    max_memory: int = DEFAULT_MAX_MEMORY  # max_server_memory_usage, bytes; 0: ClickHouse's
    mark_cache: int = DEFAULT_MARK_CACHE  # mark_cache_size and index_mark_cache_size
    index_cache: int = DEFAULT_INDEX_CACHE  # primary_index_cache_size
    uncompressed_cache: int = DEFAULT_UNCOMPRESSED_CACHE  # uncompressed_cache_size
    malloc_conf: str = DEFAULT_MALLOC_CONF  # "" (set as "none"): chDB's allocator as built
    extra: tuple[tuple[str, str], ...] = ()  # RUNSTREAM_CHDB_OPTIONS: name=value pairs

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineSettings:
        e = Env(env)
        extra = []
        for item in e.items(ENV_OPTIONS):
            name, sep, value = item.partition("=")
            if not sep or not _NAME.match(name.strip()) or not value.strip():
                raise e.fail(ENV_OPTIONS, item, "expected name=value pairs, comma-separated")
            extra.append((name.strip(), value.strip()))
        return cls(
            max_memory=e.integer(ENV_MAX_MEMORY, DEFAULT_MAX_MEMORY, minimum=0),
            mark_cache=e.integer(ENV_MARK_CACHE, DEFAULT_MARK_CACHE, minimum=0),
            index_cache=e.integer(ENV_INDEX_CACHE, DEFAULT_INDEX_CACHE, minimum=0),
            uncompressed_cache=e.integer(
                ENV_UNCOMPRESSED_CACHE, DEFAULT_UNCOMPRESSED_CACHE, minimum=0
            ),
            malloc_conf=_malloc_conf(e.text(ENV_MALLOC_CONF, DEFAULT_MALLOC_CONF)),
            extra=tuple(extra),
        )

    def options(self) -> dict[str, str]:
        """The engine's start-up options (ClickHouse server settings by name)."""
        out = {
            "mark_cache_size": str(self.mark_cache),
            "index_mark_cache_size": str(self.mark_cache),
            "primary_index_cache_size": str(self.index_cache),
            "uncompressed_cache_size": str(self.uncompressed_cache),
        }
        if self.max_memory:
            out["max_server_memory_usage"] = str(self.max_memory)
        out.update(self.extra)
        return out


def _malloc_conf(text: str) -> str:
    return "" if text.lower() == "none" else text


def chdb_options(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The options every ``chdb:///`` connection of this process passes."""
    return EngineSettings.from_env(env).options()


def prepare_allocator(env: Mapping[str, str] | None = None) -> None:
    """Hand chDB's allocator its options before chDB's library is loaded (a no-op once it
    is, and when ``JE_MALLOC_CONF`` is already set: an explicit setting wins)."""
    conf = EngineSettings.from_env(env).malloc_conf
    if conf and MALLOC_ENV not in os.environ:
        os.environ[MALLOC_ENV] = conf
