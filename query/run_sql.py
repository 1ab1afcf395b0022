"""Compile a run search (MLflow's filter and order_by) to parameterized ClickHouse SQL.

Plan, for the tables of ``ingest/migrations`` (every one sorted by experiment id first):

* ``r``: the runs of the experiments in the view, ``runs FINAL`` (latest version of each
  run), with attribute conditions applied after FINAL;
* one INNER JOIN per metric/param/tag comparison: the run ids that satisfy it, read from
  ``latest_metrics`` / ``params`` / ``tags`` FINAL on the sort-key prefix
  (experiment_id, key), so each reads one key's rows only;
* one LEFT JOIN per metric/param/tag sort key: that key's value per run (NULL if missing);
* ``IS [NOT] NULL`` as ``run_id [NOT] IN`` the runs that have the key;
* ORDER BY MLflow's sort (each key's missing/NaN class first, then its value, then
  start_time DESC unless named, then run_id) and a keyset condition for the page.

The search statement also returns the page's info rows (``search_sql(info=True)``);
``run_page_sql`` fetches the rest of the page's runs.  Semantics follow MLflow's SQL store:
``metrics.x`` is the latest value; NaN satisfies only ``!=``; +-inf compare as the largest
finite doubles (MLflow stores them so); in every order, values come first, then NaN
(metrics), then runs without the key, whatever the direction.
"""

from __future__ import annotations

from dataclasses import dataclass

from .entities import RankBy, ViewType
from .keyset import SortColumn, after_condition
from .model_sql import run_dataset_condition
from .search_filter import Condition, Entity, OrderKey
from .sql_text import Binder, Sql, like_pattern

_MAX = "1.7976931348623157e308"
_LATEST = "tupleElement(latest, 3)"
_TABLE = {Entity.METRIC: "latest_metrics", Entity.PARAM: "params", Entity.TAG: "tags"}
_STRING_COLUMNS = frozenset({"run_id", "run_name", "user_id", "status", "artifact_uri"})
_INT_COLUMNS = frozenset({"start_time", "end_time"})
_RANK_EXPR = {RankBy.LATEST: _LATEST, RankBy.MIN: "min_value", RankBy.MAX: "max_value"}
# Searches and page loads may keep the blocks they read decompressed in the engine's cache,
# when one is configured (RUNSTREAM_CHDB_UNCOMPRESSED_CACHE, off by default; a server's own
# uncompressed_cache_size): a UI polling its search reads the same keys and pages again and
# again.  Measured in docs/benchmarks.md, section 3 (what a page needs held, and the gain).
# ClickHouse caches only reads of up to merge_tree_max_rows_to_use_cache rows.
CACHED = {"use_uncompressed_cache": 1}
SETTINGS = {"join_algorithm": "full_sorting_merge,hash", **CACHED}


def clamp(expr: str) -> str:
    """MLflow stores +-inf as the largest finite doubles; compare and sort the same way."""
    return f"least(greatest({expr}, -{_MAX}), {_MAX})"


@dataclass(frozen=True)
class RunSearch:
    experiment_ids: tuple[str, ...]
    conditions: tuple[Condition, ...]
    order: tuple[OrderKey, ...]
    view: ViewType


