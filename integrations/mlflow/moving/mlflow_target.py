"""Writing into an MLflow store through MLflow's store API (``runstream export mlflow``).

Run ids are kept where the store lets a run be created with a given id: MLflow's SQL
stores (the id MLflow would draw is replaced by the source's while the run is created).
Other stores draw new ids; the copy then finds runs again by the ``runstream.run_id``
tag it sets on them.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

from mlflow.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)

from .target import Points, point_key

SOURCE_RUN_TAG = "runstream.run_id"
BATCH = 1000  # metrics per log_batch (MLflow's limit)
_ids_lock = threading.Lock()


@contextlib.contextmanager
def _run_id_drawn_as(module: Any, run_id: str) -> Iterator[None]:
    """While inside, ``module`` (MLflow's SQL store) draws ``run_id`` as its next uuid."""
    original = module.uuid
    module.uuid = SimpleNamespace(uuid4=lambda: uuid.UUID(hex=run_id))
    try:
        yield
    finally:
        module.uuid = original


class MlflowTarget:
    parallel = 1  # one writer: SQLite, and the run id drawn for the next run

    def __init__(self, uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.label = uri
        self.store: Any = MlflowClient(tracking_uri=uri)._tracking_client.store
        self._ids: dict[str, str] = {}  # runstream run id -> this store's

    def _id(self, run_id: str) -> str:
        return self._ids.get(run_id, run_id)

    def experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def create_experiment(self, name: str, artifact_location: str, tags: dict[str, str]) -> str:
        tag_list = [ExperimentTag(k, v) for k, v in tags.items()]
        existing = self.store.get_experiment_by_name(name)
        if existing is not None:  # "Default" exists in every fresh SQL store
            for tag in tag_list:
                self.store.set_experiment_tag(existing.experiment_id, tag)
            return str(existing.experiment_id)
        return str(self.store.create_experiment(name, artifact_location or None, tag_list))

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.store.set_experiment_tag(experiment_id, ExperimentTag(key, value))

    def set_experiment_deleted(self, experiment_id: str, deleted: bool) -> None:
        if deleted:
            self.store.delete_experiment(experiment_id)
        else:
            self.store.restore_experiment(experiment_id)

    def runs_of(self, experiment_id: str) -> dict[str, Run]:
        found: dict[str, Run] = {}
        token = None
        while True:
            page = self.store.search_runs(
                [experiment_id], "", ViewType.ALL, max_results=1000, page_token=token
            )
            for run in page:
                origin = run.data.tags.get(SOURCE_RUN_TAG, run.info.run_id)
                self._ids[origin] = run.info.run_id
                found[origin] = run
            token = page.token
            if not token:
                return found

    def create_run(self, experiment_id: str, run: Run) -> None:
        info = run.info
        keep = getattr(self.store, "engine", None) is not None  # a SQL store
        tags = [] if keep else [RunTag(SOURCE_RUN_TAG, info.run_id)]
        drawn: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if keep:
            import mlflow.store.tracking.sqlalchemy_store as sql_store

            drawn = _run_id_drawn_as(sql_store, info.run_id)
        with _ids_lock, drawn:
            created = self.store.create_run(
                experiment_id, info.user_id or "", info.start_time, tags, info.run_name
            )
        self._ids[info.run_id] = created.info.run_id

    def log(
        self, experiment_id: str, run_id: str, params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        self.store.log_batch(self._id(run_id), [], list(params), list(tags))

    def history(self, run_id: str, key: str) -> Counter[tuple[int, int, str]]:
        return Counter(
            point_key(m.value, m.step, m.timestamp)
            for m in self.store.get_metric_history(self._id(run_id), key)
        )

    def log_points(self, experiment_id: str, run_id: str, points: Points) -> None:
        batch: list[Metric] = []
        for key, values in points.values.items():
            steps, stamps = points.steps[key], points.timestamps[key]
            for v, s, t in zip(values, steps, stamps, strict=True):
                batch.append(Metric(key, v, t, s))
                if len(batch) == BATCH:
                    self.store.log_batch(self._id(run_id), batch, [], [])
                    batch = []
        if batch:
            self.store.log_batch(self._id(run_id), batch, [], [])

    def log_inputs(self, experiment_id: str, run_id: str, inputs: list[DatasetInput]) -> None:
        self.store.log_inputs(self._id(run_id), datasets=inputs)

    def update_run(
        self, experiment_id: str, run_id: str, status: str, end_time: int | None, name: str
    ) -> None:
        self.store.update_run_info(
            self._id(run_id), RunStatus.from_string(status), end_time, name or None
        )

    def set_run_deleted(self, experiment_id: str, run_id: str, deleted: bool) -> None:
        if deleted:
            self.store.delete_run(self._id(run_id))
        else:
            self.store.restore_run(self._id(run_id))

    def settle(self) -> None:
        """MLflow's stores answer with what they wrote at once."""
