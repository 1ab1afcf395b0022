"""How a runstream process's C allocator (glibc malloc) hands memory back to the system.

Python, numpy, Arrow and kafka-python allocate through glibc's malloc.  Its defaults suit
short programs, not a server that builds a large batch every second from many threads:
each thread may get an arena of its own (up to 8 per core), and after the first large
block is freed the threshold above which blocks are mapped alone (and unmapped when freed)
rises up to 32 MiB, so the next batches' arrays come from the heap and stay there.
:func:`tune_malloc` sets, at start, the values glibc would take from ``MALLOC_ARENA_MAX``,
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` (read here from runstream's own
variables; 0 keeps glibc's behaviour).  Not glibc (another libc, another system): nothing
happens.  chDB's engine has an allocator of its own (``proto.engine``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from .settings import Env

logger = logging.getLogger(__name__)

ENV_ARENA_MAX = "RUNSTREAM_MALLOC_ARENA_MAX"
ENV_MMAP_THRESHOLD = "RUNSTREAM_MALLOC_MMAP_THRESHOLD"
ENV_TRIM_THRESHOLD = "RUNSTREAM_MALLOC_TRIM_THRESHOLD"
DEFAULT_ARENA_MAX = 2
DEFAULT_MMAP_THRESHOLD = 128 * 1024  # glibc's starting value, kept fixed
DEFAULT_TRIM_THRESHOLD = 128 * 1024

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


@dataclass(frozen=True)
class MallocSettings:
    arena_max: int = DEFAULT_ARENA_MAX  # 0: glibc's (8 per core)
    mmap_threshold: int = DEFAULT_MMAP_THRESHOLD  # bytes; 0: glibc's (rising to 32 MiB)
    trim_threshold: int = DEFAULT_TRIM_THRESHOLD  # bytes; 0: glibc's

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MallocSettings:
        e = Env(env)
        return cls(
            arena_max=e.integer(ENV_ARENA_MAX, DEFAULT_ARENA_MAX, minimum=0),
            mmap_threshold=e.integer(
                ENV_MMAP_THRESHOLD, DEFAULT_MMAP_THRESHOLD, minimum=0, maximum=32 << 20
            ),
            trim_threshold=e.integer(
                ENV_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD, minimum=0, maximum=2**31 - 1
            ),
        )

    def mallopt_calls(self) -> list[tuple[int, int]]:
        """(parameter, value) for each setting that is not left to glibc."""
        calls = [
            (_M_ARENA_MAX, self.arena_max),
            (_M_MMAP_THRESHOLD, self.mmap_threshold),
            (_M_TRIM_THRESHOLD, self.trim_threshold),
        ]
        return [(param, value) for param, value in calls if value > 0]


def tune_malloc(env: Mapping[str, str] | None = None) -> bool:
    """Apply :class:`MallocSettings` with glibc's ``mallopt``; False when there is no
    glibc (or it refused a value, which is logged)."""
    settings = MallocSettings.from_env(env)  # bad values fail here, on every system
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = True
    for param, value in settings.mallopt_calls():
        if mallopt(param, value) != 1:
            logger.warning("the C allocator refused mallopt(%d, %d)", param, value)
            ok = False
    return ok
