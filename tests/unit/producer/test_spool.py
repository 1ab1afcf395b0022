"""The spool file format and its drain/adoption rules."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from runstream.producer.errors import BrokerUnavailableError, SpoolError
from runstream.producer.spool import MAGIC, RECORD_HEADER, Spool, read_segment

RECORDS = [(f"run{i % 3}".encode(), bytes([i % 256]) * (i * 7 % 300)) for i in range(50)]


def test_round_trip_in_order(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "p1")
    spool.append(RECORDS[:20])
    spool.append(RECORDS[20:])
    (segment,) = spool.segments()
    assert segment.read_bytes()[:8] == MAGIC == b"RSSPOOL1"
    assert [(k, v) for _, k, v in read_segment(segment)] == RECORDS
    spool.close()


def test_record_layout_is_lengths_crc_key_value(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "p1")
    spool.append([(b"key", b"value")])
    data = spool.segments()[0].read_bytes()[len(MAGIC) :]
    key_len, value_len, crc = struct.unpack("<III", data[:12])
    assert (key_len, value_len) == (3, 5)
    assert crc == zlib.crc32(b"value", zlib.crc32(b"key"))
    assert data[12:] == b"keyvalue"
    spool.close()


def test_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "p1")
    spool.append(RECORDS[:10])
    segment = spool.segments()[0]
    spool.close(remove_if_empty=False)
    data = segment.read_bytes()
    segment.write_bytes(data[:-3])  # a crash in the middle of the last record
    assert [(k, v) for _, k, v in read_segment(segment)] == RECORDS[:9]
    segment.write_bytes(data + RECORD_HEADER.pack(3, 3, 0) + b"abcdef")  # bad crc
    assert len(list(read_segment(segment))) == 10


def test_not_a_segment(tmp_path: Path) -> None:
    bad = tmp_path / "00000000000000000001.seg"
    bad.write_bytes(b"garbage!")
    with pytest.raises(SpoolError, match="bad magic"):
        list(read_segment(bad))


def test_segments_roll_and_drain_in_order(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "p1", segment_bytes=2000)
    for record in RECORDS:
        spool.append([record])
    assert len(spool.segments()) > 3
    sent: list[tuple[bytes, bytes]] = []
    assert spool.drain(sent.extend, batch_bytes=500) == len(RECORDS)
    assert sent == RECORDS
    assert not spool.pending
    spool.append(RECORDS[:2])  # appending after a drain opens a new segment
    assert len(spool.segments()) == 1
    spool.close(remove_if_empty=False)


def test_a_failed_drain_resumes_where_it_stopped(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "p1")
    spool.append(RECORDS)
    sent: list[tuple[bytes, bytes]] = []
    calls = 0

    def flaky(batch: list[tuple[bytes, bytes]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise BrokerUnavailableError("kafka://x", "down")
        sent.extend(batch)

    with pytest.raises(BrokerUnavailableError):
        spool.drain(flaky, batch_bytes=1000)
    partial = len(sent)
    assert 0 < partial < len(RECORDS)
    spool.drain(sent.extend, batch_bytes=1000)
    assert sent == RECORDS  # nothing twice, nothing skipped
    spool.close()


def test_only_folders_of_gone_processes_can_be_adopted(tmp_path: Path) -> None:
    live = Spool.create(tmp_path, "live")
    live.append(RECORDS[:1])
    assert Spool.adopt(live.folder) is None  # locked by its owner
    with pytest.raises(SpoolError, match="owned by another"):
        Spool.create(tmp_path, "live")
    live.close(remove_if_empty=False)  # the owner goes away, leaving events
    assert Spool.orphans(tmp_path) == [live.folder]
    adopted = Spool.adopt(live.folder)
    assert adopted is not None
    sent: list[tuple[bytes, bytes]] = []
    adopted.drain(sent.extend)
    adopted.close()
    assert sent == RECORDS[:1]
    assert not live.folder.exists()
    assert Spool.orphans(tmp_path) == []
