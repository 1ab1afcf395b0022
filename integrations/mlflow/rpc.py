"""The MLflow plugin's typed client of runstream's WriteService and QueryService.

This is the only module of the plugin that imports grpc.  It owns four things:

* one method per RPC the plugin uses, typed with the generated messages
  (``get_experiment(GetExperimentRequest) -> ExperimentResponse``).  Each is declared
  once as a :class:`Unary` (service, method name, request and response class), checked
  against the services' descriptors when this module is imported, and called through the
  generated stubs;
* the channel, opened from :class:`~.settings.ClientSettings` by
  ``runstream.proto.rpc.open_channel`` (TLS when asked, bearer token as call metadata);
* read-your-writes: every write's ``WriteToken`` is kept per scope (the run, the runs of
  its experiment, the experiment, the experiment list: ``runstream.proto.tokens.ScopedTokens``)
  and a read carries the token of the scopes it reads, so it waits until ingest applied
  what this client wrote about them, not every write of the client (inside ``mlflow
  server`` one store serves every caller: a read about one run does not wait for other
  callers' logging to other runs).  A write or read that names no scope falls back to the
  client's one merged token;
* the one map from runstream's error codes (trailing metadata ``runstream-error-code``,
  else the gRPC status) to ``MlflowException`` error codes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import grpc
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from runstream.proto.errors import SettingsError
from runstream.proto.rpc import error_code_of, open_channel
from runstream.proto.tokens import ScopedTokens, WriteToken
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc, write_pb2, write_pb2_grpc

from .model_rpc import ModelRpc
from .rpc_methods import QUERY_SERVICE, WRITE_SERVICE, Unary, unary
from .settings import ClientSettings

# runstream ErrorCode name -> MLflow error code (databricks_pb2).  The one place.
_MLFLOW_CODE_BY_RUNSTREAM: dict[str, int] = {
    "INTERNAL_ERROR": databricks_pb2.INTERNAL_ERROR,
    "INVALID_PARAMETER_VALUE": databricks_pb2.INVALID_PARAMETER_VALUE,
    "RESOURCE_DOES_NOT_EXIST": databricks_pb2.RESOURCE_DOES_NOT_EXIST,
    "RESOURCE_ALREADY_EXISTS": databricks_pb2.RESOURCE_ALREADY_EXISTS,
    "INVALID_STATE": databricks_pb2.INVALID_STATE,
    "UNAUTHENTICATED": databricks_pb2.UNAUTHENTICATED,
    "TEMPORARILY_UNAVAILABLE": databricks_pb2.TEMPORARILY_UNAVAILABLE,
    "RESOURCE_EXHAUSTED": databricks_pb2.RESOURCE_EXHAUSTED,
    "DEADLINE_EXCEEDED": databricks_pb2.DEADLINE_EXCEEDED,
    "PERMISSION_DENIED": databricks_pb2.PERMISSION_DENIED,
}

# Used when the server attached no runstream error code (e.g. it was unreachable).
_MLFLOW_CODE_BY_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: databricks_pb2.INVALID_PARAMETER_VALUE,
    grpc.StatusCode.NOT_FOUND: databricks_pb2.RESOURCE_DOES_NOT_EXIST,
    grpc.StatusCode.ALREADY_EXISTS: databricks_pb2.RESOURCE_ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION: databricks_pb2.INVALID_STATE,
    grpc.StatusCode.UNAUTHENTICATED: databricks_pb2.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: databricks_pb2.PERMISSION_DENIED,
    grpc.StatusCode.UNAVAILABLE: databricks_pb2.TEMPORARILY_UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED: databricks_pb2.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED: databricks_pb2.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNIMPLEMENTED: databricks_pb2.NOT_IMPLEMENTED,
    grpc.StatusCode.CANCELLED: databricks_pb2.CANCELLED,
}


def mlflow_error(error: grpc.RpcError, target: str, method: str) -> MlflowException:
    """The MlflowException for a failed runstream call."""
    name = error_code_of(error)
    status = error.code() if callable(getattr(error, "code", None)) else None
    details = error.details() if callable(getattr(error, "details", None)) else None
    if name in _MLFLOW_CODE_BY_RUNSTREAM:
        code = _MLFLOW_CODE_BY_RUNSTREAM[name]
    elif isinstance(status, grpc.StatusCode):
        code = _MLFLOW_CODE_BY_STATUS.get(status, databricks_pb2.INTERNAL_ERROR)
    else:
        code = databricks_pb2.INTERNAL_ERROR
    if status == grpc.StatusCode.UNAVAILABLE and name is None:
        message = f"runstream at {target} is unreachable ({method}): {details}"
    elif status == grpc.StatusCode.UNIMPLEMENTED and name is None:
        message = f"the runstream server at {target} does not implement {method}"
    else:
        message = details or f"runstream call {method} failed with {status}"
    return MlflowException(message, error_code=code)


# ------------------------------------------------------------------ the methods

ReqT = TypeVar("ReqT")
RespT = TypeVar("RespT")

_WRITE, _QUERY = WRITE_SERVICE, QUERY_SERVICE
# WriteService
CREATE_EXPERIMENT = unary(
    _WRITE,
    "CreateExperiment",
    write_pb2.CreateExperimentRequest,
    write_pb2.CreateExperimentResponse,
)
RENAME_EXPERIMENT = unary(
    _WRITE, "RenameExperiment", write_pb2.RenameExperimentRequest, write_pb2.WriteResponse
)
DELETE_EXPERIMENT = unary(
    _WRITE, "DeleteExperiment", write_pb2.ExperimentRef, write_pb2.WriteResponse
)
RESTORE_EXPERIMENT = unary(
    _WRITE, "RestoreExperiment", write_pb2.ExperimentRef, write_pb2.WriteResponse
)
SET_EXPERIMENT_TAG = unary(
    _WRITE, "SetExperimentTag", write_pb2.SetExperimentTagRequest, write_pb2.WriteResponse
)
CREATE_RUN = unary(_WRITE, "CreateRun", write_pb2.CreateRunRequest, write_pb2.CreateRunResponse)
UPDATE_RUN = unary(_WRITE, "UpdateRun", write_pb2.UpdateRunRequest, write_pb2.WriteResponse)
DELETE_RUN = unary(_WRITE, "DeleteRun", write_pb2.RunRef, write_pb2.WriteResponse)
RESTORE_RUN = unary(_WRITE, "RestoreRun", write_pb2.RunRef, write_pb2.WriteResponse)
DELETE_TAG = unary(_WRITE, "DeleteTag", write_pb2.DeleteTagRequest, write_pb2.WriteResponse)
LOG_BATCH = unary(_WRITE, "LogBatch", write_pb2.LogBatchRequest, write_pb2.WriteResponse)
# QueryService
GET_EXPERIMENT = unary(
    _QUERY, "GetExperiment", query_pb2.GetExperimentRequest, query_pb2.ExperimentResponse
)
GET_EXPERIMENT_BY_NAME = unary(
    _QUERY,
    "GetExperimentByName",
    query_pb2.GetExperimentByNameRequest,
    query_pb2.ExperimentResponse,
)
SEARCH_EXPERIMENTS = unary(
    _QUERY,
    "SearchExperiments",
    query_pb2.SearchExperimentsRequest,
    query_pb2.SearchExperimentsResponse,
)
GET_RUN = unary(_QUERY, "GetRun", query_pb2.GetRunRequest, query_pb2.GetRunResponse)
SEARCH_RUNS = unary(_QUERY, "SearchRuns", query_pb2.SearchRunsRequest, query_pb2.SearchRunsResponse)
GET_METRIC_HISTORY = unary(
    _QUERY,
    "GetMetricHistory",
    query_pb2.GetMetricHistoryRequest,
    query_pb2.GetMetricHistoryResponse,
)
GET_METRIC_HISTORY_COLUMNS = unary(
    _QUERY,
    "GetMetricHistoryColumns",
    query_pb2.GetMetricHistoryRequest,
    query_pb2.GetMetricHistoryColumnsResponse,
)
GET_LATEST_METRICS_BY_CONTEXT = unary(
    _QUERY,
    "GetLatestMetricsByContext",
    query_pb2.GetLatestMetricsByContextRequest,
    query_pb2.GetLatestMetricsByContextResponse,
)
GET_SAMPLED_METRIC_HISTORIES = unary(
    _QUERY,
    "GetSampledMetricHistories",
    query_pb2.GetSampledMetricHistoriesRequest,
    query_pb2.GetSampledMetricHistoriesResponse,
)


# ------------------------------------------------------------------- read scopes
# What a write concerns and a read reads, for read-your-writes per scope (see the module
# docstring).  The list of experiments is one scope: creating, renaming, deleting one
# changes what a search or a lookup by name answers.
EXPERIMENTS = "experiments"


def experiment_scope(experiment_id: str) -> str:
    return f"experiment:{experiment_id}"


def runs_scope(experiment_id: str) -> str:
    """The runs of one experiment (what a run search in it reads)."""
    return f"runs-of:{experiment_id}"


def run_scope(run_id: str) -> str:
    return f"run:{run_id}"


def run_write_scopes(run_id: str, experiment_id: str) -> tuple[str, ...]:
    """A write to a run concerns the run and the runs of its experiment."""
    return (run_scope(run_id), runs_scope(experiment_id))


def experiment_write_scopes(experiment_id: str) -> tuple[str, ...]:
    """A write to an experiment concerns it, its runs' search, and the experiment list."""
    return (experiment_scope(experiment_id), runs_scope(experiment_id), EXPERIMENTS)


