"""The per-batch metric summary: equal to a brute-force one, and independent of batching."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from runstream.ingest.metric_columns import summarise

_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, 1.0, -1.0, float("nan"), float("inf")]),
)
_points = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(0, 3), _values),
    min_size=1,
    max_size=60,
)


def _key(v: float) -> tuple[int, float]:
    return (1, 0.0) if math.isnan(v) else (0, v)


def brute(points: list[tuple[int, int, int, float]]) -> dict[int, tuple]:
    out = {}
    for g in sorted({p[0] for p in points}):
        mine = [p for p in points if p[0] == g]
        latest = max(mine, key=lambda p: (p[1], p[2], _key(p[3])))
        finite = [p[3] for p in mine if not math.isnan(p[3])]
        lo = min(finite) if finite else math.nan
        hi = max(finite) if finite else math.nan
        out[g] = ((latest[1], latest[2], latest[3]), lo, hi, len(mine))
    return out


def from_summary(points: list[tuple[int, int, int, float]]) -> dict[int, tuple]:
    arr = np.asarray([p[:3] for p in points], dtype=np.int64)
    vals = np.asarray([p[3] for p in points], dtype=np.float64)
    s = summarise(arr[:, 0], vals, arr[:, 1], arr[:, 2])
    return {
        int(g): ((int(a), int(b), float(c)), float(lo), float(hi), int(n))
        for g, a, b, c, lo, hi, n in zip(
            s.groups, s.latest_step, s.latest_timestamp, s.latest_value, s.min_value,
            s.max_value, s.count,
            strict=True,
        )
    }  # fmt: skip


def merge(parts: list[dict[int, tuple]]) -> dict[int, tuple]:
    """What ClickHouse does when summary rows of many batches merge (max, min, max, sum)."""
    out: dict[int, tuple] = {}
    for part in parts:
        for g, (latest, lo, hi, n) in part.items():
            if g not in out:
                out[g] = (latest, lo, hi, n)
                continue
            l0, lo0, hi0, n0 = out[g]
            best = max(l0, latest, key=lambda t: (t[0], t[1], _key(t[2])))
            out[g] = (best, _fmin(lo0, lo), _fmax(hi0, hi), n0 + n)
    return out


def _fmin(a: float, b: float) -> float:
    return float(np.fmin(a, b))


def _fmax(a: float, b: float) -> float:
    return float(np.fmax(a, b))


def same(a: dict[int, tuple], b: dict[int, tuple]) -> bool:
    return repr(sorted(a.items())) == repr(sorted(b.items()))  # repr: NaN equals NaN


@settings(max_examples=200, deadline=None, database=None)
@given(_points)
def test_summary_equals_brute_force(points: list[tuple[int, int, int, float]]) -> None:
    assert same(from_summary(points), brute(points))


@settings(max_examples=200, deadline=None, database=None)
@given(_points, st.integers(1, 59))
def test_summary_does_not_depend_on_batch_boundaries(
    points: list[tuple[int, int, int, float]], cut: int
) -> None:
    cut = min(cut, len(points))
    parts = [from_summary(points[:cut])] + ([from_summary(points[cut:])] if points[cut:] else [])
    assert same(merge(parts), brute(points))
