"""Issue 11, item 6: the spool on a real, small, full filesystem (a tmpfs mounted here).

Before: a segment begun on a full disk stayed behind empty, and every later drain failed
with "... is not a spool segment (bad magic)"; a failed append left a torn record that
hid the records appended after it.  Now: what the spool accepted (append returned) is
drained exactly, in order, once space is back; what it refused raised SpoolError."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runstream.producer.errors import SpoolError
from runstream.producer.spool import MAGIC, Spool

pytestmark = pytest.mark.faults  # the fault suite (CI runs it as its own step)
Record = tuple[bytes, bytes]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (needs root: skipped with the reason otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    """Fill the filesystem with one file, to the last byte it takes."""
    with open(path, "wb", buffering=0) as fh:
        chunk = b"\0" * 4096
        for _ in range(1024):  # 4 MiB at most: far more than the disk
            try:
                fh.write(chunk)
            except OSError:
                break
        for _ in range(4096):
            try:
                fh.write(b"\0")
            except OSError:
                return


def test_a_full_disk_leaves_nothing_that_breaks_the_drain(small_disk: Path) -> None:
    spool = Spool.create(small_disk / "spool", "p1", segment_bytes=8 * 1024)
    filler = small_disk / "filler"
    _fill(filler)
    os.truncate(filler, os.path.getsize(filler) - 40 * 1024)  # 40 KiB left
    accepted: list[Record] = []
    refused = 0
    for i in range(400):  # far past full: appends within a segment and segment rolls fail
        record = (f"run{i % 3}".encode(), f"{i}:".encode() + bytes([i % 251]) * 700)
        try:
            spool.append([record])
        except SpoolError as exc:
            assert "No space left" in str(exc)
            refused += 1
        else:
            accepted.append(record)
    assert accepted and refused > 100  # the disk did fill
    filler.unlink()  # space is back
    for i in range(400, 420):
        record = (b"run0", f"{i}:after".encode())
        spool.append([record])
        accepted.append(record)
    leftovers = [p for p in spool.folder.iterdir() if p.suffix == ".seg"]
    for segment in leftovers:
        assert segment.read_bytes()[: len(MAGIC)] == MAGIC  # nothing passes for a segment
    drained: list[Record] = []
    assert spool.drain(drained.extend) == len(accepted)
    assert drained == accepted  # exactly what was accepted, in order
    assert not spool.pending
    spool.close()


def test_a_drain_skips_an_empty_leftover_from_an_older_version(small_disk: Path) -> None:
    spool = Spool.create(small_disk / "spool", "p1")
    spool.append([(b"k", b"v1")])
    spool.close(remove_if_empty=False)
    folder = small_disk / "spool" / "p1"
    (folder / "00000000000000000002.seg").write_bytes(b"")  # what a full disk left
    (folder / "00000000000000000003.seg").write_bytes(MAGIC[:3])
    (folder / "00000000000000000004.seg.new").write_bytes(b"RSS")
    again = Spool.create(small_disk / "spool", "p1")
    again.append([(b"k", b"v2")])
    drained: list[Record] = []
    again.drain(drained.extend)
    assert drained == [(b"k", b"v1"), (b"k", b"v2")]
    assert sorted(p.name for p in folder.iterdir()) == ["lock"]
    again.close()