def run_search_scopes(experiment_ids: Sequence[str]) -> tuple[str, ...]:
    return tuple(s for e in experiment_ids for s in (experiment_scope(e), runs_scope(e)))


class _Acknowledged(Protocol):
    """A write's response: it carries the write's token."""

    @property
    def token(self) -> common_pb2.WriteToken: ...


class _Read(Protocol):
    """A read's request: it carries the read options (write token, wait)."""

    @property
    def read(self) -> query_pb2.ReadOptions: ...


_AckT = TypeVar("_AckT", bound=_Acknowledged)
_ReadT = TypeVar("_ReadT", bound=_Read)


class RunstreamRpc(ModelRpc):
    """Both services on one channel: typed methods (the model half's in
    :class:`~.model_rpc.ModelRpc`), error mapping, write tokens."""

    def __init__(self, settings: ClientSettings) -> None:
        self.target = settings.channel.target
        self._metadata = settings.channel.metadata
        self._timeout = settings.call_timeout
        self._read_wait_ms = settings.read_wait_ms
        try:
            self._channel = open_channel(settings.channel)
        except SettingsError as exc:  # e.g. a TLS CA file that cannot be read
            raise MlflowException.invalid_parameter_value(str(exc)) from None
        # The generated stubs (untyped): reached only through _invoke, by a checked name.
        self._stubs: dict[str, Any] = {
            WRITE_SERVICE.full_name: write_pb2_grpc.WriteServiceStub(self._channel),
            QUERY_SERVICE.full_name: query_pb2_grpc.QueryServiceStub(self._channel),
        }
        self.tokens = ScopedTokens()
        # Told the scopes of each write before it is sent (``()``: unscoped), whatever its
        # outcome: what the store answers from its own writes forgets what it may touch.
        self.before_write: Callable[[Sequence[str]], None] = lambda scope: None

    @classmethod
    def from_uri(cls, store_uri: str) -> RunstreamRpc:
        return cls(ClientSettings.from_uri(store_uri))

    def close(self) -> None:
        self._channel.close()

    # ------------------------------------------------------------ WriteService

    def create_experiment(
        self, request: write_pb2.CreateExperimentRequest, scope: Sequence[str] = ()
    ) -> write_pb2.CreateExperimentResponse:
        return self._write(CREATE_EXPERIMENT, request, scope)

    def rename_experiment(
        self, request: write_pb2.RenameExperimentRequest, scope: Sequence[str] = ()
    ) -> write_pb2.WriteResponse:
        return self._write(RENAME_EXPERIMENT, request, scope)

    def delete_experiment(
        self, request: write_pb2.ExperimentRef, scope: Sequence[str] = ()
    ) -> write_pb2.WriteResponse:
        return self._write(DELETE_EXPERIMENT, request, scope)

    def restore_experiment(
        self, request: write_pb2.ExperimentRef, scope: Sequence[str] = ()
    ) -> write_pb2.WriteResponse:
        return self._write(RESTORE_EXPERIMENT, request, scope)

    def set_experiment_tag(
        self, request: write_pb2.SetExperimentTagRequest, scope: Sequence[str] = ()
    ) -> write_pb2.WriteResponse:
        return self._write(SET_EXPERIMENT_TAG, request, scope)

    def create_run(
        self, request: write_pb2.CreateRunRequest, scope: Sequence[str] = ()
    ) -> write_pb2.CreateRunResponse:
        return self._write(CREATE_RUN, request, scope)

    def update_run(
        self, request: write_pb2.UpdateRunRequest, scope: Sequence[str] = ()
    ) -> write_pb2.WriteResponse:
        return self._write(UPDATE_RUN, request, scope)

    def delete_run(
        self, request: write_pb2.RunRef, scope: Sequence[str] = ()
    ) -> write_pb2.WriteResponse:
        return self._write(DELETE_RUN, request, scope)

    def restore_run(
        self, request: write_pb2.RunRef, scope: Sequence[str] = ()
    ) -> write_pb2.WriteResponse:
        return self._write(RESTORE_RUN, request, scope)

    def delete_tag(
        self, request: write_pb2.DeleteTagRequest, scope: Sequence[str] = ()
    ) -> write_pb2.WriteResponse:
        return self._write(DELETE_TAG, request, scope)

    def log_batch(
        self, request: write_pb2.LogBatchRequest, scope: Sequence[str] = ()
    ) -> write_pb2.WriteResponse:
        return self._write(LOG_BATCH, request, scope)

    # ------------------------------------------------------------ QueryService

    def get_experiment(
        self, request: query_pb2.GetExperimentRequest, scope: Sequence[str] | None = None
    ) -> query_pb2.ExperimentResponse:
        return self._read(GET_EXPERIMENT, request, scope)

    def get_experiment_by_name(
        self, request: query_pb2.GetExperimentByNameRequest, scope: Sequence[str] | None = None
    ) -> query_pb2.ExperimentResponse:
        return self._read(GET_EXPERIMENT_BY_NAME, request, scope)

    def search_experiments(
        self, request: query_pb2.SearchExperimentsRequest, scope: Sequence[str] | None = None
    ) -> query_pb2.SearchExperimentsResponse:
        return self._read(SEARCH_EXPERIMENTS, request, scope)

    def get_run(
        self,
        request: query_pb2.GetRunRequest,
        scope: Sequence[str] | None = None,
        *,
        wait: bool = True,
    ) -> query_pb2.GetRunResponse:
        """``wait=False``: what the read side holds now, waiting for none of this client's
        writes."""
        return self._read(GET_RUN, request, scope, wait=wait)

    def search_runs(
        self, request: query_pb2.SearchRunsRequest, scope: Sequence[str] | None = None
    ) -> query_pb2.SearchRunsResponse:
        return self._read(SEARCH_RUNS, request, scope)

    def get_metric_history(
        self, request: query_pb2.GetMetricHistoryRequest, scope: Sequence[str] | None = None
    ) -> query_pb2.GetMetricHistoryResponse:
        return self._read(GET_METRIC_HISTORY, request, scope)

    def get_latest_metrics_by_context(
        self,
        request: query_pb2.GetLatestMetricsByContextRequest,
        scope: Sequence[str] | None = None,
    ) -> query_pb2.GetLatestMetricsByContextResponse:
        """Per (key, context) of one run: the latest point, and min, max, count."""
        return self._read(GET_LATEST_METRICS_BY_CONTEXT, request, scope)

    def get_sampled_metric_histories(
        self,
        request: query_pb2.GetSampledMetricHistoriesRequest,
        scope: Sequence[str] | None = None,
    ) -> query_pb2.GetSampledMetricHistoriesResponse:
        return self._read(GET_SAMPLED_METRIC_HISTORIES, request, scope)

    def get_metric_history_columns(
        self, request: query_pb2.GetMetricHistoryRequest, scope: Sequence[str] | None = None
    ) -> query_pb2.GetMetricHistoryColumnsResponse:
        """A page of a series as columns (default and at most 100,000 points a page)."""
        return self._read(GET_METRIC_HISTORY_COLUMNS, request, scope)

    # ---------------------------------------------------------------- plumbing

    def _write(self, rpc: Unary[ReqT, _AckT], request: ReqT, scope: Sequence[str] = ()) -> _AckT:
        """A WriteService call; its response's token joins the token of each scope it
        concerns (no scope: every read waits for it)."""
        self.before_write(scope)
        response = self._invoke(rpc, request)
        self.tokens.observe(response.token, scope)  # an unset token has no offsets: ignored
        return response

    def _read(
        self,
        rpc: Unary[_ReadT, RespT],
        request: _ReadT,
        scope: Sequence[str] | None = None,
        *,
        wait: bool = True,
    ) -> RespT:
        """A QueryService call that waits for what this client wrote about ``scope``
        (``None``: everything this client wrote).

        A query service that already has its allowed number of reads waiting for ingest
        answers RESOURCE_EXHAUSTED ("retry later"): the read is retried, backing off from
        20 ms to 1 s with jitter, for as long as the read may wait (``read_wait_ms``).
        Reads change nothing, so a retry is always safe (a registry write's outcome is
        read this way: the write itself is never repeated)."""
        if not wait:
            token = WriteToken()
        elif scope is None:
            token = self.tokens.current()
        else:
            token = self.tokens.for_scopes(scope)
        request.read.CopyFrom(
            query_pb2.ReadOptions(write_token=token.to_proto(), wait_timeout_ms=self._read_wait_ms)
        )
        deadline = time.monotonic() + self._read_wait_ms / 1000.0
        pause = 0.02
        while True:
            try:
                return self._invoke(rpc, request)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_EXHAUSTED" or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 1.0)

    def _invoke(self, rpc: Unary[ReqT, RespT], request: ReqT) -> RespT:
        call: Callable[..., Any] = getattr(self._stubs[rpc.service.full_name], rpc.name)
        try:
            response = call(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise mlflow_error(exc, self.target, rpc.name) from None
        if not isinstance(response, rpc.response):  # the stub's deserializer decides this
            raise TypeError(f"{rpc.name} answered {type(response).__name__}")
        return response
