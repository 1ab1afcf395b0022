"""The gRPC adapter: ``runstream.v1.QueryService`` over :class:`QueryService`.

* :func:`add_query_service` adds the servicer to an existing ``grpc.Server`` (the
  all-in-one stack hosts it next to the write gateway, on the same chDB directory as the
  ingest worker).  That server must carry the shell's interceptors
  (``runstream.proto.rpc.interceptors``): the auth interceptor puts the caller's principal
  on every call (without it every call is refused), and errors map to status codes there.
* :func:`serve_query` / :class:`QueryServer` run the standalone ``runstream query``
  process: interceptors, health checking and reflection included.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import grpc

from runstream.proto.permissions import ExperimentFacts, Principal, needed
from runstream.proto.rpc import RunningServer, principal_of, start_server, wait_for_signal
from runstream.proto.v1 import query_pb2, query_pb2_grpc

from . import grpc_codec as codec
from . import tail_codec
from .context_reader import check_context_filter
from .entities import Experiment, RunSelection
from .errors import InvalidRequestError
from .grpc_calls import read_call as _read_call
from .grpc_models import ModelQueriesServicer
from .service import QueryService, open_query_service
from .settings import QuerySettings

logger = logging.getLogger(__name__)

SERVICE_NAME = query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
_DEADLINE_MARGIN_S = 0.05


class QueryServicer(ModelQueriesServicer, query_pb2_grpc.QueryServiceServicer):
    """Every RPC checks the caller's principal (``runstream.proto.permissions.NEEDS``):
    reads of an experiment or of runs need READ on it, searches over named experiments
    need READ on each, and searches over all experiments see only the readable ones."""

    def __init__(self, service: QueryService) -> None:
        self._svc = service

    def _experiment(
        self, rpc: str, experiment: Experiment, context: grpc.ServicerContext
    ) -> query_pb2.ExperimentResponse:
        facts = ExperimentFacts(experiment.experiment_id, experiment.name, experiment.created_by)
        principal_of(context).require(needed(SERVICE_NAME, rpc), facts)
        return query_pb2.ExperimentResponse(experiment=codec.experiment(experiment))

    def _runs(self, rpc: str, run_ids: Sequence[str], context: grpc.ServicerContext) -> None:
        principal = principal_of(context)
        if principal.admin:
            return
        experiments = self._svc.access.run_experiments(run_ids).values()
        self._svc.access.require(principal, needed(SERVICE_NAME, rpc), experiments)

    def _scoped(self, rpc: str, request: Any, context: grpc.ServicerContext) -> RunSelection:
        selection = codec.selection(
            list(request.experiment_ids), request.filter, request.run_view_type
        )
        principal: Principal = principal_of(context)
        if principal.admin:
            return selection
        if selection.experiment_ids:
            self._svc.access.require(principal, needed(SERVICE_NAME, rpc), selection.experiment_ids)
            return selection
        return replace(selection, scope=self._svc.access.readable(principal))

    def _wait(self, read: query_pb2.ReadOptions, context: grpc.ServicerContext) -> None:
        """Wait for the request's write token: within the call's deadline, and no longer
        than the call lives (a cancelled or expired call stops waiting at once)."""
        token, timeout = codec.wait_token(read)
        if token is None:
            return
        remaining = context.time_remaining()
        if remaining is not None:
            budget = max(0.0, remaining - _DEADLINE_MARGIN_S)
            default = self._svc.settings.wait_timeout_s
            timeout = min(timeout if timeout is not None else default, budget)
        ended = threading.Event()
        if not context.add_callback(ended.set) or not context.is_active():
            ended.set()
        self._svc.wait(token, timeout, ended)

    @_read_call
    def GetExperiment(self, request: Any, context: grpc.ServicerContext) -> Any:
        exp = self._svc.get_experiment(request.experiment_id)
        return self._experiment("GetExperiment", exp, context)

    @_read_call
    def GetExperimentByName(self, request: Any, context: grpc.ServicerContext) -> Any:
        exp = self._svc.get_experiment_by_name(request.name)
        return self._experiment("GetExperimentByName", exp, context)

    @_read_call
    def SearchExperiments(self, request: Any, context: grpc.ServicerContext) -> Any:
        page = self._svc.search_experiments(
            request.filter,
            request.max_results,
            list(request.order_by),
            request.page_token,
            codec.view_type(request.view_type),
            only=self._svc.access.readable(principal_of(context)),
        )
        return query_pb2.SearchExperimentsResponse(
            experiments=[codec.experiment(e) for e in page.items],
            next_page_token=page.next_page_token,
        )

    @_read_call
    def GetRun(self, request: Any, context: grpc.ServicerContext) -> Any:
        run = self._svc.get_run(request.run_id)
        principal = principal_of(context)
        if not principal.admin:
            experiment = [run.info.experiment_id]
            self._svc.access.require(principal, needed(SERVICE_NAME, "GetRun"), experiment)
        return query_pb2.GetRunResponse(run=codec.run(run))

    @_read_call
    def SearchRuns(self, request: Any, context: grpc.ServicerContext) -> Any:
        page = self._svc.search_runs(
            self._scoped("SearchRuns", request, context),
            list(request.order_by),
            request.max_results,
            request.page_token,
        )
        return query_pb2.SearchRunsResponse(
            runs=[codec.run(r) for r in page.items], next_page_token=page.next_page_token
        )

    @_read_call
    def GetMetricHistory(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._runs("GetMetricHistory", [request.run_id], context)
        page = self._svc.metric_history(
            request.run_id,
            request.metric_key,
            request.max_results,
            request.page_token,
            check_context_filter(request.context),
        )
        return query_pb2.GetMetricHistoryResponse(
            metrics=[codec.metric(m) for m in page.items], next_page_token=page.next_page_token
        )

    @_read_call
    def GetMetricHistoryColumns(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._runs("GetMetricHistoryColumns", [request.run_id], context)
        found = self._svc.metric_history_columns(
            request.run_id,
            request.metric_key,
            request.max_results,
            request.page_token,
            check_context_filter(request.context),
        )
        return codec.history_columns(request.run_id, request.metric_key, found)

    @_read_call
    def GetSampledMetricHistory(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._runs("GetSampledMetricHistory", [request.run_id], context)
        found = self._svc.sampled_history([request.run_id], codec.series_request(request))
        series = (
            codec.series(found[0])
            if found
            else query_pb2.MetricSeries(run_id=request.run_id, metric_key=request.metric_key)
        )
        return query_pb2.GetSampledMetricHistoryResponse(series=series)

    @_read_call
    def GetSampledMetricHistories(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._runs("GetSampledMetricHistories", list(request.run_ids), context)
        found = self._svc.sampled_history(list(request.run_ids), codec.series_request(request))
        return query_pb2.GetSampledMetricHistoriesResponse(series=[codec.series(s) for s in found])

    @_read_call
    def GetMetricAggregates(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.run_id or request.context:
            return self._context_aggregates(request, context)
        groups = self._svc.metric_aggregates(
            self._scoped("GetMetricAggregates", request, context),
            request.metric_key,
            request.group_by,
            list(request.percentiles),
            request.start_step if request.HasField("start_step") else None,
            request.end_step if request.HasField("end_step") else None,
            request.max_points,
        )
        return query_pb2.GetMetricAggregatesResponse(
            groups=[codec.step_aggregates(g) for g in groups]
        )

    def _context_aggregates(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Across the contexts (ranks) of one run: ``run_id`` instead of a search."""
        if not request.run_id:
            raise InvalidRequestError("'context' needs 'run_id' (the contexts of one run)")
        if request.experiment_ids or request.filter or request.group_by:
            raise InvalidRequestError(
                "'run_id' aggregates across the contexts of one run: leave "
                "'experiment_ids', 'filter' and 'group_by' empty"
            )
        self._runs("GetMetricAggregates", [request.run_id], context)
        groups = self._svc.contexts.aggregates(
            request.run_id,
            request.metric_key,
            check_context_filter(request.context),
            list(request.percentiles),
            request.start_step if request.HasField("start_step") else None,
            request.end_step if request.HasField("end_step") else None,
            request.max_points,
        )
        return query_pb2.GetMetricAggregatesResponse(
            groups=[codec.step_aggregates(g) for g in groups]
        )

    @_read_call
    def GetLatestMetricsByContext(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._runs("GetLatestMetricsByContext", [request.run_id], context)
        found = self._svc.contexts.latest(
            request.run_id, list(request.metric_keys), check_context_filter(request.context)
        )
        return query_pb2.GetLatestMetricsByContextResponse(
            metrics=[
                query_pb2.ContextMetric(
                    key=m.key,
                    context=dict(m.context),
                    step=m.step,
                    timestamp=m.timestamp,
                    value=m.value,
                    min=m.min,
                    max=m.max,
                    count=m.count,
                )
                for m in found
            ]
        )

    @_read_call
    def GetBestRuns(self, request: Any, context: grpc.ServicerContext) -> Any:
        ranked = self._svc.best_runs(
            self._scoped("GetBestRuns", request, context),
            request.metric_key,
            codec.rank_by(request.rank_by),
            codec.maximize(request.goal),
            request.max_results,
        )
        return query_pb2.GetBestRunsResponse(
            runs=[query_pb2.RankedRun(run=codec.run(r.run), value=r.value) for r in ranked]
        )

    def Tail(self, request: Any, context: grpc.ServicerContext) -> Any:
        """The live tail: READ on the run's (or the experiment's) experiment, then messages
        until the client goes; bounded by ``Admission.stream`` (not by the calls' bound:
        a stream lasts)."""
        target = tail_codec.target(request)
        if request.HasField("after"):  # a write's token: the run it created is there
            self._wait(query_pb2.ReadOptions(write_token=request.after), context)
        experiment_id = self._svc.tail_experiment(target)
        principal = principal_of(context)
        if not principal.admin:
            self._svc.access.require(principal, needed(SERVICE_NAME, "Tail"), [experiment_id])
        topic = self._svc.settings.topic
        batches = self._svc.tail(
            target, tail_codec.after(request), context.is_active, context.cancel
        )
        for batch in batches:
            yield tail_codec.message(batch, topic)

    @_read_call
    def CountRunsByStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        counts = self._svc.count_runs_by_status(self._scoped("CountRunsByStatus", request, context))
        return codec.status_counts(counts)


def add_query_service(
    server: grpc.Server, settings: QuerySettings, service: QueryService | None = None
) -> QueryService:
    """Add the QueryService to ``server`` (not started yet); returns the service, whose
    ``close()`` releases its ClickHouse clients after the server stopped."""
    svc = service if service is not None else open_query_service(settings)
    query_pb2_grpc.add_QueryServiceServicer_to_server(QueryServicer(svc), server)
    return svc


class QueryServer:
    """The standalone query process: the shared server shell (interceptors, TLS, health,
    reflection) hosting the QueryService.  ``start()``, then ``stop()``."""

    def __init__(self, settings: QuerySettings, service: QueryService | None = None) -> None:
        self.settings = settings
        self.options = settings.server_options()
        self.options.principals()  # fail closed before opening ClickHouse
        self.service = service if service is not None else open_query_service(settings)
        self._running: RunningServer | None = None

    def _add(self, server: grpc.Server) -> list[str]:
        add_query_service(server, self.settings, self.service)
        return [SERVICE_NAME]

    @property
    def running(self) -> RunningServer:
        if self._running is None:
            raise RuntimeError("the query server is not started")
        return self._running

    @property
    def address(self) -> str:
        """``host:port`` where the started server listens."""
        return self.running.address

    def start(self) -> QueryServer:
        try:
            self._running = start_server(self.options, self._add)
        except BaseException:
            self.service.close()
            raise
        self._running.on_stop(self.service.close)
        return self

    def stop(self, grace: float = 5.0) -> None:
        self.running.stop(grace)


def serve_query(settings: QuerySettings, stop: threading.Event | None = None) -> None:
    """Run the standalone query service until SIGINT/SIGTERM (or ``stop``)."""
    server = QueryServer(settings).start()
    print(f"runstream query service listening on {server.running.url}", flush=True)
    try:
        wait_for_signal(stop)
    finally:
        logger.info("stopping the query service")
        server.stop()
