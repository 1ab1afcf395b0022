"""What every part of the tracking store shares: the RPC client, the artifact root, what
this store knows of experiments and runs between reads, and MLflow's state checks.

Reads go through :class:`~..rpc.RunstreamRpc`, which carries this store's merged write
token, so every read here sees this store's own writes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities import Experiment, Run, RunInfo
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.tracking import (
    DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH,
    SEARCH_MAX_RESULTS_THRESHOLD,
)
from mlflow.tracking._tracking_service.utils import _SERVER_ARTIFACT_ROOT_ENV_VAR
from mlflow.utils.uri import resolve_uri_if_local

from runstream.proto.settings import Env
from runstream.proto.tokens import WriteToken
from runstream.proto.v1 import common_pb2, query_pb2, write_pb2
from runstream.proto.vocabulary import (
    ACTIVE,
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
)

from .. import convert, model_convert
from ..rpc import (
    RunstreamRpc,
    experiment_scope,
    experiment_write_scopes,
    run_scope,
    run_search_scopes,
)
from ..unsupported import UnsupportedTracking
from .created import CreatedRuns

# Page size used when MLflow asks for "everything" (max_results=None).
ALL_PAGE_SIZE = SEARCH_MAX_RESULTS_THRESHOLD
# How long an experiment as read may answer create_run's "experiment is active" check,
# unless this store wrote to the experiment since (then it is read again).
EXPERIMENT_STATE_SECONDS = 2.0


@dataclass
class RunState:
    """What this store knows of a run between reads: its info as last read or written by
    this store, and its params when known.  Enough for MLflow's state checks without a
    read (which waits for ingest) on every write."""

    info: RunInfo
    params: dict[str, str] = field(default_factory=dict)
    params_known: bool = False

    @property
    def lifecycle_stage(self) -> str:
        return str(self.info.lifecycle_stage)


class StoreCore(UnsupportedTracking):
    """The tracking store's shared state and helpers; the MLflow API lives in the
    subclasses (:mod:`.experiments`, :mod:`.runs`)."""

    def __init__(self, store_uri: str, artifact_uri: str | None = None) -> None:
        super().__init__()
        self.store_uri = store_uri
        # Where artifacts of new experiments go, as MLflow's SQL store decides it: the
        # server's root when MLflow runs as a server, else ./mlruns.
        root = artifact_uri or Env().text(
            _SERVER_ARTIFACT_ROOT_ENV_VAR, DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
        )
        self.artifact_root_uri = resolve_uri_if_local(root)
        self._rpc = RunstreamRpc.from_uri(store_uri)
        self._created = CreatedRuns()
        self._rpc.before_write = self._created.writing
        self._lock = threading.Lock()
        self._default_experiment_checked = False
        self._runs: dict[str, RunState] = {}
        # Artifact location per experiment id (it never changes once created).
        self._locations: dict[str, str] = {}
        # Experiments as last read: (when, this store's token for it then, the experiment).
        self._experiments: dict[str, tuple[float, WriteToken, common_pb2.Experiment]] = {}

    # ------------------------------------------------------------- experiments

    def _ensure_default_experiment(self) -> None:
        """MLflow's clients assume experiment "0" ("Default") exists: create it once."""
        if self._default_experiment_checked:
            return
        try:
            self._rpc.get_experiment(
                query_pb2.GetExperimentRequest(experiment_id=DEFAULT_EXPERIMENT_ID),
                (experiment_scope(DEFAULT_EXPERIMENT_ID),),
            )
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            try:
                self._rpc.create_experiment(
                    write_pb2.CreateExperimentRequest(
                        name=DEFAULT_EXPERIMENT_NAME, experiment_id=DEFAULT_EXPERIMENT_ID
                    ),
                    experiment_write_scopes(DEFAULT_EXPERIMENT_ID),
                )
            except MlflowException as create_exc:
                if create_exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
        self._default_experiment_checked = True

    def _experiment_pb(self, experiment_id: str, max_age_s: float = 0.0) -> common_pb2.Experiment:
        """The experiment, read with this store's token for it; ``max_age_s``: as read
        within that many seconds, if this store has not written to it since."""
        eid = str(experiment_id)
        scope = (experiment_scope(eid),)
        token = self._rpc.tokens.for_scopes(scope)
        now = time.monotonic()
        with self._lock:
            known = self._experiments.get(eid)
        if known is not None and now - known[0] <= max_age_s and known[1] == token:
            return known[2]
        self._ensure_default_experiment()
        request = query_pb2.GetExperimentRequest(experiment_id=eid)
        response = self._rpc.get_experiment(request, scope)
        with self._lock:
            if len(self._experiments) >= ALL_PAGE_SIZE:
                self._experiments.clear()
            self._experiments[eid] = (now, token, response.experiment)
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

    @staticmethod
    def _check_experiment_is_active(experiment: common_pb2.Experiment) -> None:
        if (experiment.lifecycle_stage or ACTIVE) != ACTIVE:
            raise MlflowException(
                f"The experiment {experiment.experiment_id} must be in the 'active' state. "
                f"Current state is {experiment.lifecycle_stage}.",
                INVALID_PARAMETER_VALUE,
            )

    def _run_ids_of(self, experiment_id: str, view_type: int) -> list[str]:
        run_ids: list[str] = []
        token = ""
        while True:
            response = self._rpc.search_runs(
                query_pb2.SearchRunsRequest(
                    experiment_ids=[experiment_id],
                    run_view_type=convert.view_type_to_proto(view_type),
                    max_results=ALL_PAGE_SIZE,
                    page_token=token,
                ),
                run_search_scopes([experiment_id]),
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

    # -------------------------------------------------------------------- runs

    def _to_run(self, pb: common_pb2.Run) -> Run:
        """A run as the read side answered it (what this store created is not answered
        from its creation any more: see :mod:`.created`)."""
        self._created.forget(pb.info.run_id)
        run = convert.run_from_proto(pb, self._run_location(pb.info))
        self._remember(run.info, {p.key: p.value for p in pb.data.params})
        return run

    def _run_location(self, info: common_pb2.RunInfo) -> str:
        return "" if info.artifact_uri else self._experiment_location(info.experiment_id)

    def _remember(self, info: RunInfo, params: dict[str, str] | None) -> None:
        with self._lock:
            state = RunState(info)
            if params is not None:
                state.params, state.params_known = dict(params), True
            self._runs[info.run_id] = state

    def _read_run(self, run_id: str) -> Run:
        response = self._rpc.get_run(query_pb2.GetRunRequest(run_id=run_id), (run_scope(run_id),))
        return self._to_run(response.run)

    def _run_state(self, run_id: str, need_params: bool = False) -> RunState:
        """The run's state; read (with the write token) unless known from this store."""
        with self._lock:
            state = self._runs.get(run_id)
        if state is None or (need_params and not state.params_known):
            self._read_run(run_id)
            with self._lock:
                state = self._runs[run_id]
        return state

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

    def _log_model_metrics(self, run_id: str, state: RunState, metrics: list[Any]) -> None:
        """Points that name a logged model also go to the model's metrics, as in MLflow's
        SQL store (with the dataset they were computed on)."""
        named = [m for m in metrics if getattr(m, "model_id", None)]
        if not named:
            return
        self._rpc.log_model_metrics(
            write_pb2.LogModelMetricsRequest(
                run_id=run_id,
                experiment_id=str(state.info.experiment_id),
                metrics=model_convert.model_metrics_to_proto(named),
            )
        )

    @staticmethod
    def _check_run_is_active(run_id: str, state: RunState) -> None:
        if state.lifecycle_stage != ACTIVE:
            raise MlflowException(
                f"The run {run_id} must be in the 'active' state. "
                f"Current state is {state.lifecycle_stage}.",
                INVALID_PARAMETER_VALUE,
            )

    # ------------------------------------------------------------------ search

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
