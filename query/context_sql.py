"""Reads by point context (rank, node, device, free pairs) as parameterized SQL: the
filter on the ``context`` column, the cross-context aggregate of one run's key per step
(the straggler view), and the latest value per (key, context).

A context is stored as the canonical compact JSON of its pairs in a LowCardinality column
(``0008_point_contexts.sql``); a filter pair is ``JSONExtractString(context, k) = v``, which
ClickHouse evaluates once per dictionary entry rather than once per row.
"""

from __future__ import annotations

from collections.abc import Sequence

from runstream.proto.contexts import Context

from .sql_text import Binder, Sql


def context_terms(b: Binder, pairs: Context) -> list[str]:
    """Terms that keep the points whose context holds every pair."""
    return [
        f"JSONExtractString(context, {b.bind(k, 'String')}) = {b.bind(v, 'String')}"
        for k, v in pairs
    ]


def _series(
    b: Binder,
    experiment_id: str,
    run_id: str,
    key: str,
    pairs: Context,
    start: int | None,
    end: int | None,
) -> str:
    terms = [
        f"experiment_id = {b.bind(experiment_id, 'String')}",
        f"run_id = {b.bind(run_id, 'String')}",
        f"key = {b.bind(key, 'String')}",
    ]
    if start is not None:
        terms.append(f"step >= {b.bind(start, 'Int64')}")
    if end is not None:
        terms.append(f"step <= {b.bind(end, 'Int64')}")
    return " AND ".join(terms + context_terms(b, pairs))


def _points(where: str) -> str:
    """Per (context, step) the value logged last there (max timestamp, then max value)."""
    return (
        "SELECT context, step, argMax(value, tuple(timestamp, value)) AS v FROM metrics "
        f"WHERE {where} GROUP BY context, step"
    )


def context_step_bounds_sql(
    experiment_id: str, run_id: str, key: str, pairs: Context, start: int | None, end: int | None
) -> Sql:
    b = Binder()
    where = _series(b, experiment_id, run_id, key, pairs, start, end)
    return b.sql(f"SELECT min(step), max(step) FROM metrics WHERE {where}")


def context_aggregates_sql(
    experiment_id: str,
    run_id: str,
    key: str,
    pairs: Context,
    levels: Sequence[float],
    start: int | None,
    end: int | None,
    low: int,
    width: int,
) -> Sql:
    """Rows shaped as the cross-run aggregate's: (NULL, bucket, step, contexts, mean, min,
    max[, percentiles array]); NaN values are left out."""
    b = Binder()
    where = _series(b, experiment_id, run_id, key, pairs, start, end)
    bucket = "step"
    if width > 1:  # in Int128: steps span up to 2^64, more than an Int64 difference holds
        bucket = f"intDiv(toInt128(step) - {b.bind(low, 'Int128')}, {b.bind(width, 'Int128')})"
    quant = ""
    if levels:
        quant = f", quantilesExactInclusive({', '.join(b.bind(p, 'Float64') for p in levels)})(v)"
    return b.sql(
        f"SELECT CAST(NULL, 'Nullable(String)') AS grp_value, {bucket} AS bucket, min(step), "
        f"uniqExact(context), avg(v), min(v), max(v){quant} FROM ({_points(where)}) "
        "WHERE NOT isNaN(v) GROUP BY bucket ORDER BY bucket"
    )


def latest_by_context_sql(
    experiment_id: str, run_id: str, keys: Sequence[str], pairs: Context
) -> Sql:
    """Per (key, context): the latest (step, timestamp, value), min, max and count."""
    b = Binder()
    terms = [
        f"experiment_id = {b.bind(experiment_id, 'String')}",
        f"run_id = {b.bind(run_id, 'String')}",
    ]
    if keys:
        terms.append(f"key IN {b.bind(list(keys), 'Array(String)')}")
    where = " AND ".join(terms + context_terms(b, pairs))
    return b.sql(
        "SELECT key, context, max(latest), min(min_value), max(max_value), sum(count) "
        f"FROM latest_context_metrics WHERE {where} GROUP BY key, context ORDER BY key, context"
    )
