"""Reads by point context: the aggregate over the contexts (ranks) of one run per step, and
the latest value per (key, context).  History per context goes through
:class:`~runstream.query.history_reader.HistoryReader` with a context filter."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from runstream.proto.contexts import Context, context_problems, from_canonical

from .context_sql import context_aggregates_sql, context_step_bounds_sql, latest_by_context_sql
from .entities import StepAggregates
from .errors import InvalidRequestError, NotFoundError, clip
from .history_reader import HistoryReader
from .ports import SqlPort
from .run_reader import MAX_AGGREGATE_POINTS, MAX_PERCENTILES, _group_rows

MAX_LATEST_KEYS = 1000


@dataclass(frozen=True, slots=True)
class ContextLatest:
    """One (key, context) series' summary: latest = max of (step, timestamp, value)."""

    key: str
    context: Context
    step: int
    timestamp: int
    value: float
    min: float
    max: float
    count: int


def check_context_filter(pairs: Mapping[str, str], field: str = "context") -> Context:
    """A request's context filter, by the same rules as a point's context."""
    ctx, problems = context_problems(dict(pairs), field)
    if problems:
        name, what = problems[0]
        raise InvalidRequestError(f"Invalid value for parameter '{name}': {what}")
    return ctx


class ContextReader:
    def __init__(self, store: SqlPort, history: HistoryReader) -> None:
        self._store = store
        self._history = history

    def _experiment(self, run_id: str) -> str:
        if not run_id:
            raise InvalidRequestError("'run_id' is required")
        exp = self._history.experiments_of([run_id]).get(run_id)
        if exp is None:
            raise NotFoundError(f"Run with id={clip(run_id)} not found")
        return exp

    def aggregates(
        self,
        run_id: str,
        key: str,
        pairs: Context = (),
        percentiles: Iterable[float] = (),
        start: int | None = None,
        end: int | None = None,
        max_points: int = 0,
    ) -> list[StepAggregates]:
        """Per step, across the contexts of one run holding ``pairs``: how many contexts
        logged there, mean, min, max and percentiles of their values."""
        if not key:
            raise InvalidRequestError("'metric_key' is required")
        levels = [float(p) for p in percentiles]
        if any(math.isnan(p) or not 0.0 <= p <= 100.0 for p in levels):
            raise InvalidRequestError("every percentile must be within [0, 100]")
        if len(levels) > MAX_PERCENTILES:
            raise InvalidRequestError(f"at most {MAX_PERCENTILES} percentiles per request")
        if not 0 <= max_points <= MAX_AGGREGATE_POINTS:
            raise InvalidRequestError(
                f"Invalid value {max_points} for parameter 'max_points' supplied: it must be "
                f"between 1 and {MAX_AGGREGATE_POINTS} (0 means every step)"
            )
        if start is not None and end is not None and start > end:
            raise InvalidRequestError("'start_step' is after 'end_step'")
        exp = self._experiment(run_id)
        low, width = 0, 1
        if max_points > 0:
            ((lo, hi),) = self._store.rows(
                context_step_bounds_sql(exp, run_id, key, pairs, start, end)
            )
            if hi is None or lo is None:
                return []
            low, width = int(lo), max(1, -(-(int(hi) - int(lo) + 1) // max_points))
        rows = self._store.rows(
            context_aggregates_sql(
                exp, run_id, key, pairs, [p / 100.0 for p in levels], start, end, low, width
            )
        )
        return _group_rows(rows, levels, grouped=False)

    def latest(
        self, run_id: str, keys: Sequence[str] = (), pairs: Context = ()
    ) -> list[ContextLatest]:
        """The latest value, min, max and count per (key, context) of one run."""
        if len(keys) > MAX_LATEST_KEYS:
            raise InvalidRequestError(f"at most {MAX_LATEST_KEYS} metric keys per request")
        exp = self._experiment(run_id)
        rows = self._store.rows(latest_by_context_sql(exp, run_id, list(keys), pairs))
        return [
            ContextLatest(
                key=str(key),
                context=from_canonical(str(ctx)),
                step=int(latest[0]),
                timestamp=int(latest[1]),
                value=float(latest[2]),
                min=float(lo),
                max=float(hi),
                count=int(n),
            )
            for key, ctx, latest, lo, hi, n in rows
        ]
