"""Writing into runstream: its MLflow store for experiments and reads, and WriteService
(the store's typed client) for what MLflow's API cannot say: a run created with a given
id, and metric points in columnar batches (``LogBatchRequest.metric_columns``).  Every
write is an event on the log, as any client's."""

from __future__ import annotations

import sys
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence

from mlflow.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
    Run,
    RunTag,
    ViewType,
)
from mlflow.exceptions import MlflowException

from runstream.proto.v1 import common_pb2, query_pb2, write_pb2

from .. import convert, model_convert
from ..rpc import RunstreamRpc
from ..tracking.store import RunstreamStore
from .target import Points, Tally, point_key

#: Columnar points per LogBatch request (the gateway's limit is 100,000).
POINTS_PER_REQUEST = 50_000
#: How long :meth:`RunstreamTarget.settle` waits for ingest in all.
SETTLE_SECONDS = 1800.0


def _packed(kind: str, items: Sequence[int] | Sequence[float]) -> bytes:
    column = array(kind, items)
    if sys.byteorder != "little":
        column.byteswap()
    return column.tobytes()


def metric_columns(points: Points, keys: Sequence[str]) -> common_pb2.MetricColumns:
    index: list[int] = []
    values: list[float] = []
    steps: list[int] = []
    stamps: list[int] = []
    for i, key in enumerate(keys):
        n = len(points.values[key])
        index.extend([i] * n)
        values.extend(points.values[key])
        steps.extend(points.steps[key])
        stamps.extend(points.timestamps[key])
    return common_pb2.MetricColumns(
        keys=list(keys),
        key_index=_packed("H", index),
        values=_packed("d", values),
        steps=_packed("q", steps),
        timestamps=_packed("q", stamps),
    )


def _slices(points: Points) -> Iterator[tuple[Points, list[str]]]:
    """``points`` in requests of at most :data:`POINTS_PER_REQUEST` points: whole keys
    together, a longer key alone in slices."""
    batch: list[str] = []
    size = 0
    for key in points.values:
        n = len(points.values[key])
        if n > POINTS_PER_REQUEST:
            for i in range(0, n, POINTS_PER_REQUEST):
                part = Points()
                part.extend(
                    key,
                    points.values[key][i : i + POINTS_PER_REQUEST],
                    points.steps[key][i : i + POINTS_PER_REQUEST],
                    points.timestamps[key][i : i + POINTS_PER_REQUEST],
                )
                yield part, [key]
            continue
        if size + n > POINTS_PER_REQUEST:
            yield points, batch
            batch, size = [], 0
        batch.append(key)
        size += n
    if batch:
        yield points, batch


