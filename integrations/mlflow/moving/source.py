"""Reading an MLflow store through MLflow's own store API: any tracking URI MLflow reads
(``sqlite:///``, ``postgresql://``, ``http(s)://`` of an ``mlflow server``, a ``file:``
folder, ``runstream://``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlflow.entities import Experiment, LoggedModel, Run, ViewType
from mlflow.tracking import MlflowClient

from .target import SQL_INFINITY, Points

PAGE = 1000
MODEL_PAGE = 100  # MLflow's SQL store answers at most 100 logged models a page


_POINTS_SQL = "SELECT key, value, step, timestamp, is_nan FROM metrics WHERE run_uuid = "


def _placeholder(paramstyle: str) -> str:
    """The one bound parameter of :data:`_POINTS_SQL` in the driver's own style."""
    return {"qmark": "?", "numeric": ":1", "named": ":run", "format": "%s"}.get(
        paramstyle, "%(run)s"
    )


def _by_key(row: Any) -> str:
    return str(row[0])


class Source:
    """The tracking and registry stores of one URI, read in pages."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        self.store: Any = client._tracking_client.store
        try:
            self.registry: Any = client._get_registry_client().store
        except Exception:  # a store without a registry (e.g. a file store of old)
            self.registry = None

    def experiments(self, names: list[str] | None = None) -> list[Experiment]:
        found: list[Experiment] = []
        token = None
        while True:
            page = self.store.search_experiments(
                view_type=ViewType.ALL, max_results=PAGE, page_token=token
            )
            found.extend(page)
            token = page.token
            if not token:
                break
        if names:
            wanted = set(names)
            found = [e for e in found if e.name in wanted]
        return sorted(found, key=lambda e: (e.experiment_id != "0", str(e.experiment_id)))

    def runs(self, experiment_id: str) -> Iterator[Run]:
        token = None
        while True:
            page = self.store.search_runs(
                [experiment_id], "", ViewType.ALL, max_results=PAGE, page_token=token
            )
            # Parents before children, so a child's parent exists when it arrives.
            yield from page
            token = page.token
            if not token:
                break

    def logged_models(self, experiment_id: str) -> list[LoggedModel]:
        """Every active logged model of the experiment (MLflow 3; none from a store that
        has no logged models)."""
        if not hasattr(self.store, "search_logged_models"):
            return []
        found: list[LoggedModel] = []
        token = None
        while True:
            page = self.store.search_logged_models(
                [experiment_id], max_results=MODEL_PAGE, page_token=token
            )
            found.extend(page)
            token = page.token
            if not token:
                return found

    def model_inputs(self, run_id: str) -> list[str]:
        """The ids of the logged models the run consumed (MLflow's searches leave them out
        of the runs they answer)."""
        run = self.store.get_run(run_id)
        return [m.model_id for m in (run.inputs.model_inputs if run.inputs else None) or []]

    def count_runs(self, experiment_id: str) -> int:
        return sum(1 for _ in self.runs(experiment_id))

    def history(self, run_id: str, key: str, points: Points) -> int:
        """Append the run's history of ``key`` to ``points``; the number of points that
        MLflow's SQL store had turned from +-inf into +-1.797e308 (turned back)."""
        token = None
        infinities = 0
        values: list[float] = []
        steps: list[int] = []
        stamps: list[int] = []
        while True:
            page = self.store.get_metric_history(run_id, key, page_token=token)
            for m in page:
                value = float(m.value)
                if value in (SQL_INFINITY, -SQL_INFINITY):
                    value = value * float("inf")
                    infinities += 1
                values.append(value)
                steps.append(int(m.step))
                stamps.append(int(m.timestamp))
            token = getattr(page, "token", None)
            if not token:
                break
        points.extend(key, values, steps, stamps)
        return infinities

    def run_points(self, run_id: str, keys: list[str], points: Points) -> dict[str, int]:
        """Every point of the run's ``keys`` into ``points``; per key, how many values
        MLflow's SQL store had turned from +-inf into +-1.797e308 (turned back). A SQL
        store is read in one query per run, through the database driver itself (MLflow's
        API takes one query per key and builds an object per point; SQLAlchemy's result
        rows cost as much again); any other store through MLflow's API."""
        engine = getattr(self.store, "engine", None)
        if engine is None:
            return {key: self.history(run_id, key, points) for key in keys}
        infinities: dict[str, int] = {}
        wanted = set(keys)
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            style = engine.dialect.paramstyle
            bound: Any = {"run": run_id} if style in ("named", "pyformat") else (run_id,)
            cursor.execute(_POINTS_SQL + _placeholder(style), bound)
            rows = cursor.fetchall()
            cursor.close()
        finally:
            connection.close()
        rows.sort(key=_by_key)  # stable: each key's points in the store's order
        nan, inf = float("nan"), float("inf")
        i, n = 0, len(rows)
        while i < n:
            key = rows[i][0]
            j = i
            while j < n and rows[j][0] == key:
                j += 1
            if key in wanted:
                _, values, steps, stamps, nans = (list(c) for c in zip(*rows[i:j], strict=True))
                if any(nans):
                    values = [nan if is_nan else v for v, is_nan in zip(values, nans, strict=True)]
                if SQL_INFINITY in values or -SQL_INFINITY in values:
                    odd = [k for k, v in enumerate(values) if v in (SQL_INFINITY, -SQL_INFINITY)]
                    for k in odd:
                        values[k] *= inf
                    infinities[key] = len(odd)
                points.extend(key, values, steps, stamps)
            i = j
        return infinities

    def orphan_runs(self, experiment_ids: set[str]) -> list[tuple[str, str]]:
        """Runs (id, experiment id) whose experiment the store does not have. Only SQL
        stores can hold such runs; other stores answer nothing."""
        engine = getattr(self.store, "engine", None)
        if engine is None:
            return []
        import sqlalchemy

        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text("SELECT run_uuid, experiment_id FROM runs"))
            return [(str(r[0]), str(r[1])) for r in rows if str(r[1]) not in experiment_ids]
