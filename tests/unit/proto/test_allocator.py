"""The C allocator's settings: read from the environment, applied with glibc's mallopt."""

from __future__ import annotations

import subprocess
import sys

import pytest

from runstream.proto import allocator
from runstream.proto.errors import SettingsError


def test_defaults_and_environment() -> None:
    assert allocator.MallocSettings.from_env({}).mallopt_calls() == [
        (-8, 2),  # M_ARENA_MAX
        (-3, 128 * 1024),  # M_MMAP_THRESHOLD
        (-1, 128 * 1024),  # M_TRIM_THRESHOLD
    ]
    left_to_glibc = {
        "RUNSTREAM_MALLOC_ARENA_MAX": "0",
        "RUNSTREAM_MALLOC_MMAP_THRESHOLD": "0",
        "RUNSTREAM_MALLOC_TRIM_THRESHOLD": "1048576",
    }
    assert allocator.MallocSettings.from_env(left_to_glibc).mallopt_calls() == [(-1, 1 << 20)]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RUNSTREAM_MALLOC_ARENA_MAX", "-1"),
        ("RUNSTREAM_MALLOC_MMAP_THRESHOLD", "64GB"),
        ("RUNSTREAM_MALLOC_MMAP_THRESHOLD", str(64 << 20)),  # glibc's ceiling is 32 MiB
    ],
)
def test_bad_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        allocator.tune_malloc({name: value})


def test_glibc_takes_the_settings() -> None:
    # in a process of its own (the setting is process-wide); this machine's Python runs on
    # glibc, whose mallopt answers 1 for every value it took
    code = "from runstream.proto.allocator import tune_malloc; print(tune_malloc({}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
