"""Aggregations across the runs of a search, as parameterized SQL: a metric per step
(count of runs, mean, min, max, exact percentiles with linear interpolation), optionally
grouped by a param or tag."""

from __future__ import annotations

from .run_sql import RunSearchCompiler
from .search_filter import Entity
from .sql_text import Sql

_GROUP_TABLE = {Entity.PARAM: "params", Entity.TAG: "tags"}


def _points(c: RunSearchCompiler, key: str, start: int | None, end: int | None) -> str:
    """Per (run, step) the value logged last at that step: (max timestamp, then max value)."""
    terms = [c.exp, f"key = {c.b.bind(key, 'String')}", f"run_id IN ({c.run_ids_sql()})"]
    if start is not None:
        terms.append(f"step >= {c.b.bind(start, 'Int64')}")
    if end is not None:
        terms.append(f"step <= {c.b.bind(end, 'Int64')}")
    return (
        f"SELECT run_id, step, argMax(value, tuple(timestamp, value)) AS v FROM metrics "
        f"WHERE {' AND '.join(terms)} GROUP BY run_id, step"
    )


def step_bounds_sql(c: RunSearchCompiler, key: str, start: int | None, end: int | None) -> Sql:
    return c.b.sql(
        f"SELECT min(step), max(step) FROM ({_points(c, key, start, end)})",
        {"join_algorithm": "full_sorting_merge,hash"},
    )


def step_aggregates_sql(
    c: RunSearchCompiler,
    key: str,
    group: tuple[Entity, str] | None,
    percentiles: list[float],
    start: int | None,
    end: int | None,
    low: int,
    width: int,
) -> Sql:
    """Rows: (group or NULL, step, runs, mean, min, max[, percentiles array])."""
    join, group_expr = "", "CAST(NULL, 'Nullable(String)')"
    if group is not None:
        entity, gkey = group
        join = (
            f" LEFT JOIN (SELECT run_id, toNullable(value) AS g FROM "
            f"{_GROUP_TABLE[entity]} FINAL WHERE {c.exp} AND key = "
            f"{c.b.bind(gkey, 'String')}) AS grp ON grp.run_id = pts.run_id"
        )
        group_expr = "grp.g"
    step = "pts.step"
    if width > 1:  # in Int128: steps span up to 2^64, more than an Int64 difference holds
        step = (
            f"intDiv(toInt128(pts.step) - {c.b.bind(low, 'Int128')}, {c.b.bind(width, 'Int128')})"
        )
    quant = ""
    if percentiles:
        levels = ", ".join(c.b.bind(p, "Float64") for p in percentiles)
        quant = f", quantilesExactInclusive({levels})(pts.v)"
    text = (
        f"SELECT {group_expr} AS grp_value, {step} AS bucket, min(pts.step), "
        f"uniqExact(pts.run_id), avg(pts.v), min(pts.v), max(pts.v){quant} "
        f"FROM ({_points(c, key, start, end)}) AS pts{join} WHERE NOT isNaN(pts.v) "
        "GROUP BY grp_value, bucket ORDER BY grp_value ASC NULLS LAST, bucket"
    )
    return c.b.sql(text, {"join_algorithm": "full_sorting_merge,hash"})
