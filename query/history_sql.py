"""Metric history as parameterized SQL: keyset pages of the full series, and chart views
downsampled with M4.

M4 (Jugel et al., VLDB 2014): split the x range into ``max_points / 4`` equal-width buckets
and keep, per bucket, the first and last point (by x) and the points holding the minimum
and maximum value.  A line drawn through them is pixel-identical to one drawn through all
points at that width, and no spike is lost.  ClickHouse computes the four per bucket in
one GROUP BY over the series' sort-key range (experiment_id, run_id, key, step).
"""

from __future__ import annotations

from dataclasses import dataclass

from runstream.proto.contexts import Context

from .context_sql import context_terms
from .entities import XAxis
from .sql_text import Binder, Sql

_NARROW = 1 << 62  # x - low of two values inside (-2^62, 2^62) fits Int64


@dataclass(frozen=True)
class Bucketing:
    """Per run: the x of the first bucket and the bucket width."""

    run_ids: list[str]
    lows: list[int]
    widths: list[int]
    highs: list[int] | None = None  # the last x of each run; None: unknown (Int128)

    @property
    def wide(self) -> bool:
        """Whether bucket arithmetic needs Int128 (an x - low past Int64)."""
        if self.highs is None:
            return True
        return any(not (-_NARROW < v < _NARROW) for v in (*self.lows, *self.highs))


def _series_where(
    b: Binder,
    experiment_ids: list[str],
    run_ids: list[str],
    key: str,
    x: XAxis,
    start: int | None,
    end: int | None,
    context: Context = (),
) -> str:
    terms = []
    if experiment_ids:
        # For the primary index only (indexHint): a run id names one run of one experiment,
        # so the run_id term already decides every row, and comparing each row's
        # experiment_id string as well cost about a tenth of a 1M-point chart's CPU.
        terms.append(f"indexHint(experiment_id IN {b.bind(experiment_ids, 'Array(String)')})")
    if len(run_ids) == 1:
        terms.append(f"run_id = {b.bind(run_ids[0], 'String')}")
    else:
        terms.append(f"run_id IN {b.bind(run_ids, 'Array(String)')}")
    terms.append(f"key = {b.bind(key, 'String')}")
    if start is not None:
        terms.append(f"{x.value} >= {b.bind(start, 'Int64')}")
    if end is not None:
        terms.append(f"{x.value} <= {b.bind(end, 'Int64')}")
    return " AND ".join(terms + context_terms(b, context))


def history_page_sql(
    experiment_id: str,
    run_id: str,
    key: str,
    limit: int,
    after: tuple[int, int, float] | None,
    context: Context = (),
) -> Sql:
    """One page ordered by (step, timestamp, value); identical points collapse (also across
    contexts: the merged view is MLflow's)."""
    b = Binder()
    where = _series_where(
        b, [experiment_id] if experiment_id else [], [run_id], key, XAxis.STEP, None, None, context
    )
    if after is not None:
        s, t, v = after
        where += (
            f" AND (step, timestamp, value) > ({b.bind(s, 'Int64')}, "
            f"{b.bind(t, 'Int64')}, {b.bind(v, 'Float64')})"
        )
    return b.sql(
        f"SELECT step, timestamp, value FROM metrics WHERE {where} "
        "ORDER BY step, timestamp, value LIMIT 1 BY step, timestamp, value "
        f"LIMIT {b.bind(limit, 'UInt32')}"
    )


def bounds_sql(
    experiment_ids: list[str],
    run_ids: list[str],
    key: str,
    x: XAxis,
    start: int | None,
    end: int | None,
    context: Context = (),
) -> Sql:
    """Per run: point count and the x range (within the requested range)."""
    b = Binder()
    where = _series_where(b, experiment_ids, run_ids, key, x, start, end, context)
    return b.sql(
        f"SELECT run_id, count(), min({x.value}), max({x.value}) FROM metrics "
        f"WHERE {where} GROUP BY run_id",
        {"use_skip_indexes": 0},
    )


