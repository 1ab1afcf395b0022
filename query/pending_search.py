"""SearchRuns with the metric points ingest holds but has not applied yet.

GetRun merges the points of ``proto/pending.py`` into the run it reads; a search must also
let them decide which runs match and in what order, with exactly the answer the tables
give once the points are applied.  Only the runs' latest metrics change by those points
(a run with a pending event that changes anything else, created, deleted, restored or
purged, gets nothing merged until that event is applied), so only the filter's metric
comparisons and the metric order keys need the pending points; everything else stays SQL:

* ``rest``: the search as compiled, without the runs holding pending points (``R``);
* ``held``: the runs of ``R`` that pass the filter's other conditions, with their sort
  columns and info (no limit, no page cursor: those need the metrics), and, in a column
  of its own, the tables' latest points of ``R``'s runs for the keys the search names.

The two statements run concurrently.
Here the held runs' latest points are merged with the pending ones (by ``later``, the rule
ingest's summaries follow), the metric comparisons are evaluated as ``run_sql`` compiles
them (NaN satisfies only ``!=``; +-inf compare as the largest finite doubles; a run
without the key fails), their metric sort columns are recomputed (class: value, NaN,
missing; then the clamped value), the page cursor is applied to them, and the two ordered
lists are merged.  A page token holds the last row's sort columns either way, so the next
page's cursor is the same whichever list that row came from.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import cmp_to_key
from itertools import islice
from typing import Any

from runstream.proto.pending import LatestPoint, PendingRun, later
from runstream.proto.vocabulary import ACTIVE

from .keyset import SortColumn
from .ports import Row
from .run_sql import INFO_COLUMNS, RunSearchCompiler
from .search_filter import Condition, Entity

# The pending runs a search may merge, of some experiments (empty: all): a snapshot
# (``PendingPoints.metric_runs``), taken before the search's statements.
PendingSource = Callable[[Collection[str]], Mapping[str, PendingRun]]

_MAX = 1.7976931348623157e308
_STAGE = INFO_COLUMNS.index("lifecycle_stage")


def needs_points(c: RunSearchCompiler) -> bool:
    """Whether the search's matches or order depend on latest metric values."""
    return bool(c.metric_sort) or any(x.entity is Entity.METRIC for x in c.search.conditions)


def metric_keys(c: RunSearchCompiler) -> list[str]:
    keys = {x.key for x in c.search.conditions if x.entity is Entity.METRIC}
    return sorted(keys | {key for _, key in c.metric_sort})


def _clamp(value: float) -> float:
    return min(max(value, -_MAX), _MAX)


def passes(cond: Condition, value: float | None) -> bool:
    """A metric comparison on a run's latest value (None: the run lacks the key)."""
    if value is None:
        return False
    x = cond.value
    assert isinstance(x, float)
    if math.isnan(value):
        return cond.comparator == "!="
    v = _clamp(value)
    match cond.comparator:
        case "=":
            return v == x
        case "!=":
            return v != x
        case "<":
            return v < x
        case "<=":
            return v <= x
        case ">":
            return v > x
        case ">=":
            return v >= x
    raise ValueError(f"not a metric comparator: {cond.comparator}")


def _sort_pair(value: float | None) -> tuple[int, float]:
    """A metric sort key's two columns: values, then NaN, then missing; the clamped value."""
    if value is None:
        return 2, 0.0
    if math.isnan(value):
        return 1, 0.0
    return 0, _clamp(value)


def compare(columns: Sequence[SortColumn], a: Sequence[Any], b: Sequence[Any]) -> int:
    """-1, 0 or 1: ``a`` before, equal to or after ``b`` in the search's order (strings
    compare by code point, which is ClickHouse's byte order of their UTF-8)."""
    for col, x, y in zip(columns, a, b, strict=True):
        if x != y:
            before = x < y if col.ascending else x > y
            return -1 if before else 1
    return 0


def _keep_later(points: dict[str, LatestPoint], key: str, point: LatestPoint) -> None:
    """``points[key]`` becomes ``point`` unless it holds a later one."""
    have = points.get(key)
    if have is None or later(point, have):
        points[key] = point


def merge_held(
    c: RunSearchCompiler,
    rest: list[Row],
    held_rows: list[Row],
    latest_rows: Sequence[Row],
    pending: Mapping[str, PendingRun],
    after: Sequence[Any] | None,
    limit: int,
) -> list[Row]:
    """The first ``limit`` rows of the search (``run_sql``'s row shape) from ``rest``
    (ordered, without the pending runs) and the pending runs' ``held_rows``."""
    width = 2 + len(c.columns)
    tables: dict[str, dict[str, LatestPoint]] = {}
    for run_id, key, (step, ts, value) in latest_rows:
        _keep_later(tables.setdefault(run_id, {}), key, (int(step), int(ts), float(value)))
    conditions = [x for x in c.search.conditions if x.entity is Entity.METRIC]
    mine: list[Row] = []
    for row in held_rows:
        run_id, experiment_id = row[0], row[1]
        points = dict(tables.get(run_id, {}))
        if row[width + _STAGE] == ACTIVE:  # ingest refuses points of a deleted run
            for key, point in pending[run_id].latest(experiment_id).items():
                _keep_later(points, key, point)
        if not all(passes(x, p[2] if (p := points.get(x.key)) else None) for x in conditions):
            continue
        key = list(row[2:width])
        for i, name in c.metric_sort:
            p = points.get(name)
            key[i], key[i + 1] = _sort_pair(p[2] if p else None)
        if after is not None and compare(c.columns, key, after) <= 0:
            continue
        mine.append((run_id, experiment_id, *key, *row[width:]))
    if not mine:
        return rest[:limit]

    def by_sort_key(a: Row, b: Row) -> int:
        return compare(c.columns, a[2:width], b[2:width])

    order = cmp_to_key(by_sort_key)
    mine.sort(key=order)
    return list(islice(heapq.merge(rest, mine, key=order), limit))
