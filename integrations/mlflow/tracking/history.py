"""The tracking store's metric histories: a full series (``get_metric_history`` and its
bulk form) and the UI's chart views (``get_metric_history_bulk_interval`` and
``..._from_steps``) from runstream's downsampling, never by reading every point.

MLflow's semantics for a chart view, as its SQL store keeps them: at most ``max_results``
points per run, in (step, timestamp) order, within ``[start_step, end_step]``; every point
when the range holds no more than that; else always a point at the first and at the last
step of the range (only the last when ``max_results`` is 1).  Which points lie between
differs on purpose: MLflow keeps every n-th point, runstream's M4 keeps per step bucket
the first, last, lowest and highest point, so a spike in a 1,000,000-point series still
shows (and returns up to ``max_results`` points: ``max_results / 4`` buckets of four).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from mlflow.entities import Metric
from mlflow.entities.metric import MetricWithRunId
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.entities.paged_list import PagedList

from runstream.proto.v1 import query_pb2

from ..rpc import run_scope
from .core import StoreCore

# The sampled-history RPC's limits (runstream's query service): runs per request, points
# per run (at least 4: M4 keeps four per bucket).
SAMPLED_RUNS_PER_CALL = 1000
SAMPLED_MAX_POINTS = 100_000
_M4_MIN_POINTS = 4

Point = tuple[int, int, float]


def evenly_spaced(total: int, count: int) -> list[int]:
    """At most ``count`` evenly spaced indices into ``total`` items, always the first and
    the last (only the last when ``count`` is 1): MLflow's choice for a chart view."""
    if total <= 0:
        return []
    if total <= count:
        return list(range(total))
    if count == 1:
        return [total - 1]
    step = (total - 1) / (count - 1)
    return sorted({round(i * step) for i in range(count)})


def _order(point: Point) -> tuple[int, int, float, bool]:
    """MLflow's order of a series: step, timestamp, value (NaN after the numbers)."""
    nan = math.isnan(point[2])
    return (point[0], point[1], 0.0 if nan else point[2], nan)


class HistoryMethods(StoreCore):
    """MLflow's metric-history calls."""

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        if max_results is not None and max_results < 1:
            raise MlflowException(
                f"Invalid value {max_results} for parameter 'max_results' supplied. "
                "It must be a positive integer.",
                INVALID_PARAMETER_VALUE,
            )
        metrics: list[Metric] = []
        token = page_token or ""
        while True:
            # Pages as columns (100,000 points a page unless max_results says fewer): no
            # message per point on the wire or in this process.
            response = self._rpc.get_metric_history_columns(
                query_pb2.GetMetricHistoryRequest(
                    run_id=run_id,
                    metric_key=metric_key,
                    max_results=max_results or 0,
                    page_token=token,
                ),
                (run_scope(run_id),),
            )
            s = response.columns
            points = zip(s.steps, s.timestamps, s.values, strict=True)
            metrics.extend(Metric(metric_key, v, t, step) for step, t, v in points)
            token = response.next_page_token
            if max_results is not None or not token:
                break
        if not metrics and not page_token:
            self._read_run(run_id)  # an unknown run is an error, as in MLflow's stores
        return PagedList(metrics, token or None)

    def get_metric_history_bulk(
        self, run_ids: Sequence[str], metric_key: str, max_results: int
    ) -> list[MetricWithRunId]:
        """Histories of one metric for several runs (MLflow's SQL-store extension)."""
        result: list[MetricWithRunId] = []
        for run_id in sorted(set(run_ids)):
            history = sorted(
                self.get_metric_history(run_id, metric_key),
                key=lambda m: (m.timestamp, m.step, m.value),
            )
            result.extend(MetricWithRunId(run_id=run_id, metric=m) for m in history)
            if len(result) >= max_results:
                break
        return result[:max_results]

    def get_max_step_for_metric(self, run_id: str, metric_key: str) -> int:
        steps = [m.step for m in self.get_metric_history(run_id, metric_key)]
        return max(steps) if steps else 0

    # ------------------------------------------------------------ chart views

    def get_metric_history_bulk_interval(
        self,
        run_ids: list[str],
        metric_key: str,
        max_results: int,
        start_step: int | None,
        end_step: int | None,
    ) -> list[MetricWithRunId]:
        """Per run (in the order given), at most ``max_results`` points of the series in
        ``[start_step, end_step]`` (both or neither), from runstream's M4 downsampling."""
        if (start_step is None) != (end_step is None):
            raise MlflowException.invalid_parameter_value(
                "Both start_step and end_step must be specified together, "
                "or neither may be specified."
            )
        max_results = max(1, int(max_results))
        points = self._sampled(list(run_ids), metric_key, max_results, start_step, end_step)
        result: list[MetricWithRunId] = []
        for run_id in run_ids:
            series = points.get(run_id, [])
            for i in evenly_spaced(len(series), max_results):
                step, timestamp, value = series[i]
                metric = Metric(key=metric_key, value=value, timestamp=timestamp, step=step)
                result.append(MetricWithRunId(run_id=run_id, metric=metric))
        return result

    def get_metric_history_bulk_interval_from_steps(
        self, run_id: str, metric_key: str, steps: Iterable[int], max_results: int
    ) -> list[MetricWithRunId]:
        """Every point at the given steps, in (step, timestamp, value) order, at most
        ``max_results``: read from the step range they span (one call while it holds at
        most 100,000 points), else from the full series."""
        wanted = {int(s) for s in steps}
        if not wanted or max_results < 1:
            return []
        low, high = min(wanted), max(wanted)
        series = self._sampled([run_id], metric_key, SAMPLED_MAX_POINTS, low, high, raw=True)
        if run_id in series:
            found = [p for p in series[run_id] if p[0] in wanted]
        else:
            history = self.get_metric_history(run_id, metric_key)
            found = sorted(
                ((m.step, m.timestamp, m.value) for m in history if m.step in wanted), key=_order
            )
        return [
            MetricWithRunId(run_id=run_id, metric=Metric(metric_key, v, t, s))
            for s, t, v in found[:max_results]
        ]

    def _sampled(
        self,
        run_ids: list[str],
        metric_key: str,
        max_points: int,
        start: int | None,
        end: int | None,
        raw: bool = False,
    ) -> dict[str, list[Point]]:
        """Per run that has the key: its points in the range, downsampled to about
        ``max_points`` with M4, in MLflow's order.  ``raw``: only when the range holds at
        most ``max_points`` (else the run is left out)."""
        per_run = min(max(max_points, _M4_MIN_POINTS), SAMPLED_MAX_POINTS)
        unique = list(dict.fromkeys(run_ids))
        out: dict[str, list[Point]] = {}
        for at in range(0, len(unique), SAMPLED_RUNS_PER_CALL):
            chunk = unique[at : at + SAMPLED_RUNS_PER_CALL]
            request = query_pb2.GetSampledMetricHistoriesRequest(
                run_ids=chunk,
                metric_key=metric_key,
                max_points=per_run,
                x_axis=query_pb2.X_AXIS_STEP,
            )
            if start is not None and end is not None:
                request.start, request.end = int(start), int(end)
            try:
                response = self._rpc.get_sampled_metric_histories(
                    request, tuple(run_scope(r) for r in chunk)
                )
            except MlflowException as exc:
                # One unknown run: MLflow's stores answer no points for it, not an error.
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST" and len(chunk) == 1:
                    continue
                raise
            for s in response.series:
                if raw and s.sampled:
                    continue
                found = zip(s.steps, s.timestamps, s.values, strict=True)
                out[s.run_id] = sorted(found, key=_order)
        return out
