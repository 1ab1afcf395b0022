"""A stand-in runstream server for unit tests of the MLflow plugin.

It serves the real WriteService and QueryService contracts on a real gRPC port, and keeps
its state in MLflow's own SQLite store.  Like the real pipeline it is eventually
consistent: a write is acknowledged with a token at once but applied only when a read
carrying a token at or past it arrives.  A read that does not carry the writer's token
therefore sees stale state, which is what the read-your-writes tests rely on.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from mlflow.entities import ExperimentTag, Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from runstream.proto.errors import RunstreamError
from runstream.proto.rpc import ErrorInterceptor
from runstream.proto.v1 import (
    common_pb2,
    query_pb2,
    query_pb2_grpc,
    write_pb2,
    write_pb2_grpc,
)

TOPIC = "fake-runs"


class FakeError(RunstreamError):
    def __init__(self, message: str, error_code: int) -> None:
        super().__init__(message, error_code=error_code)  # type: ignore[arg-type]


def _translate(exc: MlflowException) -> FakeError:
    names = common_pb2.ErrorCode.keys()
    code = common_pb2.ErrorCode.Value(exc.error_code) if exc.error_code in names else 1
    return FakeError(exc.message, code)


_VIEW = {
    common_pb2.VIEW_TYPE_UNSPECIFIED: ViewType.ACTIVE_ONLY,
    common_pb2.ACTIVE_ONLY: ViewType.ACTIVE_ONLY,
    common_pb2.DELETED_ONLY: ViewType.DELETED_ONLY,
    common_pb2.ALL: ViewType.ALL,
}


def _experiment_pb(e: Any) -> common_pb2.Experiment:
    return common_pb2.Experiment(
        experiment_id=e.experiment_id,
        name=e.name,
        artifact_location=e.artifact_location or "",
        lifecycle_stage=e.lifecycle_stage,
        creation_time=e.creation_time or 0,
        last_update_time=e.last_update_time or 0,
        tags=[common_pb2.Tag(key=k, value=v) for k, v in e.tags.items()],
    )


def _run_info_pb(i: Any) -> common_pb2.RunInfo:
    pb = common_pb2.RunInfo(
        run_id=i.run_id,
        experiment_id=i.experiment_id,
        run_name=i.run_name or "",
        user_id=i.user_id or "",
        status=common_pb2.RunStatus.Value(i.status),
        start_time=i.start_time or 0,
        artifact_uri="",
        lifecycle_stage=i.lifecycle_stage,
    )
    if i.end_time is not None:
        pb.end_time = i.end_time
    return pb


def _run_pb(r: Any) -> common_pb2.Run:
    return common_pb2.Run(
        info=_run_info_pb(r.info),
        data=common_pb2.RunData(
            metrics=[
                common_pb2.Metric(key=m.key, value=m.value, timestamp=m.timestamp, step=m.step)
                for m in r.data._metric_objs
            ],
            params=[common_pb2.Param(key=k, value=v) for k, v in r.data.params.items()],
            tags=[common_pb2.Tag(key=k, value=v) for k, v in r.data.tags.items()],
        ),
    )


class FakeRunstream:
    """State, write log and counters shared by both servicers."""

    def __init__(self, db_uri: str, artifact_root: str) -> None:
        self.store = SqlAlchemyStore(db_uri, artifact_root)
        self._lock = threading.RLock()
        self._offset = -1
        self._pending: list[tuple[int, Callable[[], None]]] = []
        self.writes: list[str] = []
        self.reads: list[tuple[str, int]] = []  # (method, token offset or -1)
        self.metadata: list[dict[str, str]] = []
        self.hold_back = True  # apply writes only when a read's token reaches them

    def acknowledge(self, method: str, apply: Callable[[], None] | None) -> common_pb2.WriteToken:
        with self._lock:
            self._offset += 1
            self.writes.append(method)
            if apply is not None:
                self._pending.append((self._offset, apply))
                if not self.hold_back:
                    self.catch_up(self._offset)
            return common_pb2.WriteToken(topic=TOPIC, offsets={0: self._offset})

    def catch_up(self, offset: int) -> None:
        with self._lock:
            ready = [(o, f) for o, f in self._pending if o <= offset]
            self._pending = [(o, f) for o, f in self._pending if o > offset]
        for _, apply in ready:
            with contextlib.suppress(MlflowException):  # ingest drops a refused event, too
                apply()

    def read_options(self, method: str, read: query_pb2.ReadOptions) -> None:
        token = read.write_token
        offset = max(token.offsets.values()) if token.offsets else -1
        with self._lock:
            self.reads.append((method, offset))
        self.catch_up(offset)

    def call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except MlflowException as exc:
            raise _translate(exc) from None


class _Write(write_pb2_grpc.WriteServiceServicer):
    def __init__(self, fake: FakeRunstream) -> None:
        self.f = fake

    def _ack(self, method: str, apply: Callable[[], None] | None) -> write_pb2.WriteResponse:
        return write_pb2.WriteResponse(token=self.f.acknowledge(method, apply), events=1)

    def CreateExperiment(self, request: Any, context: Any) -> Any:
        self.f.metadata.append(dict(context.invocation_metadata()))
        store = self.f.store
        if request.experiment_id == "0":
            exp_id = "0"
        else:
            tags = [ExperimentTag(t.key, t.value) for t in request.tags]
            exp_id = self.f.call(
                lambda: store.create_experiment(
                    request.name, request.artifact_location or None, tags
                )
            )
        token = self.f.acknowledge("CreateExperiment", None)
        return write_pb2.CreateExperimentResponse(experiment_id=exp_id, token=token)

    def RenameExperiment(self, request: Any, context: Any) -> Any:
        s = self.f.store
        return self._ack(
            "RenameExperiment", lambda: s.rename_experiment(request.experiment_id, request.new_name)
        )

    def DeleteExperiment(self, request: Any, context: Any) -> Any:
        s = self.f.store
        return self._ack("DeleteExperiment", lambda: s.delete_experiment(request.experiment_id))

    def RestoreExperiment(self, request: Any, context: Any) -> Any:
        s = self.f.store
        return self._ack("RestoreExperiment", lambda: s.restore_experiment(request.experiment_id))

    def SetExperimentTag(self, request: Any, context: Any) -> Any:
        s = self.f.store
        tag = ExperimentTag(request.key, request.value)
        return self._ack(
            "SetExperimentTag", lambda: s.set_experiment_tag(request.experiment_id, tag)
        )

    def CreateRun(self, request: Any, context: Any) -> Any:
        s = self.f.store
        tags = [RunTag(t.key, t.value) for t in request.tags]
        run = self.f.call(
            lambda: s.create_run(
                request.experiment_id, request.user_id, request.start_time, tags, request.run_name
            )
        )
        token = self.f.acknowledge("CreateRun", None)
        return write_pb2.CreateRunResponse(run=_run_info_pb(run.info), token=token)

    def UpdateRun(self, request: Any, context: Any) -> Any:
        s = self.f.store
        status = (
            RunStatus.from_string(common_pb2.RunStatus.Name(request.status))
            if request.status
            else None
        )
        end = request.end_time if request.HasField("end_time") else None
        name = request.run_name if request.HasField("run_name") else None
        return self._ack("UpdateRun", lambda: s.update_run_info(request.run_id, status, end, name))

    def DeleteRun(self, request: Any, context: Any) -> Any:
        s = self.f.store
        return self._ack("DeleteRun", lambda: s.delete_run(request.run_id))

    def RestoreRun(self, request: Any, context: Any) -> Any:
        s = self.f.store
        return self._ack("RestoreRun", lambda: s.restore_run(request.run_id))

    def DeleteTag(self, request: Any, context: Any) -> Any:
        s = self.f.store
        return self._ack("DeleteTag", lambda: s.delete_tag(request.run_id, request.key))

    def LogBatch(self, request: Any, context: Any) -> Any:
        s = self.f.store
        metrics = [Metric(m.key, m.value, m.timestamp, m.step) for m in request.metrics]
        params = [Param(p.key, p.value) for p in request.params]
        tags = [RunTag(t.key, t.value) for t in request.tags]
        return self._ack("LogBatch", lambda: s.log_batch(request.run_id, metrics, params, tags))


class _Query(query_pb2_grpc.QueryServiceServicer):
    def __init__(self, fake: FakeRunstream) -> None:
        self.f = fake

    def GetExperiment(self, request: Any, context: Any) -> Any:
        self.f.read_options("GetExperiment", request.read)
        e = self.f.call(lambda: self.f.store.get_experiment(request.experiment_id))
        return query_pb2.ExperimentResponse(experiment=_experiment_pb(e))

    def GetExperimentByName(self, request: Any, context: Any) -> Any:
        self.f.read_options("GetExperimentByName", request.read)
        e = self.f.call(lambda: self.f.store.get_experiment_by_name(request.name))
        if e is None:
            missing = common_pb2.RESOURCE_DOES_NOT_EXIST
            raise FakeError(f"no experiment named {request.name}", missing)
        return query_pb2.ExperimentResponse(experiment=_experiment_pb(e))

    def SearchExperiments(self, request: Any, context: Any) -> Any:
        self.f.read_options("SearchExperiments", request.read)
        page = self.f.call(
            lambda: self.f.store.search_experiments(
                _VIEW[request.view_type],
                request.max_results or 1000,
                request.filter or None,
                list(request.order_by) or None,
                request.page_token or None,
            )
        )
        return query_pb2.SearchExperimentsResponse(
            experiments=[_experiment_pb(e) for e in page], next_page_token=page.token or ""
        )

    def GetRun(self, request: Any, context: Any) -> Any:
        self.f.read_options("GetRun", request.read)
        r = self.f.call(lambda: self.f.store.get_run(request.run_id))
        return query_pb2.GetRunResponse(run=_run_pb(r))

    def SearchRuns(self, request: Any, context: Any) -> Any:
        self.f.read_options("SearchRuns", request.read)
        page = self.f.call(
            lambda: self.f.store.search_runs(
                list(request.experiment_ids),
                request.filter or None,
                _VIEW[request.run_view_type],
                request.max_results or 1000,
                list(request.order_by) or None,
                request.page_token or None,
            )
        )
        return query_pb2.SearchRunsResponse(
            runs=[_run_pb(r) for r in page], next_page_token=page.token or ""
        )

    def GetMetricHistory(self, request: Any, context: Any) -> Any:
        self.f.read_options("GetMetricHistory", request.read)
        page = self.f.call(
            lambda: self.f.store.get_metric_history(
                request.run_id,
                request.metric_key,
                request.max_results or None,
                request.page_token or None,
            )
        )
        return query_pb2.GetMetricHistoryResponse(
            metrics=[
                common_pb2.Metric(key=m.key, value=m.value, timestamp=m.timestamp, step=m.step)
                for m in page
            ],
            next_page_token=page.token or "",
        )

    def GetMetricHistoryColumns(self, request: Any, context: Any) -> Any:
        self.f.read_options("GetMetricHistoryColumns", request.read)
        page = self.f.call(
            lambda: self.f.store.get_metric_history(
                request.run_id,
                request.metric_key,
                request.max_results or None,
                request.page_token or None,
            )
        )
        columns = query_pb2.HistoryColumns(
            run_id=request.run_id,
            metric_key=request.metric_key,
            steps=[m.step for m in page],
            timestamps=[m.timestamp for m in page],
            values=[m.value for m in page],
        )
        return query_pb2.GetMetricHistoryColumnsResponse(
            columns=columns, next_page_token=page.token or ""
        )


def serve(fake: FakeRunstream) -> tuple[grpc.Server, int]:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=[ErrorInterceptor()]
    )
    write_pb2_grpc.add_WriteServiceServicer_to_server(_Write(fake), server)
    query_pb2_grpc.add_QueryServiceServicer_to_server(_Query(fake), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port
