"""Experiment reads as parameterized SQL: get by id or name, and MLflow's experiment search
(attributes name, experiment_id, creation_time, last_update_time; tags) with keyset pages."""

from __future__ import annotations

from .entities import ViewType
from .keyset import SortColumn, after_condition
from .search_filter import Condition, Entity, OrderKey
from .sql_text import Binder, Sql, like_pattern

_COLUMNS = (
    "experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
    "last_update_time, created_by"
)
_INT_KEYS = frozenset({"creation_time", "last_update_time"})


def experiment_by_id_sql(experiment_id: str) -> Sql:
    b = Binder()
    return b.sql(
        f"SELECT {_COLUMNS} FROM experiments FINAL "
        f"WHERE experiment_id = {b.bind(experiment_id, 'String')}"
    )


def experiment_by_name_sql(name: str) -> Sql:
    """Active first, then the most recently updated (names are unique among active ones)."""
    b = Binder()
    return b.sql(
        f"SELECT {_COLUMNS} FROM experiments FINAL WHERE name = {b.bind(name, 'String')} "
        "ORDER BY lifecycle_stage = 'active' DESC, last_update_time DESC, "
        "experiment_id LIMIT 1"
    )


def experiment_tags_sql(experiment_ids: list[str]) -> Sql:
    b = Binder()
    return b.sql(
        "SELECT experiment_id, key, value FROM experiment_tags FINAL "
        f"WHERE experiment_id IN {b.bind(experiment_ids, 'Array(String)')}"
    )


def _compare(b: Binder, column: str, op: str, value: object, ch_type: str) -> str:
    if op == "LIKE":
        return f"{column} LIKE {b.bind(like_pattern(str(value)), 'String')}"
    if op == "ILIKE":
        return f"lower({column}) LIKE lower({b.bind(like_pattern(str(value)), 'String')})"
    if op in ("IN", "NOT IN"):
        return f"{column} {op} {b.bind(list(value), 'Array(String)')}"  # type: ignore[call-overload]
    return f"{column} {op} {b.bind(value, ch_type)}"


class ExperimentSearchCompiler:
    """``only``: the experiments the caller may read (None: every one)."""

    def __init__(
        self,
        conditions: tuple[Condition, ...],
        order: tuple[OrderKey, ...],
        view: ViewType,
        only: frozenset[str] | None = None,
    ) -> None:
        self.b = Binder()
        self._where = [f"lifecycle_stage IN {self.b.bind(view.stages(), 'Array(String)')}"]
        if only is not None:
            ids = self.b.bind(sorted(only), "Array(String)")
            self._where.append(f"experiment_id IN {ids}" if only else "0")
        for cond in conditions:
            self._condition(cond)
        self.columns = [
            SortColumn(f"e.{k.key}", "Int64" if k.key in _INT_KEYS else "String", k.ascending)
            for k in order
        ]

    def _condition(self, cond: Condition) -> None:
        op = cond.comparator
        if cond.entity is Entity.ATTRIBUTE:
            ch_type = "Int64" if cond.key in _INT_KEYS else "String"
            self._where.append(_compare(self.b, cond.key, op, cond.value, ch_type))
            return
        key = self.b.bind(cond.key, "String")
        if op in ("IS NULL", "IS NOT NULL"):
            neg = "NOT IN" if op == "IS NULL" else "IN"
            self._where.append(
                f"experiment_id {neg} (SELECT experiment_id FROM experiment_tags "
                f"FINAL WHERE key = {key})"
            )
            return
        test = _compare(self.b, "value", op, cond.value, "String")
        self._where.append(
            f"experiment_id IN (SELECT experiment_id FROM experiment_tags FINAL "
            f"WHERE key = {key} AND {test})"
        )

    def search_sql(self, limit: int, after: list[object] | None) -> Sql:
        outer = ""
        if after is not None:
            outer = f" WHERE {after_condition(self.columns, after, self.b)}"
        order = ", ".join(f"{c.expr} {'ASC' if c.ascending else 'DESC'}" for c in self.columns)
        text = (
            f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS} FROM experiments FINAL "
            f"WHERE {' AND '.join(self._where)}) AS e{outer} ORDER BY {order} "
            f"LIMIT {self.b.bind(limit, 'UInt32')}"
        )
        return self.b.sql(text)