def raw_series_sql(
    experiment_ids: list[str],
    run_ids: list[str],
    key: str,
    x: XAxis,
    start: int | None,
    end: int | None,
    context: Context = (),
) -> Sql:
    """Every point (identical points collapse), ordered by run and x."""
    b = Binder()
    where = _series_where(b, experiment_ids, run_ids, key, x, start, end, context)
    tie = "step" if x is XAxis.TIMESTAMP else "timestamp"
    return b.sql(
        f"SELECT run_id, step, timestamp, value FROM metrics WHERE {where} "
        f"ORDER BY run_id, {x.value}, {tie}, value LIMIT 1 BY run_id, step, timestamp, value"
    )


def m4_sql(
    experiment_ids: list[str],
    key: str,
    x: XAxis,
    start: int | None,
    end: int | None,
    bucketing: Bucketing,
    context: Context = (),
) -> Sql:
    """Per run and bucket: the first and last point by x, and the points with the minimum
    and maximum value (NaN left out), as (step, timestamp, value) columns.  Scalar
    aggregates only (tuple-valued ones cost 2-3x): when several points share the deciding
    x or value, the other fields come from one of them."""
    b = Binder()
    where = _series_where(b, experiment_ids, bucketing.run_ids, key, x, start, end, context)
    # Buckets in Int64 while every x - low fits it (|x| < 2^62: steps and epoch
    # milliseconds always are; about a tenth of the CPU of Int128 arithmetic), else Int128:
    # x spans up to 2^64, more than an Int64 difference holds.
    wide = bucketing.wide
    kind = "Int128" if wide else "Int64"
    if len(bucketing.run_ids) == 1:  # no per-row grouping on the run id string
        run = f"{b.bind(bucketing.run_ids[0], 'String')} AS rid"
        low = b.bind(bucketing.lows[0], kind)
        width = b.bind(bucketing.widths[0], kind)
        group = "bucket"
    else:
        # the run's position by hash lookup (transform), its low and width by position
        ids = b.bind(bucketing.run_ids, "Array(String)")
        positions = b.bind(list(range(1, len(bucketing.run_ids) + 1)), "Array(Int64)")
        at = f"transform(run_id, {ids}, {positions}, 0)"
        run = "run_id AS rid"
        low = f"arrayElement({b.bind(bucketing.lows, f'Array({kind})')}, {at})"
        width = f"arrayElement({b.bind(bucketing.widths, f'Array({kind})')}, {at})"
        group = "run_id, bucket"
    xs, other = ("step", "timestamp") if x is XAxis.STEP else ("timestamp", "step")
    x_value = f"toInt128({xs})" if wide else xs
    num = "NOT isNaN(value)"
    first = f"min({xs}), argMin({other}, {xs}), argMin(value, {xs})"
    last = f"max({xs}), argMax({other}, {xs}), argMax(value, {xs})"
    low_pt = f"argMinIf({xs}, value, {num}), argMinIf({other}, value, {num}), minIf(value, {num})"
    high_pt = f"argMaxIf({xs}, value, {num}), argMaxIf({other}, value, {num}), maxIf(value, {num})"
    return b.sql(
        f"SELECT {run}, intDiv({x_value} - {low}, {width}) AS bucket, {first}, {last}, "
        f"{low_pt}, {high_pt}, countIf({num}) FROM metrics WHERE {where} GROUP BY {group} "
        f"ORDER BY {group}",
        {"use_skip_indexes": 0},  # the sort key already selects the series exactly
    )


def quick_bounds_sql(experiment_id: str, run_id: str, key: str) -> Sql:
    """A whole series' point count and step range without scanning it: the count and the
    latest step from the summary table, the first step from the first row in key order."""
    b = Binder()
    e, r, k = (b.bind(v, "String") for v in (experiment_id, run_id, key))
    return b.sql(
        f"SELECT (SELECT sum(count) FROM latest_metrics WHERE experiment_id = {e} AND key = {k} "
        f"AND run_id = {r}), (SELECT max(tupleElement(latest, 1)) FROM latest_metrics "
        f"WHERE experiment_id = {e} AND key = {k} AND run_id = {r}), (SELECT step FROM metrics "
        f"WHERE experiment_id = {e} AND run_id = {r} AND key = {k} ORDER BY step LIMIT 1)"
    )


def run_experiments_sql(run_ids: list[str]) -> Sql:
    """The experiment of each run (immutable, so no FINAL needed)."""
    b = Binder()
    return b.sql(
        "SELECT DISTINCT run_id, experiment_id FROM runs "
        f"WHERE run_id IN {b.bind(run_ids, 'Array(String)')}"
    )