class RunSearchCompiler:
    """One compiled search; the SQL builders below share its placeholders."""

    def __init__(self, search: RunSearch) -> None:
        self.search = search
        self.b = Binder()
        self.exp = (
            f"experiment_id IN {self.b.bind(list(search.experiment_ids), 'Array(String)')}"
            if search.experiment_ids
            else "1"
        )
        self._joins: list[str] = []
        self._where: list[str] = []
        stages = self.b.bind(search.view.stages(), "Array(String)")
        self._run_where = [f"lifecycle_stage IN {stages}"]
        self._run_columns = ["run_id", "experiment_id", "start_time"]
        for i, cond in enumerate(search.conditions):
            self._condition(i, cond)
        # (index of the class column, key) per metric sort key; its value column follows
        self.metric_sort: list[tuple[int, str]] = []
        self.columns, self._select = self._sort_columns()

    def restrict(self, run_ids: list[str], *, keep: bool) -> None:
        """Only the runs of ``run_ids`` (``keep``) or all but them; before a statement."""
        op = "IN" if keep else "NOT IN"
        self._run_where.append(f"run_id {op} {self.b.bind(run_ids, 'Array(String)')}")

    # -- filters ----------------------------------------------------------------------
    def _need(self, column: str) -> None:
        if column not in self._run_columns:
            self._run_columns.append(column)

    def _compare(self, column: str, op: str, value: object, ch_type: str) -> str:
        if op == "LIKE":
            return f"{column} LIKE {self.b.bind(like_pattern(str(value)), 'String')}"
        if op == "ILIKE":
            return f"lower({column}) LIKE lower({self.b.bind(like_pattern(str(value)), 'String')})"
        if op in ("IN", "NOT IN"):
            return f"{column} {op} {self.b.bind(list(value), 'Array(String)')}"  # type: ignore[call-overload]
        return f"{column} {op} {self.b.bind(value, ch_type)}"

    def _condition(self, i: int, cond: Condition) -> None:
        op = cond.comparator
        if cond.entity is Entity.DATASET:
            self._where.append(run_dataset_condition(self.b, self.exp, cond.key, op, cond.value))
            return
        if cond.entity is Entity.ATTRIBUTE:
            self._need(cond.key)
            ch_type = (
                ("Float64" if isinstance(cond.value, float) else "Int64")
                if cond.key in _INT_COLUMNS
                else "String"
            )
            self._run_where.append(self._compare(cond.key, op, cond.value, ch_type))
            return
        table = _TABLE[cond.entity]
        # params are write-once (ingest refuses a changed value): duplicate rows before a
        # merge are identical, so a semi-join needs no FINAL (several times cheaper)
        final = "" if cond.entity is Entity.PARAM else " FINAL"
        key = self.b.bind(cond.key, "String")
        if op in ("IS NULL", "IS NOT NULL"):
            neg = "NOT IN" if op == "IS NULL" else "IN"
            self._where.append(
                f"r.run_id {neg} (SELECT run_id FROM {table}{final} WHERE {self.exp} "
                f"AND key = {key})"
            )
            return
        if cond.entity is Entity.PARAM:
            test = self._compare("value", op, cond.value, "String")
            self._run_where.append(
                f"run_id IN (SELECT run_id FROM params WHERE {self.exp} AND key = {key} AND {test})"
            )
            return
        if cond.entity is Entity.METRIC:
            x = self.b.bind(cond.value, "Float64")
            if op == "!=":
                test = f"(isNaN({_LATEST}) OR {clamp(_LATEST)} != {x})"
            else:
                test = f"(NOT isNaN({_LATEST}) AND {clamp(_LATEST)} {op} {x})"
        else:
            test = self._compare("value", op, cond.value, "String")
        self._joins.append(
            f"INNER JOIN (SELECT run_id FROM {table} FINAL WHERE {self.exp} AND key = {key} "
            f"AND {test}) AS f{i} ON f{i}.run_id = r.run_id"
        )

    # -- order --------------------------------------------------------------------------
    def _sort_columns(self) -> tuple[list[SortColumn], list[str]]:
        exprs: list[tuple[str, str, bool]] = []  # (expression, type, ascending)
        names_start = False
        for j, key in enumerate(self.search.order):
            asc = key.ascending
            if key.entity is Entity.ATTRIBUTE:
                self._need(key.key)
                names_start = names_start or key.key == "start_time"
                if key.key == "end_time":
                    exprs += [
                        ("isNull(r.end_time)", "UInt8", True),
                        ("ifNull(r.end_time, 0)", "Int64", asc),
                    ]
                else:
                    ch = "Int64" if key.key in _INT_COLUMNS else "String"
                    exprs.append((f"r.{key.key}", ch, asc))
                continue
            table = _TABLE[key.entity]
            k = self.b.bind(key.key, "String")
            v = f"o{j}.v"
            if key.entity is Entity.METRIC:
                self.metric_sort.append((len(exprs), key.key))
                self._joins.append(
                    f"LEFT JOIN (SELECT run_id, toNullable({_LATEST}) AS v FROM {table} FINAL "
                    f"WHERE {self.exp} AND key = {k}) AS o{j} ON o{j}.run_id = r.run_id"
                )
                exprs += [
                    (f"multiIf(isNull({v}), 2, isNaN({v}), 1, 0)", "UInt8", True),
                    (
                        f"if(isNull({v}) OR isNaN({v}), 0., {clamp(f'assumeNotNull({v})')})",
                        "Float64",
                        asc,
                    ),
                ]
            else:
                self._joins.append(
                    f"LEFT JOIN (SELECT run_id, toNullable(value) AS v FROM {table} FINAL "
                    f"WHERE {self.exp} AND key = {k}) AS o{j} ON o{j}.run_id = r.run_id"
                )
                exprs += [(f"isNull({v})", "UInt8", True), (f"ifNull({v}, '')", "String", asc)]
        if not names_start:
            exprs.append(("r.start_time", "Int64", False))
        exprs.append(("r.run_id", "String", True))
        columns = [SortColumn(f"s{i}", t, a) for i, (_, t, a) in enumerate(exprs)]
        select = [f"{e} AS s{i}" for i, (e, _, _) in enumerate(exprs)]
        return columns, select

    # -- statements ---------------------------------------------------------------------
    def _from(self) -> str:
        runs = (
            f"(SELECT {', '.join(self._run_columns)} FROM runs FINAL WHERE {self.exp} "
            f"AND {' AND '.join(self._run_where)}) AS r"
        )
        return " ".join([f"FROM {runs}", *self._joins])

    def search_sql(
        self, limit: int, after: list[object] | None, info: bool = False, latest_of: str = ""
    ) -> Sql:
        """Rows ``(run_id, experiment_id, sort columns...)``; with ``info``, each followed
        by the run's info (``INFO_COLUMNS``, from the same ``runs FINAL`` read) and the two
        flags of :func:`run_page_sql`'s info statement, so a page needs no info statement.
        ``latest_of`` (with ``info``, a search restricted to some runs): one more column,
        the same in every row, of those runs' latest points of ``latest_of``'s keys
        (:meth:`latest_column`)."""
        where = list(self._where)
        if after is not None:
            where.append(after_condition(self.columns, after, self.b))
        order = ", ".join(f"{c.expr} {'ASC' if c.ascending else 'DESC'}" for c in self.columns)
        select = list(self._select)
        if info:
            for column in INFO_COLUMNS:
                self._need(column)
            select += [f"r.{column}" for column in INFO_COLUMNS] + list(_IO_FLAGS)
            if latest_of:
                select.append(latest_of)
        text = (
            f"SELECT r.run_id, r.experiment_id, {', '.join(select)} {self._from()}"
            f"{_where(where)} ORDER BY {order} LIMIT {self.b.bind(limit, 'UInt32')}"
        )
        return self.b.sql(text, SETTINGS)

    def latest_column(self, run_ids: list[str], keys: list[str]) -> str:
        """A scalar subquery (run once per statement): ``[(run_id, key, latest), ...]`` of
        ``run_ids`` for ``keys``."""
        return (
            "(SELECT groupArray((run_id, key, l)) FROM (SELECT run_id, key, max(latest) AS l "
            f"FROM latest_metrics WHERE {self.exp} AND key IN {self.b.bind(keys, 'Array(String)')}"
            f" AND run_id IN {self.b.bind(run_ids, 'Array(String)')} "
            "GROUP BY experiment_id, run_id, key))"
        )

    def run_ids_sql(self) -> str:
        """A subquery of the matching run ids (shares this compiler's placeholders)."""
        return f"SELECT r.run_id {self._from()}{_where(self._where)}"

    def count_by_status_sql(self) -> Sql:
        self._need("status")
        text = f"SELECT r.status, count() {self._from()}{_where(self._where)} GROUP BY r.status"
        return self.b.sql(text, SETTINGS)

    def best_runs_sql(self, key: str, rank_by: RankBy, maximize: bool, limit: int) -> Sql:
        k = self.b.bind(key, "String")
        value = _RANK_EXPR[rank_by]
        direction = "DESC" if maximize else "ASC"
        text = (
            f"SELECT r.run_id, r.experiment_id, bv.v {self._from()} "
            f"INNER JOIN (SELECT run_id, {value} AS v FROM latest_metrics FINAL "
            f"WHERE {self.exp} AND key = {k}) AS bv "
            f"ON bv.run_id = r.run_id{_where([*self._where, 'NOT isNaN(bv.v)'])} "
            f"ORDER BY {clamp('bv.v')} {direction}, r.start_time DESC, r.run_id ASC "
            f"LIMIT {self.b.bind(limit, 'UInt32')}"
        )
        return self.b.sql(text, SETTINGS)


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def run_data_sql(experiment_ids: list[str], run_ids: list[str]) -> dict[str, Sql]:
    """The full data of some runs: info, params, tags and latest metrics as four statements
    (the reader uses :func:`run_page_sql`, the same reads in two).  ``experiment_ids``
    empty: look up by run id only."""
    return {name: _bound(text, experiment_ids, run_ids) for name, text in _RUN_DATA.items()}


