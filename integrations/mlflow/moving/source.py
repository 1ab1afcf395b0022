"""Reading an MLflow store through MLflow's own store API: any tracking URI MLflow reads
(``sqlite:///``, ``postgresql://``, ``http(s)://`` of an ``mlflow server``, a ``file:``
folder, ``runstream://``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlflow.entities import Experiment, Run, ViewType
from mlflow.tracking import MlflowClient

from .target import SQL_INFINITY, Points

PAGE = 1000


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
        store is read in one query per run (MLflow's API takes one per key and builds an
        object per point); any other store through MLflow's API."""
        engine = getattr(self.store, "engine", None)
        if engine is None:
            return {key: self.history(run_id, key, points) for key in keys}
        import sqlalchemy

        infinities: dict[str, int] = {}
        wanted = set(keys)
        with engine.connect() as conn:
            rows = conn.execute(
                sqlalchemy.text(
                    "SELECT key, value, step, timestamp, is_nan FROM metrics WHERE run_uuid = :run"
                ),
                {"run": run_id},
            )
            for key, value, step, stamp, is_nan in rows:
                if key not in wanted:
                    continue
                value = float("nan") if is_nan else float(value)
                if value in (SQL_INFINITY, -SQL_INFINITY):
                    value = value * float("inf")
                    infinities[key] = infinities.get(key, 0) + 1
                points.add(key, value, int(step), int(stamp))
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
