"""``RunstreamStore``: MLflow's tracking store over runstream's gRPC services.

Writes go to the WriteService (the gateway in front of Kafka), reads to the QueryService.
Every read carries the merged write token of this store, so MLflow's habit of writing and
reading at once (create a run, then get it) sees its own writes.

MLflow's stores, not its REST handlers, refuse bad input: this store calls the same checks
(``mlflow.utils.validation``, ``SearchUtils``) before anything is sent, and the state
checks MLflow's SQL store makes (run active, experiment active, params never changed)
against a read that carries the write token.

Load this module through ``runstream.producer.mlflow_store`` (MLflow's entry points do):
importing it first, before MLflow finished registering its stores, would be circular.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities import (
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
    ViewType,
)
from mlflow.entities.metric import MetricWithRunId
from mlflow.exceptions import MlflowException, MlflowNotImplementedException
from mlflow.protos.databricks_pb2 import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import (
    DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH,
    SEARCH_MAX_RESULTS_DEFAULT,
    SEARCH_MAX_RESULTS_THRESHOLD,
)
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.tracking._tracking_service.utils import _SERVER_ARTIFACT_ROOT_ENV_VAR
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from mlflow.utils.name_utils import _generate_random_name
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchUtils
from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local
from mlflow.utils.validation import (
    _validate_batch_log_data,
    _validate_batch_log_limits,
    _validate_experiment_artifact_location_length,
    _validate_experiment_name,
    _validate_experiment_tag,
    _validate_metric,
    _validate_param,
    _validate_param_keys_unique,
    _validate_run_id,
    _validate_tag,
)

from runstream.proto.v1 import common_pb2, query_pb2, write_pb2
from runstream.proto.vocabulary import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    experiment_id_for_name,
)

from . import mlflow_convert as convert
from .mlflow_grpc import RunstreamRpc

logger = logging.getLogger(__name__)

# Page size used when MLflow asks for "everything" (max_results=None).
_ALL_PAGE_SIZE = SEARCH_MAX_RESULTS_THRESHOLD


@dataclass
class _RunState:
    """What this store knows of a run between reads: its info as last read or written by
    this store, and its params when known.  Enough for MLflow's state checks without a
    read (which waits for ingest) on every write."""

    info: RunInfo
    params: dict[str, str] = field(default_factory=dict)
    params_known: bool = False

    @property
    def lifecycle_stage(self) -> str:
        return str(self.info.lifecycle_stage)


def _not_supported(what: str) -> MlflowNotImplementedException:
    return MlflowNotImplementedException(
        f"{what} is not supported by the runstream tracking store: runstream stores "
        "experiments, runs, params, metrics and tags only."
    )


class RunstreamStore(AbstractStore):
    """MLflow tracking store for ``runstream://host:port``."""

    def __init__(self, store_uri: str, artifact_uri: str | None = None) -> None:
        super().__init__()
        self.store_uri = store_uri
        # Where artifacts of new experiments go, as MLflow's SQL store decides it: the
        # server's root when MLflow runs as a server, else ./mlruns.
        root = artifact_uri or os.environ.get(
            _SERVER_ARTIFACT_ROOT_ENV_VAR, DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
        )
        self.artifact_root_uri = resolve_uri_if_local(root)
        self._rpc = RunstreamRpc.from_uri(store_uri)
        self._lock = threading.Lock()
        self._default_experiment_checked = False
        self._runs: dict[str, _RunState] = {}
        # Artifact location per experiment id (it never changes once created).
        self._locations: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"RunstreamStore({self.store_uri!r})"

    # ------------------------------------------------------------------ helpers

    def _ensure_default_experiment(self) -> None:
        """MLflow's clients assume experiment "0" ("Default") exists: create it once."""
        if self._default_experiment_checked:
            return
        try:
            self._rpc.read(
                "GetExperiment", query_pb2.GetExperimentRequest(experiment_id=DEFAULT_EXPERIMENT_ID)
            )
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            try:
                self._rpc.write(
                    "CreateExperiment",
                    write_pb2.CreateExperimentRequest(
                        name=DEFAULT_EXPERIMENT_NAME, experiment_id=DEFAULT_EXPERIMENT_ID
                    ),
                )
            except MlflowException as create_exc:
                if create_exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
        self._default_experiment_checked = True

    def _experiment_pb(self, experiment_id: str) -> common_pb2.Experiment:
        self._ensure_default_experiment()
        response = self._rpc.read(
            "GetExperiment", query_pb2.GetExperimentRequest(experiment_id=str(experiment_id))
        )
        return response.experiment

    def _to_experiment(self, pb: common_pb2.Experiment) -> Experiment:
        experiment = convert.experiment_from_proto(pb, self.artifact_root_uri)
        self._locations[experiment.experiment_id] = experiment.artifact_location or ""
        return experiment

    def _experiment_location(self, experiment_id: str) -> str:
        location = self._locations.get(experiment_id)
        if location is None:
            try:
                location = self._to_experiment(self._experiment_pb(experiment_id)).artifact_location
            except MlflowException:
                location = ""
        return location or ""

    def _to_run(self, pb: common_pb2.Run) -> Run:
        run = convert.run_from_proto(pb, self._run_location(pb.info))
        self._remember(run.info, {p.key: p.value for p in pb.data.params})
        return run

    def _run_location(self, info: common_pb2.RunInfo) -> str:
        return "" if info.artifact_uri else self._experiment_location(info.experiment_id)

    def _remember(self, info: RunInfo, params: dict[str, str] | None) -> None:
        with self._lock:
            state = _RunState(info)
            if params is not None:
                state.params, state.params_known = dict(params), True
            self._runs[info.run_id] = state

    def _read_run(self, run_id: str) -> Run:
        response = self._rpc.read("GetRun", query_pb2.GetRunRequest(run_id=run_id))
        return self._to_run(response.run)

    def _run_state(self, run_id: str, need_params: bool = False) -> _RunState:
        """The run's state; read (with the write token) unless known from this store."""
        with self._lock:
            state = self._runs.get(run_id)
        if state is None or (need_params and not state.params_known):
            self._read_run(run_id)
            with self._lock:
                state = self._runs[run_id]
        return state

    @staticmethod
    def _check_run_is_active(run_id: str, state: _RunState) -> None:
        if state.lifecycle_stage != LifecycleStage.ACTIVE:
            raise MlflowException(
                f"The run {run_id} must be in the 'active' state. "
                f"Current state is {state.lifecycle_stage}.",
                INVALID_PARAMETER_VALUE,
            )

    @staticmethod
    def _check_experiment_is_active(experiment: common_pb2.Experiment) -> None:
        if (experiment.lifecycle_stage or LifecycleStage.ACTIVE) != LifecycleStage.ACTIVE:
            raise MlflowException(
                f"The experiment {experiment.experiment_id} must be in the 'active' state. "
                f"Current state is {experiment.lifecycle_stage}.",
                INVALID_PARAMETER_VALUE,
            )

    @staticmethod
    def _validate_max_results(max_results: int | None, allow_null: bool = False) -> None:
        if (not allow_null and max_results is None) or (
            max_results is not None and max_results < 1
        ):
            raise MlflowException(
                f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
                f"a positive integer",
                INVALID_PARAMETER_VALUE,
            )
        if max_results is not None and max_results > SEARCH_MAX_RESULTS_THRESHOLD:
            raise MlflowException(
                f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at "
                f"most {SEARCH_MAX_RESULTS_THRESHOLD}",
                INVALID_PARAMETER_VALUE,
            )

    # -------------------------------------------------------------- experiments

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] | None = None,
    ) -> str:
        _validate_experiment_name(name)
        if artifact_location:
            artifact_location = resolve_uri_if_local(artifact_location)
            _validate_experiment_artifact_location_length(artifact_location)
        for tag in tags or ():
            _validate_experiment_tag(tag.key, tag.value)
        if self.get_experiment_by_name(name) is not None:
            raise MlflowException(
                f"Experiment(name={name}) already exists.", RESOURCE_ALREADY_EXISTS
            )
        experiment_id = self._free_experiment_id(name)
        if not artifact_location:
            artifact_location = append_to_uri_path(self.artifact_root_uri, experiment_id)
        response = self._rpc.write(
            "CreateExperiment",
            write_pb2.CreateExperimentRequest(
                name=name,
                artifact_location=artifact_location,
                tags=convert.tags_to_proto(tags or ()),
                experiment_id=experiment_id,
            ),
        )
        return str(response.experiment_id)

    def _free_experiment_id(self, name: str) -> str:
        """The id runstream derives from ``name``, unless an experiment renamed away from
        ``name`` holds it: then the next free id derived from ``name`` and a counter.  Both
        are deterministic, so concurrent creators of one name still agree."""
        candidate = experiment_id_for_name(name)
        for attempt in range(1, 100):
            try:
                self._experiment_pb(candidate)
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return candidate
                raise
            candidate = experiment_id_for_name(f"{name}\n{attempt}")
        raise MlflowException(f"no free experiment id for {name!r}", INVALID_STATE)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._to_experiment(self._experiment_pb(str(experiment_id)))

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        self._ensure_default_experiment()
        try:
            response = self._rpc.read(
                "GetExperimentByName", query_pb2.GetExperimentByNameRequest(name=experiment_name)
            )
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return self._to_experiment(response.experiment)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        self._validate_max_results(max_results)
        SearchExperimentsUtils.parse_search_filter(filter_string)
        for clause in order_by or ():
            SearchExperimentsUtils.parse_order_by_for_search_experiments(clause)
        self._ensure_default_experiment()
        response = self._rpc.read(
            "SearchExperiments",
            query_pb2.SearchExperimentsRequest(
                filter=filter_string or "",
                max_results=max_results,
                order_by=list(order_by or ()),
                page_token=page_token or "",
                view_type=convert.view_type_to_proto(view_type),
            ),
        )
        experiments = [self._to_experiment(e) for e in response.experiments]
        return PagedList(experiments, response.next_page_token or None)

    def delete_experiment(self, experiment_id: str) -> None:
        experiment = self._experiment_pb(experiment_id)
        if experiment.lifecycle_stage == LifecycleStage.DELETED:
            raise MlflowException(
                f"No Experiment with id={experiment_id} exists", RESOURCE_DOES_NOT_EXIST
            )
        # As in MLflow, deleting an experiment deletes its runs.
        for run_id in self._run_ids_of(str(experiment_id), ViewType.ACTIVE_ONLY):
            self._rpc.write("DeleteRun", write_pb2.RunRef(run_id=run_id))
        self._rpc.write(
            "DeleteExperiment", write_pb2.ExperimentRef(experiment_id=str(experiment_id))
        )
        self._forget_runs_of(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        experiment = self._experiment_pb(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.DELETED:
            raise MlflowException(
                f"No Experiment with id={experiment_id} exists", RESOURCE_DOES_NOT_EXIST
            )
        self._rpc.write(
            "RestoreExperiment", write_pb2.ExperimentRef(experiment_id=str(experiment_id))
        )
        # As in MLflow, restoring an experiment restores all its runs.
        for run_id in self._run_ids_of(str(experiment_id), ViewType.DELETED_ONLY):
            self._rpc.write("RestoreRun", write_pb2.RunRef(run_id=run_id))
        self._forget_runs_of(str(experiment_id))

    def _run_ids_of(self, experiment_id: str, view_type: int) -> list[str]:
        run_ids: list[str] = []
        token = ""
        while True:
            response = self._rpc.read(
                "SearchRuns",
                query_pb2.SearchRunsRequest(
                    experiment_ids=[experiment_id],
                    run_view_type=convert.view_type_to_proto(view_type),
                    max_results=_ALL_PAGE_SIZE,
                    page_token=token,
                ),
            )
            run_ids.extend(r.info.run_id for r in response.runs)
            token = response.next_page_token
            if not token:
                return run_ids

    def _forget_runs_of(self, experiment_id: str) -> None:
        """Deleting or restoring an experiment changes its runs' stage: read them again."""
        with self._lock:
            known = self._runs.items()
            for run_id in [r for r, s in known if s.info.experiment_id == experiment_id]:
                del self._runs[run_id]

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        _validate_experiment_name(new_name)
        experiment = self._experiment_pb(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise MlflowException("Cannot rename a non-active experiment.", INVALID_STATE)
        if experiment.name == new_name:
            return
        other = self.get_experiment_by_name(new_name)
        if other is not None:
            # MLflow's SQL store answers BAD_REQUEST here (its unique-name constraint).
            raise MlflowException(
                f"Cannot rename experiment {experiment_id} to '{new_name}': "
                f"Experiment(name={new_name}) already exists.",
                BAD_REQUEST,
            )
        self._rpc.write(
            "RenameExperiment",
            write_pb2.RenameExperimentRequest(experiment_id=str(experiment_id), new_name=new_name),
        )

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        _validate_experiment_tag(tag.key, tag.value)
        experiment = self._experiment_pb(experiment_id)
        self._check_experiment_is_active(experiment)
        self._rpc.write(
            "SetExperimentTag",
            write_pb2.SetExperimentTagRequest(
                experiment_id=str(experiment_id), key=tag.key, value=str(tag.value)
            ),
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        raise _not_supported("Deleting an experiment tag")

    # --------------------------------------------------------------------- runs

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag] | None,
        run_name: str | None,
    ) -> Run:
        experiment_id = str(experiment_id or DEFAULT_EXPERIMENT_ID)
        experiment = self._experiment_pb(experiment_id)
        self._check_experiment_is_active(experiment)
        tag_list = list(tags or [])
        run_name_tag = next((t.value for t in tag_list if t.key == MLFLOW_RUN_NAME), None)
        if run_name and run_name_tag and run_name != run_name_tag:
            raise MlflowException(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{run_name}', mlflow.runName='{run_name_tag}').",
                INVALID_PARAMETER_VALUE,
            )
        run_name = run_name or run_name_tag or _generate_random_name()
        if not run_name_tag:
            tag_list.append(RunTag(MLFLOW_RUN_NAME, run_name))
        parent = next((t.value for t in tag_list if t.key == MLFLOW_PARENT_RUN_ID), "")
        start = int(start_time) if start_time is not None else int(time.time() * 1000)
        response = self._rpc.write(
            "CreateRun",
            write_pb2.CreateRunRequest(
                experiment_id=experiment_id,
                run_name=run_name,
                user_id=user_id or "",
                start_time=start,
                tags=convert.tags_to_proto(tag_list),
                parent_run_id=parent,
                run_id=uuid.uuid4().hex,
            ),
        )
        info_pb = response.run
        location = "" if info_pb.artifact_uri else self._experiment_location(experiment_id)
        info = convert.run_info_from_proto(info_pb, location)
        # What the gateway echoes may be partial: fill in what this call defined.
        info = RunInfo(
            run_id=info.run_id,
            experiment_id=info.experiment_id or experiment_id,
            user_id=info.user_id or (user_id or ""),
            status=info.status,
            start_time=info.start_time or start,
            end_time=info.end_time,
            lifecycle_stage=LifecycleStage.ACTIVE,
            artifact_uri=info.artifact_uri,
            run_name=info.run_name or run_name,
        )
        self._remember(info, {})
        return Run(info, RunData(tags=tag_list), RunInputs(dataset_inputs=[]))

    def get_run(self, run_id: str) -> Run:
        return self._read_run(run_id)

    def update_run_info(
        self, run_id: str, run_status: int | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        state = self._run_state(run_id)
        self._check_run_is_active(run_id, state)
        request = write_pb2.UpdateRunRequest(
            run_id=run_id, status=convert.run_status_to_proto(run_status)
        )
        if end_time is not None:
            request.end_time = int(end_time)
        if run_name:
            request.run_name = run_name
        self._rpc.write("UpdateRun", request)
        if run_name:
            # The run name is also the mlflow.runName tag, as in MLflow's stores.
            self._rpc.write(
                "LogBatch",
                write_pb2.LogBatchRequest(
                    run_id=run_id, tags=[common_pb2.Tag(key=MLFLOW_RUN_NAME, value=run_name)]
                ),
            )
        return self._update_info(
            run_id,
            status=convert.run_status_name(request.status) if run_status is not None else None,
            end_time=int(end_time) if end_time is not None else None,
            run_name=run_name or None,
        )

    def _update_info(self, run_id: str, **changes: Any) -> RunInfo:
        """This store's view of a run after its own write (``None``: unchanged)."""
        with self._lock:
            state = self._runs.get(run_id)
            if state is None:
                raise MlflowException(f"Run with id={run_id} not found", RESOURCE_DOES_NOT_EXIST)
            old = state.info
            values = {
                "run_id": old.run_id,
                "experiment_id": old.experiment_id,
                "user_id": old.user_id,
                "status": old.status,
                "start_time": old.start_time,
                "end_time": old.end_time,
                "lifecycle_stage": old.lifecycle_stage,
                "artifact_uri": old.artifact_uri,
                "run_name": old.run_name,
            }
            values.update({k: v for k, v in changes.items() if v is not None})
            state.info = RunInfo(**values)
            return state.info

    def delete_run(self, run_id: str) -> None:
        self._run_state(run_id)  # an unknown run is an error, as in MLflow's stores
        self._rpc.write("DeleteRun", write_pb2.RunRef(run_id=run_id))
        self._update_info(run_id, lifecycle_stage=LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._run_state(run_id)
        self._rpc.write("RestoreRun", write_pb2.RunRef(run_id=run_id))
        self._update_info(run_id, lifecycle_stage=LifecycleStage.ACTIVE)

    # --------------------------------------------------- params, metrics, tags

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        _validate_run_id(run_id)
        metrics, params, tags = _validate_batch_log_data(
            list(metrics or []), list(params or []), list(tags or [])
        )
        _validate_batch_log_limits(metrics, params, tags)
        _validate_param_keys_unique(params)
        self._send_batch(run_id, metrics, params, tags)

    def log_metric(self, run_id: str, metric: Metric) -> None:
        _validate_metric(metric.key, metric.value, metric.timestamp, metric.step)
        self._send_batch(run_id, [metric], [], [])

    def log_param(self, run_id: str, param: Param) -> None:
        param = _validate_param(param.key, param.value)
        self._send_batch(run_id, [], [param], [])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        tag = _validate_tag(tag.key, tag.value)
        self._send_batch(run_id, [], [], [tag])

    def _send_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        state = self._run_state(run_id, need_params=bool(params))
        self._check_run_is_active(run_id, state)
        new_params: list[Param] = []
        if params:
            conflicts = [
                {"key": p.key, "old_value": state.params[p.key], "new_value": p.value}
                for p in params
                if p.key in state.params and state.params[p.key] != p.value
            ]
            if conflicts:
                if len(params) == 1:
                    p, old = params[0], state.params[params[0].key]
                    raise MlflowException(
                        f"Changing param values is not allowed. Param with key='{p.key}' was"
                        f" already logged with value='{old}' for run ID='{run_id}'. Attempted"
                        f" logging new value '{p.value}'.",
                        INVALID_PARAMETER_VALUE,
                    )
                raise MlflowException(
                    "Changing param values is not allowed. Params were already"
                    f" logged='{conflicts}' for run ID='{run_id}'.",
                    INVALID_PARAMETER_VALUE,
                )
            new_params = [p for p in params if p.key not in state.params]
        # Identical points collapse, as in MLflow's stores.
        unique_metrics = list(dict.fromkeys(metrics))
        if not (unique_metrics or new_params or tags):
            return
        self._rpc.write(
            "LogBatch",
            write_pb2.LogBatchRequest(
                run_id=run_id,
                metrics=convert.metrics_to_proto(unique_metrics),
                params=convert.params_to_proto(new_params),
                tags=convert.tags_to_proto(tags),
            ),
        )
        with self._lock:
            for p in new_params:
                state.params[p.key] = p.value
        name = next((t.value for t in reversed(tags) if t.key == MLFLOW_RUN_NAME), None)
        if name:
            # Setting the mlflow.runName tag renames the run, as in MLflow's stores.
            self._rpc.write("UpdateRun", write_pb2.UpdateRunRequest(run_id=run_id, run_name=name))
            self._update_info(run_id, run_name=name)

    def delete_tag(self, run_id: str, key: str) -> None:
        run = self._read_run(run_id)
        self._check_run_is_active(run_id, self._run_state(run_id))
        if key not in run.data.tags:
            raise MlflowException(
                f"No tag with name: {key} in run with id {run_id}",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        self._rpc.write("DeleteTag", write_pb2.DeleteTagRequest(run_id=run_id, key=key))

    # ------------------------------------------------------------------ metrics

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
            response = self._rpc.read(
                "GetMetricHistory",
                query_pb2.GetMetricHistoryRequest(
                    run_id=run_id,
                    metric_key=metric_key,
                    max_results=max_results or 0,
                    page_token=token,
                ),
            )
            metrics.extend(convert.metric_from_proto(m) for m in response.metrics)
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

    # ------------------------------------------------------------------- search

    def _search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        run_view_type: int,
        max_results: int | None,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        self._validate_max_results(max_results, allow_null=True)
        SearchUtils.parse_search_filter(filter_string)
        for clause in order_by or ():
            SearchUtils.parse_order_by_for_search_runs(clause)
        runs: list[Run] = []
        token = page_token or ""
        while True:
            response = self._rpc.read(
                "SearchRuns",
                query_pb2.SearchRunsRequest(
                    experiment_ids=[str(e) for e in experiment_ids],
                    filter=filter_string or "",
                    run_view_type=convert.view_type_to_proto(run_view_type),
                    max_results=max_results if max_results is not None else _ALL_PAGE_SIZE,
                    order_by=list(order_by or ()),
                    page_token=token,
                ),
            )
            runs.extend(self._to_run(r) for r in response.runs)
            token = response.next_page_token
            if max_results is not None or not token:
                break
        return runs, token or None

    def _search_datasets(self, experiment_ids: Sequence[str]) -> list[Any]:
        return []

    # ------------------------------------------- inputs, outputs, logged models

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[Any] | None = None,
        models: Sequence[Any] | None = None,
    ) -> None:
        _validate_run_id(run_id)
        if datasets:
            raise _not_supported("Logging dataset inputs")
        if models:
            raise _not_supported("Logging model inputs")

    def log_outputs(self, run_id: str, models: Sequence[Any]) -> None:
        if models:
            raise _not_supported("Logging model outputs")

    def record_logged_model(self, run_id: str, mlflow_model: Any) -> None:
        raise _not_supported("Recording a logged model")

    def create_logged_model(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_supported("Logged models")

    def search_logged_models(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> Any:
        raise MlflowException(
            f"Logged model with ID '{model_id}' not found: the runstream tracking store holds "
            "no logged models.",
            RESOURCE_DOES_NOT_EXIST,
        )

    def finalize_logged_model(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_supported("Logged models")

    def set_logged_model_tags(self, *args: Any, **kwargs: Any) -> None:
        raise _not_supported("Logged models")

    def delete_logged_model_tag(self, *args: Any, **kwargs: Any) -> None:
        raise _not_supported("Logged models")

    def delete_logged_model(self, *args: Any, **kwargs: Any) -> None:
        raise _not_supported("Logged models")

    # ------------------------------------------------------------------- traces

    def start_trace(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_supported("Tracing")

    def log_spans(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_supported("Tracing")

    def get_trace_info(self, trace_id: str) -> Any:
        raise _not_supported("Tracing")

    def get_trace(self, trace_id: str, *, allow_partial: bool = False) -> Any:
        raise _not_supported("Tracing")

    def batch_get_traces(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_supported("Tracing")

    def batch_get_trace_infos(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_supported("Tracing")

    def search_traces(self, *args: Any, **kwargs: Any) -> tuple[list[Any], str | None]:
        return [], None

    def set_trace_tag(self, *args: Any, **kwargs: Any) -> None:
        raise _not_supported("Tracing")

    def delete_trace_tag(self, *args: Any, **kwargs: Any) -> None:
        raise _not_supported("Tracing")

    def _delete_traces(self, *args: Any, **kwargs: Any) -> int:
        raise _not_supported("Tracing")

    def link_traces_to_run(self, trace_ids: list[str], run_id: str) -> None:
        raise _not_supported("Linking traces to runs")

    def create_assessment(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_supported("Assessments")

    def get_assessment(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_supported("Assessments")

    def create_dataset(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_supported("Evaluation datasets")

    def search_datasets(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)
