"""Writing into an MLflow store through MLflow's store API (``runstream export mlflow``).

Run ids are kept where the store lets a run be created with a given id: MLflow's SQL
stores (the id MLflow would draw is replaced by the source's while the run is created).
Other stores draw new ids; the copy then finds runs again by the ``runstream.run_id``
tag it sets on them.
"""

from __future__ import annotations

import contextlib
import re
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
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)

from .target import Points, Tally, point_key

SOURCE_RUN_TAG = "runstream.run_id"
BATCH = 1000  # metrics per log_batch (MLflow's limit)
_ids_lock = threading.Lock()
_MODEL_ID = re.compile("m-[0-9a-f]{32}")


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
        self._model_ids: dict[str, str] = {}  # the same for logged models

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
        self,
        experiment_id: str,
        run_id: str,
        params: Sequence[Param],
        tags: Sequence[RunTag],
        points: Points,
    ) -> None:
        if params or tags:
            self.store.log_batch(self._id(run_id), [], list(params), list(tags))
        if len(points):
            self._log_points(run_id, points)

    def history(self, run_id: str, key: str) -> Counter[tuple[int, int, str]]:
        return Counter(
            point_key(m.value, m.step, m.timestamp)
            for m in self.store.get_metric_history(self._id(run_id), key)
        )

    def tallies(self, run_id: str) -> dict[str, Tally] | None:
        """A SQL store's counts per key and its ``latest_metrics`` rows (MLflow's latest
        is the largest (step, timestamp, value) too); other stores: ``None``."""
        engine = getattr(self.store, "engine", None)
        if engine is None:
            return None
        import sqlalchemy

        run = {"run": self._id(run_id)}
        with engine.connect() as conn:
            counts = dict(
                conn.execute(
                    sqlalchemy.text(
                        "SELECT key, COUNT(*) FROM metrics WHERE run_uuid = :run GROUP BY key"
                    ),
                    run,
                ).all()
            )
            latest = conn.execute(
                sqlalchemy.text(
                    "SELECT key, step, timestamp FROM latest_metrics WHERE run_uuid = :run"
                ),
                run,
            ).all()
        return {key: (int(counts.get(key, 0)), int(s), int(t)) for key, s, t in latest}

    def _log_points(self, run_id: str, points: Points) -> None:
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

    def model_inputs(self, run_id: str) -> list[str]:
        """By the source's ids (a model whose id this store drew is mapped back)."""
        back = {mine: theirs for theirs, mine in self._model_ids.items()}
        run = self.store.get_run(self._id(run_id))
        found = (run.inputs.model_inputs if run.inputs else None) or []
        return [back.get(m.model_id, m.model_id) for m in found]

    def log_model_io(
        self,
        experiment_id: str,
        run_id: str,
        inputs: list[str],
        outputs: list[LoggedModelOutput],
    ) -> None:
        if inputs:
            models = [LoggedModelInput(self._model_ids.get(m, m)) for m in inputs]
            self.store.log_inputs(self._id(run_id), models=models)
        if outputs:
            self.store.log_outputs(
                self._id(run_id),
                [LoggedModelOutput(self._model_ids.get(m.model_id, m.model_id), m.step)
                 for m in outputs],
            )  # fmt: skip

    # ------------------------------------------------------------ logged models

    def logged_model(self, model_id: str) -> LoggedModel | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.store.get_logged_model(
                self._model_ids.get(model_id, model_id), allow_deleted=True
            )
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def create_logged_model(self, experiment_id: str, model: LoggedModel) -> str:
        """In a SQL store with the source's id (drawn as the run ids are) and artifact
        location (set on the row: MLflow derives it from the experiment's); elsewhere
        with the id and location the store draws."""
        engine = getattr(self.store, "engine", None)
        drawn: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if engine is not None and _MODEL_ID.fullmatch(model.model_id):
            import mlflow.store.tracking.sqlalchemy_store as sql_store

            drawn = _run_id_drawn_as(sql_store, model.model_id[2:])
        tags = [LoggedModelTag(k, v) for k, v in (model.tags or {}).items()]
        params = [LoggedModelParameter(k, v) for k, v in (model.params or {}).items()]
        with _ids_lock, drawn:
            made = self.store.create_logged_model(
                experiment_id, model.name, model.source_run_id, tags, params, model.model_type
            )
        self._model_ids[model.model_id] = made.model_id
        if engine is not None and made.artifact_location != model.artifact_location:
            from mlflow.store.tracking.dbmodels.models import SqlLoggedModel

            with self.store.ManagedSessionMaker(read_only=False) as session:
                session.query(SqlLoggedModel).filter(
                    SqlLoggedModel.model_id == made.model_id
                ).update({"artifact_location": model.artifact_location})
        return str(made.model_id)

    def log_logged_model_params(
        self, experiment_id: str, model_id: str, params: dict[str, str]
    ) -> None:
        self.store.log_logged_model_params(
            model_id, [LoggedModelParameter(k, v) for k, v in params.items()]
        )

    def set_logged_model_tags(
        self, experiment_id: str, model_id: str, tags: dict[str, str]
    ) -> None:
        self.store.set_logged_model_tags(model_id, [LoggedModelTag(k, v) for k, v in tags.items()])

    def finalize_logged_model(
        self, experiment_id: str, model_id: str, status: LoggedModelStatus
    ) -> None:
        self.store.finalize_logged_model(model_id, status)

    def log_model_metrics(self, experiment_id: str, run_id: str, metrics: list[Metric]) -> None:
        """A SQL store's model metrics alone (its ``log_batch`` would add the points to
        the run's history too, where the copy of the run already put them)."""
        metrics = [
            Metric(m.key, m.value, m.timestamp, m.step, model_id=m.model_id,
                   run_id=self._id(run_id), dataset_name=m.dataset_name,
                   dataset_digest=m.dataset_digest)
            for m in metrics
        ]  # fmt: skip
        log = getattr(self.store, "_log_model_metrics", None)
        if log is not None:
            log(self._id(run_id), metrics, experiment_id=experiment_id)
        else:
            self.store.log_batch(self._id(run_id), metrics, [], [])

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