def run_page_sql(experiment_ids: list[str], run_ids: list[str]) -> dict[str, Sql]:
    """The same data in two statements that can run concurrently (each chDB statement has a
    fixed cost of several ms of CPU, whatever it reads):

    * ``info``: the runs' info rows, each followed by two flags, whether ``run_inputs`` and
      ``run_model_links`` hold any row at all (a trivial count: part metadata only), so the
      reader skips their statements while they are empty;
    * ``data``: params, tags and latest metrics as one ``UNION ALL`` of the three statements
      of :func:`run_data_sql`, rows ``(kind, run_id, key, value, latest)`` with ``kind``
      ``p``, ``t`` or ``m`` (``value`` is empty for metrics, ``latest`` zeros otherwise)."""
    return {
        "info": _bound(_RUN_INFO_FLAGS, experiment_ids, run_ids),
        "data": _bound(_RUN_PAGE_DATA, experiment_ids, run_ids),
    }


def _bound(text: str, experiment_ids: list[str], run_ids: list[str]) -> Sql:
    b = Binder()
    exp = (
        f"experiment_id IN {b.bind(experiment_ids, 'Array(String)')} AND " if experiment_ids else ""
    )
    ids = b.bind(run_ids, "Array(String)")
    return b.sql(text.format(exp=exp, ids=ids), CACHED)


