"""Experiment reads: get by id, get by name, and MLflow's experiment search."""

from __future__ import annotations

from collections.abc import Sequence

from .entities import Experiment, Page, ViewType
from .errors import InvalidRequestError, NotFoundError, clip
from .experiment_sql import (
    ExperimentSearchCompiler,
    experiment_by_id_sql,
    experiment_by_name_sql,
    experiment_tags_sql,
)
from .keyset import decode_token, encode_token, fingerprint
from .ports import Row, SqlPort
from .run_reader import DEFAULT_MAX_RESULTS, MAX_RESULTS, check_max_results
from .search_filter import parse_experiment_filter, parse_experiment_order_by

_FIELDS = (
    "experiment_id",
    "name",
    "artifact_location",
    "lifecycle_stage",
    "creation_time",
    "last_update_time",
    "created_by",
)


class ExperimentReader:
    def __init__(
        self, store: SqlPort, *, max_clauses: int | None = None, max_order_keys: int | None = None
    ) -> None:
        self._store = store
        self._max_clauses = max_clauses
        self._max_order_keys = max_order_keys

    def _with_tags(self, rows: list[Row]) -> list[Experiment]:
        if not rows:
            return []
        tags: dict[str, dict[str, str]] = {}
        for exp_id, key, value in self._store.rows(experiment_tags_sql([r[0] for r in rows])):
            tags.setdefault(exp_id, {})[key] = value
        return [
            Experiment(
                experiment_id=r[0],
                name=r[1],
                artifact_location=r[2],
                lifecycle_stage=r[3],
                creation_time=r[4],
                last_update_time=r[5],
                tags=tags.get(r[0], {}),
                created_by=r[6],
            )
            for r in rows
        ]

    def get(self, experiment_id: str) -> Experiment:
        if not experiment_id:
            raise InvalidRequestError("'experiment_id' is required")
        found = self._with_tags(self._store.rows(experiment_by_id_sql(experiment_id)))
        if not found:
            raise NotFoundError(f"No Experiment with id={clip(experiment_id)} exists")
        return found[0]

    def get_by_name(self, name: str) -> Experiment:
        if not name:
            raise InvalidRequestError("'name' is required")
        found = self._with_tags(self._store.rows(experiment_by_name_sql(name)))
        if not found:
            raise NotFoundError(f"Could not find experiment with name '{clip(name)}'")
        return found[0]

    def search(
        self,
        filter_string: str,
        max_results: int,
        order_by: Sequence[str],
        page_token: str,
        view: ViewType,
        only: frozenset[str] | None = None,
    ) -> Page[Experiment]:
        """``only``: the experiments the caller may read (None: every one)."""
        n = check_max_results(max_results, DEFAULT_MAX_RESULTS, MAX_RESULTS)
        conditions = parse_experiment_filter(filter_string, self._max_clauses)
        order = parse_experiment_order_by(order_by, self._max_order_keys)
        c = ExperimentSearchCompiler(conditions, order, view, only)
        # The caller's scope is applied to every page and is not part of the token's
        # identity: a token stays valid while the readable experiments change.
        fp = fingerprint("experiments", repr(conditions), repr(order), int(view))
        after = decode_token(page_token, fp, c.columns) if page_token else None
        rows = self._store.rows(c.search_sql(n + 1, after))
        token = ""
        if len(rows) > n:
            last = rows[n - 1]
            token = encode_token(fp, c.columns, [last[_FIELDS.index(k.key)] for k in order])
        return Page(self._with_tags(rows[:n]), token)
