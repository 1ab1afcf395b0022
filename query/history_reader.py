"""Metric history reads: keyset pages of a full series, and M4-downsampled chart views of
one or many runs."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from .entities import MetricPoint, Page, Series, SeriesColumns, SeriesRequest, XAxis
from .errors import InvalidRequestError, NotFoundError, clip
from .history_sql import (
    Bucketing,
    bounds_sql,
    history_page_sql,
    m4_sql,
    quick_bounds_sql,
    raw_series_sql,
    run_experiments_sql,
)
from .keyset import SortColumn, decode_token, encode_token, fingerprint
from .ports import Row, SqlPort, columns_of
from .run_reader import check_max_results
from .sql_text import Sql

DEFAULT_HISTORY_PAGE = 10_000
MAX_HISTORY_PAGE = 100_000
DEFAULT_MAX_POINTS = 1000
MAX_POINTS = 100_000
MAX_RUNS = 1000
_CACHE_SIZE = 100_000
_HISTORY_COLUMNS = (
    SortColumn("step", "Int64", True),
    SortColumn("timestamp", "Int64", True),
    SortColumn("value", "Float64", True),
)

_COLUMN_DTYPES = {"step": np.int64, "timestamp": np.int64, "value": np.float64}

Point = tuple[int, int, float]


class HistoryReader:
    def __init__(self, store: SqlPort) -> None:
        self._store = store
        self._experiment_of: OrderedDict[str, str] = OrderedDict()  # run -> experiment
        self._lock = threading.Lock()

    def experiments_of(self, run_ids: Sequence[str]) -> dict[str, str]:
        """Experiment of each known run (a run never changes experiment: cached)."""
        found: dict[str, str] = {}
        with self._lock:
            for rid in run_ids:
                if rid in self._experiment_of:
                    found[rid] = self._experiment_of[rid]
        missing = [r for r in dict.fromkeys(run_ids) if r not in found]
        if missing:
            rows = self._store.rows(run_experiments_sql(missing))
            with self._lock:
                for rid, exp in rows:
                    found[rid] = exp
                    self._experiment_of[rid] = exp
                while len(self._experiment_of) > _CACHE_SIZE:
                    self._experiment_of.popitem(last=False)
        return found

    def _experiment(self, run_id: str) -> str:
        if not run_id:
            raise InvalidRequestError("'run_id' is required")
        exp = self.experiments_of([run_id]).get(run_id)
        if exp is None:
            raise NotFoundError(f"Run with id={clip(run_id)} not found")
        return exp

    def _page_query(
        self,
        run_id: str,
        key: str,
        max_results: int,
        page_token: str,
        default: int,
        context: tuple[tuple[str, str], ...] = (),
    ) -> tuple[Sql, int, str]:
        """The page's SQL (one point more than the page, to know whether one follows),
        the page size and the token fingerprint."""
        if not key:
            raise InvalidRequestError("'metric_key' is required")
        n = check_max_results(max_results, default, MAX_HISTORY_PAGE)
        exp = self._experiment(run_id)
        fp = fingerprint("history", run_id, key, *(f"{k}={v}" for k, v in context))
        after = None
        if page_token:
            s, t, v = decode_token(page_token, fp, _HISTORY_COLUMNS)
            after = (int(s), int(t), float(v))
        return history_page_sql(exp, run_id, key, n + 1, after, context), n, fp

    def page(
        self,
        run_id: str,
        key: str,
        max_results: int,
        page_token: str,
        context: tuple[tuple[str, str], ...] = (),
    ) -> Page[MetricPoint]:
        """Points ordered by (step, timestamp, value); identical points collapse.  With a
        ``context`` filter, only the points whose context holds every pair."""
        sql, n, fp = self._page_query(
            run_id, key, max_results, page_token, DEFAULT_HISTORY_PAGE, context
        )
        rows = self._store.rows(sql)
        token = encode_token(fp, _HISTORY_COLUMNS, rows[n - 1]) if len(rows) > n else ""
        return Page([MetricPoint(key, v, t, s) for s, t, v in rows[:n]], token)

    def columns(
        self,
        run_id: str,
        key: str,
        max_results: int,
        page_token: str,
        context: tuple[tuple[str, str], ...] = (),
    ) -> SeriesColumns:
        """The points of :meth:`page` as numpy columns (same order, same page tokens); the
        page size defaults to the maximum (100,000)."""
        sql, n, fp = self._page_query(
            run_id, key, max_results, page_token, MAX_HISTORY_PAGE, context
        )
        c = columns_of(self._store, sql, _COLUMN_DTYPES)
        steps, timestamps, values = c["step"], c["timestamp"], c["value"]
        token = ""
        if len(steps) > n:
            last = (int(steps[n - 1]), int(timestamps[n - 1]), float(values[n - 1]))
            token = encode_token(fp, _HISTORY_COLUMNS, last)
        return SeriesColumns(steps[:n], timestamps[:n], values[:n], token)

    def _bounds(
        self, exp_ids: list[str], run_ids: list[str], req: SeriesRequest
    ) -> dict[str, tuple[int, int, int]]:
        """Per run: (points, low x, high x) in the requested range."""
        if len(run_ids) == 1 and len(exp_ids) == 1 and _whole_series(req) and not req.context:
            ((n, hi, lo),) = self._store.rows(quick_bounds_sql(exp_ids[0], run_ids[0], req.key))
            if n and hi is not None and lo is not None:
                return {run_ids[0]: (int(n), int(lo), int(hi))}
        rows = self._store.rows(
            bounds_sql(exp_ids, run_ids, req.key, req.x_axis, req.start, req.end, req.context)
        )
        return {r: (int(n), int(lo), int(hi)) for r, n, lo, hi in rows}

    def sampled(self, run_ids: Sequence[str], req: SeriesRequest) -> list[Series]:
        """One series per run that has points for the key, in request order."""
        if not req.key:
            raise InvalidRequestError("'metric_key' is required")
        if not run_ids:
            raise InvalidRequestError("at least one run id is required")
        if len(run_ids) > MAX_RUNS:
            raise InvalidRequestError(f"at most {MAX_RUNS} runs per request")
        max_points = check_max_results(req.max_points, DEFAULT_MAX_POINTS, MAX_POINTS, "max_points")
        if max_points < 4:
            raise InvalidRequestError("'max_points' must be at least 4 (M4 keeps 4 per bucket)")
        if req.start is not None and req.end is not None and req.start > req.end:
            raise InvalidRequestError("the range's start is after its end")
        exps = self.experiments_of(run_ids)
        if len(run_ids) == 1 and run_ids[0] not in exps:
            raise NotFoundError(f"Run with id={clip(run_ids[0])} not found")
        known = [r for r in dict.fromkeys(run_ids) if r in exps]
        if not known:
            return []
        exp_ids = sorted({exps[r] for r in known})
        bounds = self._bounds(exp_ids, known, req)
        small = [r for r in known if r in bounds and bounds[r][0] <= max_points]
        big = [r for r in known if r in bounds and bounds[r][0] > max_points]
        statements = {}
        if small:
            statements["raw"] = raw_series_sql(
                exp_ids, small, req.key, req.x_axis, req.start, req.end, req.context
            )
        if big:
            buckets = max(1, max_points // 4)
            lows = [bounds[r][1] for r in big]
            widths = [max(1, -(-(bounds[r][2] - bounds[r][1] + 1) // buckets)) for r in big]
            statements["m4"] = m4_sql(
                exp_ids,
                req.key,
                req.x_axis,
                req.start,
                req.end,
                Bucketing(big, lows, widths, [bounds[r][2] for r in big]),
                req.context,
            )
        results = self._store.rows_many(statements)
        points: dict[str, list[Point]] = {}
        for rid, s, t, v in results.get("raw", []):
            points.setdefault(rid, []).append((s, t, v))
        _collect_m4(results.get("m4", []), req.x_axis, points)
        out = []
        for rid in known:
            if rid not in bounds:
                continue
            pts = points.get(rid, [])
            out.append(
                Series(
                    run_id=rid,
                    key=req.key,
                    steps=[p[0] for p in pts],
                    timestamps=[p[1] for p in pts],
                    values=[p[2] for p in pts],
                    total_points=bounds[rid][0],
                    sampled=rid in big,
                )
            )
        return out


def _whole_series(req: SeriesRequest) -> bool:
    return req.x_axis is XAxis.STEP and req.start is None and req.end is None


def _identity(p: Point) -> tuple[int, int, float | str]:
    return (p[0], p[1], "nan" if math.isnan(p[2]) else p[2])


def _collect_m4(rows: list[Row], x: XAxis, points: dict[str, list[Point]]) -> None:
    """Merge each bucket's first, last, min and max point: distinct, ordered by x."""
    order = (lambda p: (p[0], p[1])) if x is XAxis.STEP else (lambda p: (p[1], p[0]))
    for row in rows:
        rid, numeric = row[0], row[14]
        found = [row[2:5], row[5:8]] + ([row[8:11], row[11:14]] if numeric else [])
        seen: dict[tuple[int, int, float | str], Point] = {}
        for xv, ov, value in found:
            p = (xv, ov, value) if x is XAxis.STEP else (ov, xv, value)
            seen.setdefault(_identity(p), p)
        points.setdefault(rid, []).extend(sorted(seen.values(), key=order))