class RunstreamTarget:
    #: Runs written at once, as a group (the copier sends every run's first write, then
    #: every run's second, ...): each write is a round trip to the gateway (which answers
    #: once Kafka acknowledged), so they overlap; as many as the gateway's request workers
    #: (16 by default). The group's events reach the log together, and ingest applies
    #: them in a few batches instead of a batch or two per run.
    parallel = 16

    def __init__(self, uri: str) -> None:
        self.label = uri
        # Two clients: reads (and experiments) on the store's, run writes on one of their
        # own, so the reads that decide what a run lacks do not wait for ingest to apply
        # the writes of the runs before it (each client's reads carry its writes' token).
        self.store = RunstreamStore(uri)
        self.rpc = RunstreamRpc.from_uri(uri)

    def experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def create_experiment(self, name: str, artifact_location: str, tags: dict[str, str]) -> str:
        from mlflow.entities import ExperimentTag

        return str(
            self.store.create_experiment(
                name, artifact_location or None, [ExperimentTag(k, v) for k, v in tags.items()]
            )
        )

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.store._rpc.set_experiment_tag(
            write_pb2.SetExperimentTagRequest(experiment_id=experiment_id, key=key, value=value)
        )

    def set_experiment_deleted(self, experiment_id: str, deleted: bool) -> None:
        ref = write_pb2.ExperimentRef(experiment_id=experiment_id)
        if deleted:
            self.store._rpc.delete_experiment(ref)
        else:
            self.store._rpc.restore_experiment(ref)

    def runs_of(self, experiment_id: str) -> dict[str, Run]:
        found: dict[str, Run] = {}
        token = None
        while True:
            page = self.store.search_runs(
                [experiment_id], "", ViewType.ALL, max_results=1000, page_token=token
            )
            found.update((r.info.run_id, r) for r in page)
            token = page.token
            if not token:
                return found

    def create_run(self, experiment_id: str, run: Run) -> None:
        info = run.info
        self.rpc.create_run(
            write_pb2.CreateRunRequest(
                experiment_id=experiment_id,
                run_name=info.run_name or "",
                user_id=info.user_id or "",
                start_time=int(info.start_time or 0),
                parent_run_id=run.data.tags.get("mlflow.parentRunId", ""),
                run_id=info.run_id,
            )
        )

    def log(
        self,
        experiment_id: str,
        run_id: str,
        params: Sequence[Param],
        tags: Sequence[RunTag],
        points: Points,
    ) -> None:
        """One LogBatch for most runs: params, tags and up to :data:`POINTS_PER_REQUEST`
        columnar points; more points in further requests (a long series alone, in
        slices)."""
        first = True
        for part, keys in _slices(points):
            self._send(experiment_id, run_id, part, keys, params if first else (),
                       tags if first else ())  # fmt: skip
            first = False
        if first and (params or tags):
            self._send(experiment_id, run_id, points, [], params, tags)

    def history(self, run_id: str, key: str) -> Counter[tuple[int, int, str]]:
        return Counter(
            point_key(m.value, m.step, m.timestamp)
            for m in self.store.get_metric_history(run_id, key)
        )

    def tallies(self, run_id: str) -> dict[str, Tally]:
        """From the run's latest-point summaries (one read: count and latest point per
        key and context, summed over contexts)."""
        found: dict[str, Tally] = {}
        answer = self.rpc.get_latest_metrics_by_context(
            query_pb2.GetLatestMetricsByContextRequest(run_id=run_id)
        )
        for m in answer.metrics:
            count, step, stamp = found.get(m.key, (0, m.step, m.timestamp))
            step, stamp = max((step, stamp), (m.step, m.timestamp))
            found[m.key] = (count + m.count, step, stamp)
        return found

    def _send(
        self,
        experiment_id: str,
        run_id: str,
        points: Points,
        keys: list[str],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        request = write_pb2.LogBatchRequest(
            run_id=run_id,
            experiment_id=experiment_id,
            params=convert.params_to_proto(params),
            tags=convert.tags_to_proto(tags),
        )
        if keys:
            request.metric_columns.CopyFrom(metric_columns(points, keys))
        self.rpc.log_batch(request)

    def log_inputs(self, experiment_id: str, run_id: str, inputs: list[DatasetInput]) -> None:
        self.rpc.log_inputs(
            write_pb2.LogInputsRequest(
                run_id=run_id,
                experiment_id=experiment_id,
                datasets=model_convert.dataset_inputs_to_proto(inputs),
            )
        )

    def model_inputs(self, run_id: str) -> list[str]:
        run = self.store.get_run(run_id)
        return [m.model_id for m in (run.inputs.model_inputs if run.inputs else None) or []]

    def log_model_io(
        self,
        experiment_id: str,
        run_id: str,
        inputs: list[str],
        outputs: list[LoggedModelOutput],
    ) -> None:
        if inputs:
            self.rpc.log_inputs(
                write_pb2.LogInputsRequest(
                    run_id=run_id, experiment_id=experiment_id, model_ids=inputs
                )
            )
        if outputs:
            self.rpc.log_outputs(
                write_pb2.LogOutputsRequest(
                    run_id=run_id,
                    experiment_id=experiment_id,
                    models=[
                        common_pb2.ModelOutput(model_id=m.model_id, step=int(m.step))
                        for m in outputs
                    ],
                )
            )

    # ------------------------------------------------------------ logged models

    def logged_model(self, model_id: str) -> LoggedModel | None:
        try:
            return self.store.get_logged_model(model_id, allow_deleted=True)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def create_logged_model(self, experiment_id: str, model: LoggedModel) -> str:
        request = write_pb2.CreateLoggedModelRequest(
            model_id=model.model_id,
            experiment_id=experiment_id,
            name=model.name,
            artifact_location=model.artifact_location or "",
            source_run_id=model.source_run_id or "",
            tags=[common_pb2.Tag(key=k, value=v) for k, v in (model.tags or {}).items()],
            params=[common_pb2.Param(key=k, value=v) for k, v in (model.params or {}).items()],
        )
        if model.model_type is not None:
            request.model_type = model.model_type
        return self.rpc.create_logged_model(request).model_id or model.model_id

    def log_logged_model_params(
        self, experiment_id: str, model_id: str, params: dict[str, str]
    ) -> None:
        self.rpc.log_logged_model_params(
            write_pb2.LogLoggedModelParamsRequest(
                model_id=model_id,
                experiment_id=experiment_id,
                params=[common_pb2.Param(key=k, value=v) for k, v in params.items()],
            )
        )

    def set_logged_model_tags(
        self, experiment_id: str, model_id: str, tags: dict[str, str]
    ) -> None:
        self.rpc.set_logged_model_tags(
            write_pb2.SetLoggedModelTagsRequest(
                model_id=model_id,
                experiment_id=experiment_id,
                tags=[common_pb2.Tag(key=k, value=v) for k, v in tags.items()],
            )
        )

    def finalize_logged_model(
        self, experiment_id: str, model_id: str, status: LoggedModelStatus
    ) -> None:
        self.rpc.finalize_logged_model(
            write_pb2.FinalizeLoggedModelRequest(
                model_id=model_id, experiment_id=experiment_id, status=status.value
            )
        )

    def log_model_metrics(self, experiment_id: str, run_id: str, metrics: list[Metric]) -> None:
        self.rpc.log_model_metrics(
            write_pb2.LogModelMetricsRequest(
                run_id=run_id,
                experiment_id=experiment_id,
                metrics=model_convert.model_metrics_to_proto(metrics),
            )
        )

    def update_run(
        self, experiment_id: str, run_id: str, status: str, end_time: int | None, name: str
    ) -> None:
        request = write_pb2.UpdateRunRequest(
            run_id=run_id,
            experiment_id=experiment_id,
            status=convert.run_status_to_proto(status),
            run_name=name,
        )
        if end_time is not None:
            request.end_time = int(end_time)
        self.rpc.update_run(request)

    def set_run_deleted(self, experiment_id: str, run_id: str, deleted: bool) -> None:
        ref = write_pb2.RunRef(run_id=run_id, experiment_id=experiment_id)
        if deleted:
            self.rpc.delete_run(ref)
        else:
            self.rpc.restore_run(ref)

    def settle(self) -> None:
        """Wait (up to :data:`SETTLE_SECONDS`) until ingest applied every write of this
        target: a read that carries their token."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            try:
                self.store.search_experiments(max_results=1)
                self.rpc.search_experiments(query_pb2.SearchExperimentsRequest(max_results=1))
                return
            except MlflowException:
                if time.monotonic() > deadline:
                    raise
