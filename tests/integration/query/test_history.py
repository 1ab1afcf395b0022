"""Metric history against real chDB: full pages, M4 charts checked against a reference,
many runs at once, ranges and the timestamp axis."""

from __future__ import annotations

import math
import random

import pytest

from runstream.query import InvalidRequestError, NotFoundError, QueryService, SeriesRequest, XAxis
from runstream.query.entities import SeriesColumns
from tests.integration.query.rows import Writer


def _series(n: int, seed: int) -> list[tuple[str, float, int, int]]:
    rng = random.Random(seed)
    pts = [("curve", math.sin(s / 50) + rng.gauss(0, 0.05), s, 10 * s + 7) for s in range(n)]
    for i, s in enumerate(rng.sample(range(n), min(n, 6))):  # spikes, up and down
        pts[s] = ("curve", 40.0 * (-1) ** i, s, 10 * s + 7)
    return pts


def m4_reference(
    points: list[tuple[int, int, float]], max_points: int, x: int = 0
) -> list[tuple[int, int, float]]:
    """First, last, min and max point per equal-width x bucket (points have distinct x)."""
    if len(points) <= max_points:
        return sorted(points, key=lambda p: (p[x], p[1 - x]))
    buckets = max(1, max_points // 4)
    lo, hi = min(p[x] for p in points), max(p[x] for p in points)
    width = max(1, math.ceil((hi - lo + 1) / buckets))
    grouped: dict[int, list[tuple[int, int, float]]] = {}
    for p in points:
        grouped.setdefault((p[x] - lo) // width, []).append(p)
    out: set[tuple[int, int, float]] = set()
    for pts in grouped.values():
        out |= {
            min(pts, key=lambda p: p[x]),
            max(pts, key=lambda p: p[x]),
            min(pts, key=lambda p: p[2]),
            max(pts, key=lambda p: p[2]),
        }
    return sorted(out, key=lambda p: (p[x], p[1 - x]))


def test_full_history_pages(service: QueryService, writer: Writer) -> None:
    writer.run("r", "e", start_time=1)
    pts = [("loss", float(s % 97), s // 3, 1000 + s) for s in range(25_000)]
    writer.metrics("e", "r", pts[:12_000])
    writer.metrics("e", "r", pts[6_000:])  # overlapping replay: identical points collapse
    writer.metrics(
        "e", "r", [("loss", float("nan"), 9_999_999, 1), ("loss", float("inf"), 9_999_999, 2)]
    )
    got, token, pages = [], "", 0
    while True:
        page = service.metric_history("r", "loss", 10_000, token)
        got += [(m.step, m.timestamp, m.value) for m in page.items]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    expected = sorted((s, t, v) for _, v, s, t in pts)
    assert pages == 3
    assert got[:-2] == expected
    assert math.isnan(got[-2][2]) and got[-1][2] == float("inf")
    with pytest.raises(NotFoundError):
        service.metric_history("missing", "loss")


def _points(c: SeriesColumns) -> list[tuple[int, int, float]]:
    return list(zip(c.steps.tolist(), c.timestamps.tolist(), c.values.tolist(), strict=True))


def test_full_history_as_columns_matches_the_pages(service: QueryService, writer: Writer) -> None:
    writer.run("r", "e", start_time=1)
    pts = [("loss", float(s % 89) - 40.5, s // 2, 5000 + s) for s in range(23_000)]
    writer.metrics("e", "r", pts[:15_000])
    writer.metrics("e", "r", pts[9_000:])  # overlapping replay: identical points collapse
    writer.metrics("e", "r", [("loss", float("nan"), 9_999_999, 1)])
    whole = service.metric_history_columns("r", "loss")
    assert whole.next_page_token == "" and whole.steps.dtype.name == "int64"
    got = _points(whole)
    expected = sorted((s, t, v) for _, v, s, t in pts)
    assert got[:-1] == expected and math.isnan(got[-1][2]) and len(got) == 23_001
    # pages of 10,000, alternating with the per-point reader on one token chain
    paged, token, turn = [], "", 0
    while True:
        if turn % 2 == 0:
            cols = service.metric_history_columns("r", "loss", 10_000, token)
            paged += _points(cols)
            token = cols.next_page_token
        else:
            page = service.metric_history("r", "loss", 10_000, token)
            paged += [(m.step, m.timestamp, m.value) for m in page.items]
            token = page.next_page_token
        turn += 1
        if not token:
            break
    assert turn == 3 and paged[:-1] == expected and math.isnan(paged[-1][2])
    empty = service.metric_history_columns("r", "no-such-key")
    assert len(empty.steps) == len(empty.values) == 0 and empty.next_page_token == ""
    with pytest.raises(NotFoundError):
        service.metric_history_columns("missing", "loss")
    with pytest.raises(InvalidRequestError):
        service.metric_history_columns("r", "loss", 100_001)


@pytest.mark.parametrize("max_points", [4, 100, 1000])
def test_m4_matches_the_reference_and_keeps_spikes(
    service: QueryService, writer: Writer, max_points: int
) -> None:
    writer.run("r", "e", start_time=1)
    pts = _series(20_000, seed=max_points)
    writer.metrics("e", "r", pts)
    (series,) = service.sampled_history(["r"], SeriesRequest("curve", max_points))
    got = list(zip(series.steps, series.timestamps, series.values, strict=True))
    reference = m4_reference([(s, t, v) for _, v, s, t in pts], max_points)
    assert got == reference
    assert series.sampled and series.total_points == 20_000 and len(got) <= max_points
    assert max(series.values) == 40.0 and min(series.values) == -40.0


def test_m4_on_the_timestamp_axis_with_a_range(service: QueryService, writer: Writer) -> None:
    writer.run("r", "e", start_time=1)
    pts = _series(5_000, seed=3)
    writer.metrics("e", "r", pts)
    req = SeriesRequest("curve", 200, XAxis.TIMESTAMP, start=10_007, end=40_007)
    (series,) = service.sampled_history(["r"], req)
    inside = [(s, t, v) for _, v, s, t in pts if 10_007 <= t <= 40_007]
    reference = m4_reference([(t, s, v) for s, t, v in inside], 200)
    assert list(zip(series.timestamps, series.steps, series.values, strict=True)) == reference
    assert series.total_points == len(inside)


def test_many_runs_at_once(service: QueryService, writer: Writer) -> None:
    sizes = {"a": 50, "b": 3_000, "c": 0, "d": 999}
    for rid, n in sizes.items():
        writer.run(rid, "e", start_time=1)
        writer.metrics("e", rid, _series(n, seed=n) or [("other", 1.0, 0, 0)])
    got = service.sampled_history(["d", "a", "missing", "b", "c"], SeriesRequest("curve", 100))
    assert [s.run_id for s in got] == ["d", "a", "b"]
    by_run = {s.run_id: s for s in got}
    assert not by_run["a"].sampled and len(by_run["a"].steps) == 50
    for rid in ("b", "d"):
        pts = [(s, t, v) for _, v, s, t in _series(sizes[rid], seed=sizes[rid])]
        s = by_run[rid]
        assert list(zip(s.steps, s.timestamps, s.values, strict=True)) == m4_reference(pts, 100)


def test_chart_requests_are_checked(service: QueryService, writer: Writer) -> None:
    writer.run("r", "e", start_time=1)
    for bad in (
        SeriesRequest("", 10),
        SeriesRequest("curve", 3),
        SeriesRequest("curve", 100_001),
        SeriesRequest("curve", 10, start=5, end=1),
    ):
        with pytest.raises(InvalidRequestError):
            service.sampled_history(["r"], bad)
    with pytest.raises(NotFoundError):
        service.sampled_history(["missing"], SeriesRequest("curve", 10))
    with pytest.raises(InvalidRequestError):
        service.sampled_history(["r"] * 1001, SeriesRequest("curve", 10))


@pytest.mark.parametrize("edge", [(1 << 62) - 1, 1 << 62, (1 << 63) - 1])
def test_m4_buckets_stay_exact_near_the_ends_of_int64(
    service: QueryService, writer: Writer, edge: int
) -> None:
    """Buckets are computed in Int64 while every step lies strictly within +-2^62, else in
    Int128: either way the same points as the reference, across the switch."""
    writer.run("r", "e", start_time=1)
    rng = random.Random(edge)
    steps = sorted({-edge, edge, *(rng.randint(-edge, edge) for _ in range(400))})
    pts = [("curve", rng.gauss(0, 1), s, i) for i, s in enumerate(steps)]
    writer.metrics("e", "r", pts)
    (series,) = service.sampled_history(["r"], SeriesRequest("curve", 40))
    got = list(zip(series.steps, series.timestamps, series.values, strict=True))
    assert got == m4_reference([(s, t, v) for _, v, s, t in pts], 40)
    assert series.sampled and got[0][0] == -edge and got[-1][0] == edge