_RUN_DATA = {
    "info": "SELECT run_id, experiment_id, run_name, user_id, status, start_time, end_time, "
    "artifact_uri, lifecycle_stage FROM runs FINAL WHERE {exp}run_id IN {ids}",
    # params are write-once: duplicates (before merges) carry the same value
    "params": "SELECT run_id, key, value FROM params WHERE {exp}run_id IN {ids}",
    # = FINAL (latest version; deleted tags dropped), in a form a run-major projection serves
    "tags": "SELECT run_id, key, argMax(value, version) FROM tags WHERE {exp}run_id IN {ids} "
    "GROUP BY experiment_id, run_id, key HAVING argMax(is_deleted, version) = 0",
    "metrics": "SELECT run_id, key, max(latest) FROM latest_metrics WHERE {exp}run_id IN {ids} "
    "GROUP BY experiment_id, run_id, key",
}

# the columns of RunInfo, in its order
INFO_COLUMNS = (
    "run_id", "experiment_id", "run_name", "user_id", "status", "start_time", "end_time",
    "artifact_uri", "lifecycle_stage",
)  # fmt: skip
# whether run_inputs and run_model_links hold rows: scalar subqueries run once per
# statement, and count() of a whole table reads part metadata only
_IO_FLAGS = ("(SELECT count() FROM run_inputs) > 0", "(SELECT count() FROM run_model_links) > 0")
_RUN_INFO_FLAGS = (
    f"SELECT {', '.join(INFO_COLUMNS + _IO_FLAGS)} FROM runs FINAL WHERE {{exp}}run_id IN {{ids}}"
)
_NO_LATEST = "(toInt64(0), toInt64(0), toFloat64(0))"
_RUN_PAGE_DATA = (
    f"SELECT 'p' AS kind, run_id, key, value, {_NO_LATEST} AS latest FROM params "
    "WHERE {exp}run_id IN {ids} "
    f"UNION ALL SELECT 't', run_id, key, argMax(value, version), {_NO_LATEST} FROM tags "
    "WHERE {exp}run_id IN {ids} GROUP BY experiment_id, run_id, key "
    "HAVING argMax(is_deleted, version) = 0 "
    "UNION ALL SELECT 'm', run_id, key, '', max(latest) FROM latest_metrics "
    "WHERE {exp}run_id IN {ids} GROUP BY experiment_id, run_id, key"
)
