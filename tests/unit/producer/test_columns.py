"""Batching points into columnar events: grouping per run, key tables, size limits."""

from __future__ import annotations

import numpy as np

from runstream.producer.columns import (
    POINT_BYTES,
    Chunk,
    merge_run_chunks,
    rows_to_chunks,
    split_events,
)
from runstream.proto.codec import EventCodec
from runstream.proto.events import RunEvent


def _chunk(run: str, keys: tuple[str, ...], index: list[int], start: int = 0) -> Chunk:
    n = len(index)
    return Chunk(
        run,
        keys,
        np.array(index, np.uint16),
        np.arange(start, start + n, dtype=float),
        np.arange(start, start + n),
        np.full(n, 7, np.int64),
    )


def test_rows_group_per_run_keeping_order() -> None:
    rows = [
        ("r1", "a", 1.0, 0, 10),
        ("r2", "b", 2.0, 0, 10),
        ("r1", "b", 3.0, 1, 11),
        ("r1", "a", 4.0, 2, 12),
    ]
    chunks = rows_to_chunks(rows)
    assert [c.run_id for c in chunks] == ["r1", "r2"]
    r1 = chunks[0]
    assert r1.keys == ("a", "b")
    assert r1.key_index.tolist() == [0, 1, 0]
    assert r1.values.tolist() == [1.0, 3.0, 4.0]
    assert r1.steps.tolist() == [0, 1, 2]
    assert r1.timestamps.tolist() == [10, 11, 12]


def test_merge_unifies_key_tables() -> None:
    merged = merge_run_chunks([_chunk("r", ("a", "b"), [0, 1]), _chunk("r", ("b", "c"), [1, 0], 2)])
    assert len(merged) == 1
    chunk = merged[0]
    assert chunk.keys == ("a", "b", "c")
    assert [chunk.keys[i] for i in chunk.key_index] == ["a", "b", "c", "b"]
    assert chunk.values.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_split_keeps_every_event_under_the_size_limit() -> None:
    n = 100_000
    chunk = Chunk(
        "r" * 32,
        ("loss", "acc"),
        np.arange(n, dtype=np.uint16) % 2,
        np.random.rand(n),
        np.arange(n),
        np.full(n, 1_700_000_000_000),
    )
    limit = 200_000
    payloads = split_events(chunk, limit)
    assert sum(len(p) for p in payloads) == n
    assert len(payloads) == -(-n * POINT_BYTES // (limit - 1024))
    codec = EventCodec()
    sizes = [
        len(codec.encode(RunEvent("e" * 32, "r" * 32, "1" * 19, "p" * 32, 1 << 40, 1, p)))
        for p in payloads
    ]
    assert max(sizes) <= limit
    steps = np.concatenate([p.steps for p in payloads])
    assert steps.tolist() == list(range(n))


def test_split_drops_keys_a_slice_does_not_use() -> None:
    chunk = _chunk("r", ("a", "b", "c"), [0] * 10 + [2] * 10)
    (payload,) = split_events(chunk, 4096)
    assert payload.keys == ("a", "c")
    assert payload.key_column() == ["a"] * 10 + ["c"] * 10
    parts = split_events(chunk, 512 + 10 * 26 + 8)
    assert len(parts) > 1
    assert parts[0].keys == ("a",) and parts[-1].keys == ("c",)
    for part in parts:  # every key listed is used
        assert set(part.key_column()) == set(part.keys)


def test_split_shrinks_slices_when_keys_are_long() -> None:
    keys = tuple(f"{i:03d}" + "k" * 240 for i in range(600))
    chunk = _chunk("r", keys, list(range(600)))
    payloads = split_events(chunk, 20_000)
    assert sum(len(p) for p in payloads) == 600
    for p in payloads:
        assert len(p) * POINT_BYTES + sum(len(k) + 3 for k in p.keys) <= 20_000
