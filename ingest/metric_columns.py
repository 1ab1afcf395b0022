"""Metric points of one batch, in columns: the ``metrics`` rows and the ``latest_metrics``
summary (per run and key), and ``latest_context_metrics`` (per run, key and point context).

The summary of a batch holds, per (experiment, key, run), the max of the tuple
(step, timestamp, value), the min and max value and the number of points.  Every one of
these merges associatively, so the summary of the whole log is the same however the log
is cut into batches, provided every batch is written exactly once.

NaN: ``min``/``max`` ignore NaN unless every value is NaN (ClickHouse's ``min``/``max``
do the same when the summary rows merge); in the ``latest`` tuple NaN sorts above every
number (numpy's sort order, and ClickHouse's when it merges tuples of stored rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from runstream.proto.contexts import canonical
from runstream.proto.events import MetricsLogged

from .batch import DictColumn, TableData

METRIC_COLUMNS = ("experiment_id", "run_id", "key", "step", "timestamp", "value", "context")
LATEST_COLUMNS = ("experiment_id", "key", "run_id", "latest", "min_value", "max_value", "count")
CONTEXT_LATEST_COLUMNS = (
    "experiment_id",
    "run_id",
    "key",
    "context",
    "latest",
    "min_value",
    "max_value",
    "count",
)


class MetricAccumulator:
    """Collects the points of many ``MetricsLogged`` events of one batch."""

    def __init__(self) -> None:
        self._run_codes: dict[str, int] = {}
        self._run_ids: list[str] = []
        self._run_experiments: list[str] = []
        self._key_codes: dict[str, int] = {}
        self._keys: list[str] = []
        self._runs: list[npt.NDArray[np.int64]] = []
        self._key_index: list[npt.NDArray[np.int64]] = []
        self._values: list[npt.NDArray[np.float64]] = []
        self._steps: list[npt.NDArray[np.int64]] = []
        self._timestamps: list[npt.NDArray[np.int64]] = []
        self._context_codes: dict[str, int] = {"": 0}
        self._contexts: list[str] = [""]
        self._context_index: list[npt.NDArray[np.int64]] = []
        self.points = 0

    def add(self, run_id: str, experiment_id: str, event: MetricsLogged) -> None:
        n = len(event)
        if n == 0:
            return
        code = self._run_codes.get(run_id)
        if code is None:
            code = self._run_codes[run_id] = len(self._run_ids)
            self._run_ids.append(run_id)
            self._run_experiments.append(experiment_id)
        lut = np.fromiter(
            (self._key_code(k) for k in event.keys), dtype=np.int64, count=len(event.keys)
        )
        self._runs.append(np.full(n, code, dtype=np.int64))
        self._key_index.append(lut[event.key_index])
        self._values.append(event.values)
        self._steps.append(event.steps)
        self._timestamps.append(event.timestamps)
        table = event.context_table()
        ctx_lut = np.fromiter(
            (self._context_code(canonical(c)) for c in table), dtype=np.int64, count=len(table)
        )
        self._context_index.append(ctx_lut[event.context_codes()])
        self.points += n

    def _context_code(self, text: str) -> int:
        code = self._context_codes.get(text)
        if code is None:
            code = self._context_codes[text] = len(self._contexts)
            self._contexts.append(text)
        return code

    def _key_code(self, key: str) -> int:
        code = self._key_codes.get(key)
        if code is None:
            code = self._key_codes[key] = len(self._keys)
            self._keys.append(key)
        return code

    def tables(self) -> tuple[TableData, ...]:
        """The ``metrics``, ``latest_metrics`` and ``latest_context_metrics`` inserts (none
        when no points)."""
        if not self.points:
            return ()
        runs = np.concatenate(self._runs)
        keys = np.concatenate(self._key_index)
        values = np.ascontiguousarray(np.concatenate(self._values), dtype=np.float64)
        steps = np.ascontiguousarray(np.concatenate(self._steps), dtype=np.int64)
        timestamps = np.ascontiguousarray(np.concatenate(self._timestamps), dtype=np.int64)
        contexts = np.concatenate(self._context_index)
        experiments = sorted(set(self._run_experiments))
        exp_code = {e: i for i, e in enumerate(experiments)}
        run_exp = np.asarray([exp_code[e] for e in self._run_experiments], dtype=np.int32)
        metrics = TableData(
            "metrics",
            METRIC_COLUMNS,
            [
                DictColumn(run_exp[runs], experiments),
                DictColumn(runs.astype(np.int32), list(self._run_ids)),
                DictColumn(keys.astype(np.int32), list(self._keys)),
                steps,
                timestamps,
                values,
                DictColumn(contexts.astype(np.int32), list(self._contexts)),
            ],
            self.points,
        )
        return (
            metrics,
            self._latest(runs, keys, values, steps, timestamps),
            self._context_latest(runs, keys, contexts, values, steps, timestamps),
        )

    def _context_latest(
        self,
        runs: npt.NDArray[np.int64],
        keys: npt.NDArray[np.int64],
        contexts: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        steps: npt.NDArray[np.int64],
        timestamps: npt.NDArray[np.int64],
    ) -> TableData:
        nk, nc = len(self._keys), len(self._contexts)
        summary = summarise((runs * nk + keys) * nc + contexts, values, steps, timestamps)
        series = summary.groups // nc
        run_of = (series // nk).tolist()
        key_of = (series % nk).tolist()
        ctx_of = (summary.groups % nc).tolist()
        return TableData(
            "latest_context_metrics",
            CONTEXT_LATEST_COLUMNS,
            [
                [self._run_experiments[r] for r in run_of],
                [self._run_ids[r] for r in run_of],
                [self._keys[k] for k in key_of],
                [self._contexts[c] for c in ctx_of],
                _latest_points(summary),
                summary.min_value,
                summary.max_value,
                summary.count,
            ],
            int(summary.groups.shape[0]),
        )

    def _latest(
        self,
        runs: npt.NDArray[np.int64],
        keys: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        steps: npt.NDArray[np.int64],
        timestamps: npt.NDArray[np.int64],
    ) -> TableData:
        summary = summarise(runs * len(self._keys) + keys, values, steps, timestamps)
        run_of = (summary.groups // len(self._keys)).tolist()
        key_of = (summary.groups % len(self._keys)).tolist()
        return TableData(
            "latest_metrics",
            LATEST_COLUMNS,
            [
                [self._run_experiments[r] for r in run_of],
                [self._keys[k] for k in key_of],
                [self._run_ids[r] for r in run_of],
                _latest_points(summary),
                summary.min_value,
                summary.max_value,
                summary.count,
            ],
            int(summary.groups.shape[0]),
        )


@dataclass(frozen=True, slots=True, eq=False)
class Summary:
    """Per group: the max of (step, timestamp, value), min, max and count of points."""

    groups: npt.NDArray[np.int64]
    latest_step: npt.NDArray[np.int64]
    latest_timestamp: npt.NDArray[np.int64]
    latest_value: npt.NDArray[np.float64]
    min_value: npt.NDArray[np.float64]
    max_value: npt.NDArray[np.float64]
    count: npt.NDArray[np.uint64]


def summarise(
    group: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    steps: npt.NDArray[np.int64],
    timestamps: npt.NDArray[np.int64],
) -> Summary:
    """Summary per distinct ``group`` (sorted), in a few vectorised passes.

    ``latest`` is the lexicographic max of (step, timestamp, value): the max step, then
    the max timestamp among that step's points, then the max value among those, where
    NaN counts as the greatest value.
    """
    order = np.argsort(group, kind="stable")
    g = group[order]
    s = steps[order]
    t = timestamps[order]
    v = values[order]
    starts = np.flatnonzero(np.concatenate(([True], g[1:] != g[:-1])))
    counts = np.diff(np.append(starts, g.shape[0]))
    segment = np.repeat(np.arange(starts.shape[0]), counts)
    max_step = np.maximum.reduceat(s, starts)
    candidate = s == max_step[segment]
    max_ts = np.maximum.reduceat(np.where(candidate, t, np.iinfo(np.int64).min), starts)
    candidate &= t == max_ts[segment]
    nan = np.isnan(v)
    has_nan = np.logical_or.reduceat(candidate & nan, starts)
    best = np.maximum.reduceat(np.where(candidate & ~nan, v, -np.inf), starts)
    with np.errstate(invalid="ignore"):
        vmin = np.fmin.reduceat(v, starts)
        vmax = np.fmax.reduceat(v, starts)
    return Summary(
        groups=g[starts],
        latest_step=max_step,
        latest_timestamp=max_ts,
        latest_value=np.where(has_nan, np.nan, best),
        min_value=vmin,
        max_value=vmax,
        count=counts.astype(np.uint64),
    )


def _latest_points(summary: Summary) -> list[tuple[int, int, float]]:
    """Each group's latest point as the (step, timestamp, value) tuple both summary tables
    store."""
    return list(
        zip(
            summary.latest_step.tolist(),
            summary.latest_timestamp.tolist(),
            summary.latest_value.tolist(),
            strict=True,
        )
    )
