"""The on-disk spool: encoded events that could not be published, kept in order until the
broker is back (also across a process restart).

Layout, under the configured spool directory::

    <spool_dir>/<producer_id>/lock                 flock'ed while a process owns the folder
    <spool_dir>/<producer_id>/00000000000000000001.seg   segments, appended in order
    <spool_dir>/<producer_id>/00000000000000000001.done  drain cursor (byte offset), optional

A segment starts with the 8-byte magic ``RSSPOOL1``; then records, each
``<u32 key length><u32 value length><u32 CRC-32 of key+value>`` (little-endian) followed by
the key (the Kafka key) and the value (the Avro single-object encoded event).  Appends are
fsync'd.  A torn record at the end of a segment (a crash mid-write) ends the segment.

A full disk never leaves a file that passes for a segment: a new segment is written under
a temporary name (``….seg.new``), its magic fsync'd, then renamed; an append that fails
is cut back to the segment's last whole record and the next append starts a new segment.
A drain skips (with a warning) and removes what is not a whole segment: an empty or
partial-magic ``.seg`` left by an older version, or a ``.seg.new`` left by a crash.

Each producer writes its own folder; folders whose lock is free belong to a process that
is gone, and any producer with the same spool directory adopts and drains them.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from .errors import SpoolError

logger = logging.getLogger(__name__)

MAGIC = b"RSSPOOL1"
RECORD_HEADER = struct.Struct("<III")
SEGMENT_SUFFIX = ".seg"
NEW_SUFFIX = ".new"  # a segment being created: never read, removed by the next drain
CURSOR_SUFFIX = ".done"
LOCK_NAME = "lock"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
DRAIN_BATCH_BYTES = 8 * 1024 * 1024

Record = tuple[bytes, bytes]


def encode_records(records: Sequence[Record]) -> bytes:
    parts: list[bytes] = []
    for key, value in records:
        parts.append(RECORD_HEADER.pack(len(key), len(value), zlib.crc32(value, zlib.crc32(key))))
        parts.append(key)
        parts.append(value)
    return b"".join(parts)


def read_segment(path: Path, start: int = 0) -> Iterator[tuple[int, bytes, bytes]]:
    """(offset after the record, key, value) for each whole record from byte ``start``."""
    with open(path, "rb") as fh:
        magic = fh.read(len(MAGIC))
        if magic != MAGIC:
            if MAGIC.startswith(magic):  # empty or cut short: a segment never begun
                logger.warning("spool %s: an empty or partial segment skipped", path)
                return
            raise SpoolError(f"{path} is not a spool segment (bad magic)")
        offset = max(start, len(MAGIC))
        fh.seek(offset)
        while True:
            header = fh.read(RECORD_HEADER.size)
            if len(header) < RECORD_HEADER.size:
                if header:
                    logger.warning("spool %s: torn record at byte %d ignored", path, offset)
                return
            key_len, value_len, crc = RECORD_HEADER.unpack(header)
            body = fh.read(key_len + value_len)
            key, value = body[:key_len], body[key_len:]
            if len(body) < key_len + value_len or zlib.crc32(value, zlib.crc32(key)) != crc:
                logger.warning("spool %s: torn or corrupt record at byte %d ignored", path, offset)
                return
            offset += RECORD_HEADER.size + key_len + value_len
            yield offset, key, value


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """One owned spool folder.  Not thread-safe: the sender thread alone uses it."""

    def __init__(self, folder: Path, lock: IO[bytes], segment_bytes: int) -> None:
        self.folder = folder
        self._lock = lock
        self._segment_bytes = segment_bytes
        self._writer: IO[bytes] | None = None
        self._writer_path: Path | None = None
        self.records_written = 0

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str],
        producer_id: str,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> Spool:
        folder = Path(root) / producer_id
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create spool folder {folder}: {exc}") from exc
        spool = cls.adopt(folder, segment_bytes)
        if spool is None:
            raise SpoolError(f"spool folder {folder} is owned by another process")
        return spool

    @classmethod
    def adopt(cls, folder: Path, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> Spool | None:
        """Own ``folder`` if no live process does (None otherwise)."""
        try:
            lock = open(folder / LOCK_NAME, "ab")  # noqa: SIM115 - held for the spool's life
        except OSError:
            return None
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            return None
        if not folder.exists():  # removed by its drainer between open and lock
            lock.close()
            return None
        return cls(folder, lock, segment_bytes)

    @staticmethod
    def orphans(root: str | os.PathLike[str], own: Path | None = None) -> list[Path]:
        """Folders under ``root`` that hold segments (owned or not: adopt() decides)."""
        base = Path(root)
        if not base.is_dir():
            return []
        found = []
        for folder in sorted(p for p in base.iterdir() if p.is_dir()):
            if own is not None and folder == own:
                continue
            if any(folder.glob("*" + SEGMENT_SUFFIX)):
                found.append(folder)
        return found

    # -- writing --------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob("*" + SEGMENT_SUFFIX))

    def _next_segment(self) -> Path:
        existing = self.segments()
        number = int(existing[-1].stem) + 1 if existing else 1
        return self.folder / f"{number:020d}{SEGMENT_SUFFIX}"

    def append(self, records: Sequence[Record]) -> None:
        """Append in order and fsync; returns once the records are on disk."""
        if not records:
            return
        data = encode_records(records)
        try:
            if self._writer is None or self._writer.tell() + len(data) > self._segment_bytes:
                self._roll()
        except OSError as exc:
            raise SpoolError(f"cannot write spool folder {self.folder}: {exc}") from exc
        assert self._writer is not None
        whole = self._writer.tell()
        try:
            view = memoryview(data)
            while view:  # unbuffered: a short write on a full disk writes the rest next
                view = view[self._writer.write(view) or 0 :]
            os.fsync(self._writer.fileno())
        except OSError as exc:
            self._cut_back(whole)
            raise SpoolError(f"cannot write spool folder {self.folder}: {exc}") from exc
        self.records_written += len(records)

    def _cut_back(self, whole: int) -> None:
        """After a failed append: drop what of it reached the file, so the segment ends
        with its last whole record; the next append starts a new segment."""
        writer = self._writer
        self._writer, self._writer_path = None, None
        if writer is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(writer.fileno(), whole)
            with contextlib.suppress(OSError):
                writer.close()

    def _roll(self) -> None:
        """Start a new segment: magic under a temporary name, fsync'd, then renamed, so a
        full disk leaves no ``.seg`` that is not a segment."""
        self._close_writer()
        path = self._next_segment()
        new = path.with_name(path.name + NEW_SUFFIX)
        try:
            with open(new, "wb") as fh:
                fh.write(MAGIC)
                fh.flush()
                os.fsync(fh.fileno())
            os.rename(new, path)
        except OSError:
            new.unlink(missing_ok=True)
            raise
        _fsync_dir(self.folder)
        self._writer = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open across appends
        self._writer_path = path

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer, self._writer_path = None, None

    # -- draining -------------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        return bool(self.segments())

    def _cursor(self, segment: Path) -> int:
        try:
            return int((segment.with_suffix(CURSOR_SUFFIX)).read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _save_cursor(self, segment: Path, offset: int) -> None:
        cursor = segment.with_suffix(CURSOR_SUFFIX)
        tmp = cursor.with_suffix(".tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, cursor)

    def drain(
        self, publish: Callable[[list[Record]], object], batch_bytes: int = DRAIN_BATCH_BYTES
    ) -> int:
        """Publish every spooled record in order; each batch's progress is saved once
        ``publish`` returns.  An exception from ``publish`` stops the drain (the rest
        stays on disk).  Returns the number of records published."""
        sent = 0
        for leftover in self.folder.glob("*" + SEGMENT_SUFFIX + NEW_SUFFIX):
            logger.warning("spool %s: a segment never completed (disk full?) removed", leftover)
            leftover.unlink(missing_ok=True)
        for segment in self.segments():
            if segment == self._writer_path:
                self._close_writer()  # new appends go to a new segment
            batch: list[Record] = []
            size = 0
            offset = self._cursor(segment)
            for end, key, value in read_segment(segment, offset):
                batch.append((key, value))
                size += len(key) + len(value)
                if size >= batch_bytes:
                    publish(batch)
                    sent += len(batch)
                    self._save_cursor(segment, end)
                    batch, size = [], 0
            if batch:
                publish(batch)
                sent += len(batch)
            segment.unlink()
            segment.with_suffix(CURSOR_SUFFIX).unlink(missing_ok=True)
        return sent

    def close(self, remove_if_empty: bool = True) -> None:
        self._close_writer()
        if remove_if_empty and not self.pending:
            shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
        self._lock.close()
