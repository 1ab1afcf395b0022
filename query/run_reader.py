"""Run reads: search (MLflow semantics, keyset pages), get, best N, counts by status and
per-step aggregates across runs."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, replace

from runstream.proto.pending import PendingRun

from .aggregate_sql import step_aggregates_sql, step_bounds_sql
from .entities import (
    MetricPoint,
    Page,
    PercentileSeries,
    RankBy,
    RankedRun,
    Run,
    RunInfo,
    RunSelection,
    StepAggregates,
)
from .errors import InvalidRequestError, NotFoundError, clip
from .keyset import decode_token, encode_token, fingerprint
from .model_entities import RunModelIO, run_io_from_rows
from .model_sql import run_io_sql
from .pending_merge import with_pending
from .pending_search import PendingSource, merge_held, metric_keys, needs_points
from .ports import Row, SqlPort
from .run_sql import RunSearch, RunSearchCompiler, run_page_sql
from .search_filter import Entity, parse_group_by, parse_run_filter, parse_run_order_by

logger = logging.getLogger(__name__)

DEFAULT_MAX_RESULTS = 1000
MAX_RESULTS = 50_000
DEFAULT_BEST = 10
MAX_BEST = 1000
MAX_PERCENTILES = 100
MAX_AGGREGATE_POINTS = 100_000
NO_EXPERIMENT = ""  # an id no experiment has
_INFO_WIDTH = len(fields(RunInfo))  # the info statement's columns before its flags
_IO_PARTS = ("datasets", "links")  # run_io_sql's statements, in the order of the info flags


def check_max_results(value: int, default: int, limit: int, what: str = "max_results") -> int:
    if value == 0:
        return default
    if value < 0 or value > limit:
        raise InvalidRequestError(
            f"Invalid value {value} for parameter '{what}' supplied: it must be between 1 "
            f"and {limit} (0 means {default})"
        )
    return value


def run_not_found(run_id: str) -> NotFoundError:
    return NotFoundError(f"Run with id={clip(run_id)} not found")


def _require_key(key: str, what: str = "metric_key") -> str:
    if not key:
        raise InvalidRequestError(f"'{what}' is required")
    return key


class RunReader:
    def __init__(
        self, store: SqlPort, *, max_clauses: int | None = None, max_order_keys: int | None = None
    ) -> None:
        self._store = store
        self._max_clauses = max_clauses
        self._max_order_keys = max_order_keys
        # run_io_sql's parts whose table was seen holding rows: read beside the page from then
        # on (a table that empties again only costs its statement)
        self._io_seen: frozenset[str] = frozenset()

    def _search(self, selection: RunSelection, order_by: Sequence[str] = ()) -> RunSearch:
        return RunSearch(
            experiment_ids=tuple(selection.experiment_ids),
            conditions=parse_run_filter(selection.filter, self._max_clauses),
            order=parse_run_order_by(order_by, self._max_order_keys),
            view=selection.view,
        )

    def _compiler(self, selection: RunSelection, order_by: Sequence[str] = ()) -> RunSearchCompiler:
        search = self._search(selection, order_by)
        if selection.scope is not None:
            asked = set(search.experiment_ids) or selection.scope
            # No experiment has the id "" (writes and ingest refuse it): an empty scope
            # selects nothing, never "every experiment".
            within = tuple(sorted(asked & selection.scope)) or (NO_EXPERIMENT,)
            search = replace(search, experiment_ids=within)
        return RunSearchCompiler(search)

    def search(
        self,
        selection: RunSelection,
        order_by: Sequence[str],
        max_results: int,
        page_token: str,
        pending: PendingSource | None = None,
    ) -> Page[Run]:
        """``pending``: the metric points ingest holds unapplied, which the answer then
        reflects as it will once they are applied (``pending_search``)."""
        n = check_max_results(max_results, DEFAULT_MAX_RESULTS, MAX_RESULTS)
        c = self._compiler(selection, order_by)
        shape = self._search(selection, order_by)  # the caller's query, without its scope
        fp = fingerprint("runs", sorted(set(selection.experiment_ids)), repr(shape))
        after = decode_token(page_token, fp, c.columns) if page_token else None
        # Before any statement (proto/pending.py): a point applied meanwhile is in one or
        # the other, and the later-point rule gives the same answer with it in both.
        held = pending(c.search.experiment_ids) if pending is not None else {}
        if held and needs_points(c):
            rows = self._search_held(c, held, n + 1, after)
        else:
            rows = self._store.rows(c.search_sql(n + 1, after, info=True))
        width = 2 + len(c.columns)  # run_id, experiment_id, the sort key; then the info
        token = encode_token(fp, c.columns, rows[n - 1][2:width]) if len(rows) > n else ""
        page = [row[width:] for row in rows[:n]]
        runs = self._complete(sorted({r[1] for r in page}), page)
        return Page([_merged(runs[r[0]], held) for r in page], token)

    def _search_held(
        self,
        c: RunSearchCompiler,
        held: Mapping[str, PendingRun],
        limit: int,
        after: list[object] | None,
    ) -> list[Row]:
        """The search's first ``limit`` rows when the runs of ``held`` may match or sort
        otherwise with their pending points: two concurrent statements, merged in
        ``pending_search.merge_held``."""
        ids = sorted(held)
        others = tuple(x for x in c.search.conditions if x.entity is not Entity.METRIC)
        hc = RunSearchCompiler(replace(c.search, conditions=others))
        hc.restrict(ids, keep=True)
        latest = hc.latest_column(ids, metric_keys(c))
        c.restrict(ids, keep=False)
        data = self._store.rows_many(
            {
                "rest": c.search_sql(limit, after, info=True),
                "held": hc.search_sql(len(ids), None, info=True, latest_of=latest),
            }
        )
        rows = data["held"]
        points = rows[0][-1] if rows else []
        mine = [row[:-1] for row in rows]
        return merge_held(c, data["rest"], mine, points, held, after, limit)

    def get(self, run_id: str) -> Run:
        if not run_id:
            raise InvalidRequestError("'run_id' is required")
        # The info row first, alone: a run the tables do not hold (a get right after a
        # create, before ingest applied it) costs one statement instead of every one; and a
        # run they hold is no slower on chDB, which does not overlap a call's statements.
        info = self._store.rows(run_page_sql([], [run_id])["info"])
        runs = self._complete([], info) if info else {}
        if run_id not in runs:
            raise run_not_found(run_id)
        return runs[run_id]

    def load(self, experiment_ids: list[str], run_ids: list[str]) -> dict[str, Run]:
        """Info, params, tags, latest metrics, datasets and model links of some runs: the two
        concurrent statements of ``run_page_sql``, then :meth:`_complete`'s."""
        if not run_ids:
            return {}
        return self._complete(experiment_ids, run_ids=run_ids)

    def _complete(
        self,
        experiment_ids: list[str],
        info_rows: list[Row] | None = None,
        run_ids: list[str] | None = None,
    ) -> dict[str, Run]:
        """Runs from their info rows (each followed by the two flags: whether
        ``run_inputs`` and ``run_model_links`` hold rows), read here when only ``run_ids``
        are given, and the rest of their data.

        The datasets and model links of ``run_io_sql`` are read beside the page once their
        table has been seen holding rows, else only when the flags say the table holds rows
        now (read after ingest applied whatever the call waited for, so nothing applied
        before is missed)."""
        ids = run_ids if run_ids is not None else [row[0] for row in info_rows or ()]
        if not ids:
            return {}
        page_sql = run_page_sql(experiment_ids, ids)
        io_sql = run_io_sql(experiment_ids, ids)
        seen = self._io_seen
        statements = {"data": page_sql["data"], **{f"io_{k}": io_sql[k] for k in seen}}
        if info_rows is None:
            statements["info"] = page_sql["info"]
        data = self._store.rows_many(statements)
        rows = data["info"] if info_rows is None else info_rows
        flags = rows[0][_INFO_WIDTH:] if rows else (False, False)
        now = {k for k, has_rows in zip(_IO_PARTS, flags, strict=True) if has_rows} - seen
        if now:
            self._io_seen = seen | now
            data.update(self._store.rows_many({f"io_{k}": io_sql[k] for k in now}))
        io = run_io_from_rows(data.get("io_datasets", []), data.get("io_links", []))
        params: dict[str, dict[str, str]] = {}
        tags: dict[str, dict[str, str]] = {}
        metrics: dict[str, list[MetricPoint]] = {}
        for kind, run_id, key, value, (step, timestamp, latest) in data["data"]:
            if kind == "m":
                metrics.setdefault(run_id, []).append(MetricPoint(key, latest, timestamp, step))
            else:
                (params if kind == "p" else tags).setdefault(run_id, {})[key] = value
        runs = {}
        for row in rows:
            info = RunInfo(*row[:_INFO_WIDTH])
            rid = info.run_id
            runs[rid] = Run(
                info=info,
                metrics=tuple(sorted(metrics.get(rid, ()), key=lambda m: m.key)),
                params=params.get(rid, {}),
                tags=tags.get(rid, {}),
                io=io.get(rid, RunModelIO()),
            )
        return runs

    def count_by_status(self, selection: RunSelection) -> dict[str, int]:
        rows = self._store.rows(self._compiler(selection).count_by_status_sql())
        return {str(status): int(n) for status, n in rows}

    def best(
        self, selection: RunSelection, key: str, rank_by: RankBy, maximize: bool, max_results: int
    ) -> list[RankedRun]:
        n = check_max_results(max_results, DEFAULT_BEST, MAX_BEST)
        sql = self._compiler(selection).best_runs_sql(_require_key(key), rank_by, maximize, n)
        rows = self._store.rows(sql)
        runs = self.load(sorted({r[1] for r in rows}), [r[0] for r in rows])
        return [RankedRun(runs[r[0]], float(r[2])) for r in rows if r[0] in runs]

    def aggregates(
        self,
        selection: RunSelection,
        key: str,
        group_by: str,
        percentiles: Iterable[float],
        start: int | None,
        end: int | None,
        max_points: int,
    ) -> list[StepAggregates]:
        _require_key(key)
        levels = []
        for p in percentiles:
            if not 0.0 <= p <= 100.0 or math.isnan(p):
                raise InvalidRequestError(f"percentile {p} is outside [0, 100]")
            levels.append(p)
        if len(levels) > MAX_PERCENTILES:
            raise InvalidRequestError(f"at most {MAX_PERCENTILES} percentiles per request")
        if not 0 <= max_points <= MAX_AGGREGATE_POINTS:
            raise InvalidRequestError(
                f"Invalid value {max_points} for parameter 'max_points' supplied: it must be "
                f"between 1 and {MAX_AGGREGATE_POINTS} (0 means every step)"
            )
        if start is not None and end is not None and start > end:
            raise InvalidRequestError("'start_step' is after 'end_step'")
        group = parse_group_by(group_by) if group_by else None
        c = self._compiler(selection)
        low, width = 0, 1
        if max_points > 0:
            ((lo, hi),) = self._store.rows(step_bounds_sql(c, key, start, end))
            if hi is None or lo is None:
                return []
            low, width = int(lo), max(1, -(-(int(hi) - int(lo) + 1) // max_points))
            c = self._compiler(selection)
        rows = self._store.rows(
            step_aggregates_sql(c, key, group, [p / 100.0 for p in levels], start, end, low, width)
        )
        return _group_rows(rows, levels, grouped=group is not None)


def _merged(run: Run, held: Mapping[str, PendingRun]) -> Run:
    pending = held.get(run.info.run_id)
    return run if pending is None else with_pending(run, pending)


def _group_rows(rows: list[Row], levels: list[float], grouped: bool) -> list[StepAggregates]:
    out: list[StepAggregates] = []
    current: StepAggregates | None = None
    for row in rows:
        group_value, _, step, runs, mean, lo, hi = row[:7]
        if current is None or current.group_value != group_value:
            current = StepAggregates(
                group_value=group_value,
                grouped=grouped,
                steps=[],
                run_counts=[],
                mean=[],
                min=[],
                max=[],
                percentiles=[PercentileSeries(p, []) for p in levels],
            )
            out.append(current)
        current.steps.append(int(step))
        current.run_counts.append(int(runs))
        current.mean.append(float(mean))
        current.min.append(float(lo))
        current.max.append(float(hi))
        if levels:
            for series, value in zip(current.percentiles, row[7], strict=True):
                series.values.append(float(value))
    return out
