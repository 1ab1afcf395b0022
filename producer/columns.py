"""Columnar batching: buffered points of one run become ``MetricsLogged`` events.

Scalar points arrive as row tuples ``(run_id, key, value, step, timestamp)``; columnar
points arrive as :class:`Chunk` objects.  Both are grouped per run, concatenated and split
into events of at most ``max_event_bytes`` (packed: 26 bytes per point plus the keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from runstream.proto.contexts import Context
from runstream.proto.events import MAX_KEYS_PER_METRICS_EVENT, MetricsLogged

POINT_BYTES = 2 + 8 + 8 + 8  # key index, value, step, timestamp
EVENT_OVERHEAD_BYTES = 512  # header ids, lengths, Avro framing (generous)

Row = tuple[str, str, float, int, int]


@dataclass(slots=True, eq=False)
class Chunk:
    """Points of one run under one context, in columns; ``key_index[i]`` indexes ``keys``."""

    run_id: str
    keys: tuple[str, ...]
    key_index: npt.NDArray[np.uint16]
    values: npt.NDArray[np.float64]
    steps: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    context: Context = ()

    def __len__(self) -> int:
        return int(self.values.shape[0])


def rows_chunk(
    run_id: str,
    keys: Sequence[str],
    values: Sequence[float],
    steps: Sequence[int],
    timestamps: Sequence[int],
    context: Context = (),
) -> list[Chunk]:
    """Columns from per-point lists of one run (split if over 65,535 distinct keys)."""
    distinct = list(dict.fromkeys(keys))
    if len(distinct) > MAX_KEYS_PER_METRICS_EVENT:
        half = len(keys) // 2
        return rows_chunk(
            run_id, keys[:half], values[:half], steps[:half], timestamps[:half], context
        ) + rows_chunk(run_id, keys[half:], values[half:], steps[half:], timestamps[half:], context)
    if len(distinct) == 1:
        index = np.zeros(len(keys), dtype=np.uint16)
    else:
        lookup = {k: i for i, k in enumerate(distinct)}
        index = np.fromiter(map(lookup.__getitem__, keys), dtype=np.uint16, count=len(keys))
    return [
        Chunk(
            run_id,
            tuple(distinct),
            index,
            np.array(values, dtype=np.float64),
            np.array(steps, dtype=np.int64),
            np.array(timestamps, dtype=np.int64),
            context,
        )
    ]


def rows_to_chunks(rows: Sequence[Row]) -> list[Chunk]:
    """Group row tuples ``(run_id, key, value, step, timestamp)`` by run (runs in order of
    first appearance; point order kept)."""
    by_run: dict[str, list[Row]] = {}
    for row in rows:
        by_run.setdefault(row[0], []).append(row)
    chunks = []
    for run_id, part in by_run.items():
        _, keys, values, steps, stamps = zip(*part, strict=True)
        chunks += rows_chunk(run_id, keys, values, steps, stamps)
    return chunks


def merge_chunks(chunks: Sequence[Chunk]) -> Chunk:
    """One chunk from several of the same run and context, keys unified (order of points
    kept)."""
    if len(chunks) == 1:
        return chunks[0]
    first = chunks[0]
    if all(c.keys == first.keys for c in chunks):  # the common case: no remapping
        return Chunk(
            first.run_id,
            first.keys,
            np.concatenate([c.key_index for c in chunks]),
            np.concatenate([c.values for c in chunks]),
            np.concatenate([c.steps for c in chunks]),
            np.concatenate([c.timestamps for c in chunks]),
            first.context,
        )
    index: dict[str, int] = {}
    remapped = []
    for chunk in chunks:
        lookup = np.array([index.setdefault(k, len(index)) for k in chunk.keys], dtype=np.int64)
        remapped.append(lookup[chunk.key_index] if len(chunk) else chunk.key_index)
    if len(index) > MAX_KEYS_PER_METRICS_EVENT:
        raise ValueError("more distinct keys than one chunk can index")  # callers pre-split
    return Chunk(
        chunks[0].run_id,
        tuple(index),
        np.concatenate(remapped).astype(np.uint16),
        np.concatenate([c.values for c in chunks]),
        np.concatenate([c.steps for c in chunks]),
        np.concatenate([c.timestamps for c in chunks]),
        first.context,
    )


def merge_run_chunks(chunks: Sequence[Chunk]) -> list[Chunk]:
    """Merge consecutive chunks while their key tables together fit uint16."""
    merged: list[Chunk] = []
    group: list[Chunk] = []
    keys: set[str] = set()
    for chunk in chunks:
        if group and len(keys | set(chunk.keys)) > MAX_KEYS_PER_METRICS_EVENT:
            merged.append(merge_chunks(group))
            group, keys = [], set()
        group.append(chunk)
        keys |= set(chunk.keys)
    if group:
        merged.append(merge_chunks(group))
    return merged


def _used_keys(
    keys: tuple[str, ...], key_index: npt.NDArray[np.uint16]
) -> tuple[tuple[str, ...], npt.NDArray[np.uint16]]:
    """Only the keys a slice uses, and its index remapped onto them."""
    if len(keys) <= 1:
        return keys, key_index
    counts = np.bincount(key_index, minlength=len(keys))
    used = np.flatnonzero(counts)
    if used.shape[0] == len(keys):
        return keys, key_index
    remap = np.zeros(len(keys), dtype=np.uint16)
    remap[used] = np.arange(used.shape[0], dtype=np.uint16)
    return tuple(keys[i] for i in used), remap[key_index]


def _keys_bytes(keys: Sequence[str]) -> int:
    return sum(len(k.encode("utf-8")) + 3 for k in keys)


def split_events(chunk: Chunk, max_event_bytes: int) -> list[MetricsLogged]:
    """``MetricsLogged`` payloads of at most ``max_event_bytes`` each (estimated)."""
    n = len(chunk)
    budget = max_event_bytes - EVENT_OVERHEAD_BYTES
    all_keys = _keys_bytes(chunk.keys)
    base = max(1, (budget - min(all_keys, budget // 2)) // POINT_BYTES)
    payloads: list[MetricsLogged] = []
    start = 0
    while start < n:
        size = min(n - start, base)
        while True:
            stop = start + size
            keys, key_index = _used_keys(chunk.keys, chunk.key_index[start:stop])
            estimate = size * POINT_BYTES + (all_keys if keys is chunk.keys else _keys_bytes(keys))
            if estimate <= budget or size == 1:
                break
            size = max(1, size // 2)
        payloads.append(
            MetricsLogged(
                keys,
                key_index,
                chunk.values[start:stop],
                chunk.steps[start:stop],
                chunk.timestamps[start:stop],
                (chunk.context,) if chunk.context else (),
            )
        )
        start = stop
    return payloads
