"""gRPC adapter of the gateway: the ``WriteService`` servicer (proto <-> our types, at the
edge only; every write is built by ``runstream.producer.commands``), hosted by the shared
server shell with health checking, reflection, optional bearer-token auth and TLS.

* :func:`add_gateway` adds the servicer to a server someone else owns (the all-in-one
  stack, built by the shared shell ``runstream.proto.rpc.start_server``).
* :func:`serve_gateway` runs the standalone gateway (``runstream gateway``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import grpc
import numpy as np

from runstream.proto.errors import SettingsError
from runstream.proto.permissions import Directory, needed
from runstream.proto.principals import Principals
from runstream.proto.rpc import RunningServer, principal_of, start_server, wait_for_signal
from runstream.proto.v1 import common_pb2, write_pb2, write_pb2_grpc
from runstream.proto.vocabulary import ACTIVE, status_from_proto, status_to_proto

from .. import commands
from ..entities import RunInfo
from ..errors import ValidationError
from ..transport import Transport
from .access import WriteAccess
from .core import ColumnsIn, GatewayCore, LogBatch, Origin, WriteResult
from .directory import QueryDirectory
from .model_writes import ModelWriteCore, ModelWritesServicer
from .ports import RunDirectory
from .settings import GatewaySettings

logger = logging.getLogger(__name__)

SERVICE_NAME = write_pb2.DESCRIPTOR.services_by_name["WriteService"].full_name


# -- proto -> our types -------------------------------------------------------------------


def _packed(data: bytes, dtype: str, name: str, n: int | None) -> np.ndarray:
    itemsize = np.dtype(dtype).itemsize
    if len(data) % itemsize:
        raise ValidationError.of(
            f"metric_columns.{name}", f"{len(data)} bytes is not a whole number of {dtype} items"
        )
    array = np.frombuffer(data, dtype=dtype)
    if n is not None and array.shape[0] != n:
        raise ValidationError.of(
            f"metric_columns.{name}", f"has {array.shape[0]} entries but values has {n}"
        )
    return array


def columns_in(message: common_pb2.MetricColumns) -> ColumnsIn | None:
    if not message.values and not message.keys:
        return None
    values = _packed(message.values, "<f8", "values", None)
    n = int(values.shape[0])
    return ColumnsIn(
        tuple(message.keys),
        _packed(message.key_index, "<u2", "key_index", n),
        values,
        _packed(message.steps, "<i8", "steps", n),
        _packed(message.timestamps, "<i8", "timestamps", n),
        dict(message.context),
    )


def origin_in(request: Any) -> Origin | None:
    """The request's ``origin`` (None when the caller did not name one)."""
    if not request.HasField("origin"):
        return None
    o = request.origin
    return Origin(o.producer_id, o.seq, o.part)


def log_batch_in(request: write_pb2.LogBatchRequest) -> LogBatch:
    return LogBatch(
        run_id=request.run_id,
        experiment_id=request.experiment_id,
        metrics=tuple((m.key, m.value, m.timestamp, m.step) for m in request.metrics),
        metric_contexts=tuple(dict(m.context) for m in request.metrics),
        params=tuple((p.key, p.value) for p in request.params),
        tags=tuple((t.key, t.value) for t in request.tags),
        columns=columns_in(request.metric_columns) if request.HasField("metric_columns") else None,
        origin=origin_in(request),
    )


def _status(value: int) -> str | None:
    """A run status from the wire: UNSPECIFIED is "unchanged"; an unknown number becomes
    its digits, which the builder refuses with the words it uses for any bad status."""
    if value == common_pb2.RUN_STATUS_UNSPECIFIED:
        return None
    return status_from_proto(value) or str(value)


# -- our types -> proto -------------------------------------------------------------------


def _response(result: WriteResult) -> write_pb2.WriteResponse:
    return write_pb2.WriteResponse(
        token=result.token.to_proto(), events=result.events, points=result.points
    )


def _run_info(info: RunInfo) -> common_pb2.RunInfo:
    return common_pb2.RunInfo(
        run_id=info.run_id,
        experiment_id=info.experiment_id,
        run_name=info.run_name,
        user_id=info.user_id,
        status=status_to_proto(info.status),
        start_time=info.start_time,
        lifecycle_stage=ACTIVE,
    )


class WriteServicer(ModelWritesServicer, write_pb2_grpc.WriteServiceServicer):
    """``runstream.v1.WriteService``: converts and delegates to :class:`GatewayCore` (the
    model calls, inherited, to :class:`ModelWriteCore`), with the caller's principal
    (attached by the auth interceptor) and what the RPC needs
    (``runstream.proto.permissions.NEEDS``).  Exceptions are ``RunstreamError``s;
    ``ErrorInterceptor`` maps them to statuses."""

    def __init__(self, core: GatewayCore, models: ModelWriteCore) -> None:
        self._core = core
        self._models = models

    def _write(
        self,
        rpc: str,
        command: commands.ExperimentCommand | commands.RunCommand,
        request: Any,
        context: Any,
    ) -> Any:
        principal, need = principal_of(context), needed(SERVICE_NAME, rpc)
        return _response(self._core.write(command, origin_in(request), principal, need))

    def CreateExperiment(self, request: Any, context: Any) -> Any:
        eid, token = self._core.create_experiment(
            request.name,
            request.artifact_location,
            [(t.key, t.value) for t in request.tags],
            request.experiment_id,
            origin_in(request),
            principal_of(context),
        )
        return write_pb2.CreateExperimentResponse(experiment_id=eid, token=token.to_proto())

    def RenameExperiment(self, request: Any, context: Any) -> Any:
        command = commands.rename_experiment(request.experiment_id, request.new_name)
        return self._write("RenameExperiment", command, request, context)

    def DeleteExperiment(self, request: Any, context: Any) -> Any:
        command = commands.delete_experiment(request.experiment_id)
        return self._write("DeleteExperiment", command, request, context)

    def RestoreExperiment(self, request: Any, context: Any) -> Any:
        command = commands.restore_experiment(request.experiment_id)
        return self._write("RestoreExperiment", command, request, context)

    def SetExperimentTag(self, request: Any, context: Any) -> Any:
        command = commands.set_experiment_tag(request.experiment_id, request.key, request.value)
        return self._write("SetExperimentTag", command, request, context)

    def CreateRun(self, request: Any, context: Any) -> Any:
        info, token = self._core.create_run(
            request.experiment_id,
            request.run_name,
            request.user_id,
            request.start_time or None,  # 0 on the wire: now
            [(t.key, t.value) for t in request.tags],
            request.parent_run_id,
            request.run_id,
            origin_in(request),
            principal_of(context),
        )
        return write_pb2.CreateRunResponse(run=_run_info(info), token=token.to_proto())

    def UpdateRun(self, request: Any, context: Any) -> Any:
        command = commands.update_run(
            request.run_id,
            status=_status(request.status),
            end_time=request.end_time if request.HasField("end_time") else None,
            run_name=request.run_name if request.HasField("run_name") else None,
            experiment_id=request.experiment_id,
        )
        return self._write("UpdateRun", command, request, context)

    def DeleteRun(self, request: Any, context: Any) -> Any:
        command = commands.delete_run(request.run_id, request.experiment_id)
        return self._write("DeleteRun", command, request, context)

    def RestoreRun(self, request: Any, context: Any) -> Any:
        command = commands.restore_run(request.run_id, request.experiment_id)
        return self._write("RestoreRun", command, request, context)

    def DeleteTag(self, request: Any, context: Any) -> Any:
        command = commands.delete_tag(request.run_id, request.key, request.experiment_id)
        return self._write("DeleteTag", command, request, context)

    def LogBatch(self, request: Any, context: Any) -> Any:
        return _response(self._core.log_batch(log_batch_in(request), principal_of(context)))

    def LogStream(self, request_iterator: Iterable[Any], context: Any) -> Any:
        batches: Iterator[LogBatch] = (log_batch_in(r) for r in request_iterator)
        return _response(self._core.log_stream(batches, principal_of(context)))


# -- servers ------------------------------------------------------------------------------


class Gateway:
    """The gateway's parts once added to a server; :meth:`close` flushes and disconnects."""

    def __init__(
        self,
        core: GatewayCore,
        transport: Transport,
        owns_transport: bool,
        directory: QueryDirectory | None = None,
    ) -> None:
        self.core = core
        self.transport = transport
        self._owns_transport = owns_transport
        self._directory = directory

    def close(self, timeout: float | None = None) -> None:
        if self._owns_transport:
            self.transport.close(timeout)
        if self._directory is not None:
            self._directory.close()


def add_gateway(
    server: grpc.Server,
    settings: GatewaySettings,
    transport: Transport | None = None,
    runs: RunDirectory | None = None,
    directory: Directory | None = None,
) -> Gateway:
    """Add the WriteService to ``server``; Kafka is reached through ``transport``, or a
    new Kafka transport from ``settings`` (closed by ``Gateway.close()``).  ``runs``: what
    the read side knows of runs (the all-in-one stack's query service), for the checks
    that refuse at the edge what ingest would dead-letter.  Permission checks that need
    facts ask ``directory`` (``runstream up``: its query service), else the query service
    at ``settings.query_url`` (closed by ``Gateway.close()``)."""
    remote: QueryDirectory | None = None
    if directory is None:
        channel = settings.query_channel()
        if channel is not None:
            directory = remote = QueryDirectory(channel, timeout_s=settings.publish_timeout_s)
    owns = transport is None
    if transport is None:
        from ..kafka_transport import KafkaTransport

        transport = KafkaTransport(settings.kafka_options())
    core = GatewayCore(
        transport,
        max_event_bytes=settings.max_event_bytes,
        publish_timeout_s=settings.publish_timeout_s,
        runs=runs,
        lifecycle_ttl_s=settings.run_facts_ttl_s,
        access=WriteAccess(directory),
    )
    models = ModelWriteCore(
        transport, publish_timeout_s=settings.publish_timeout_s, access=core.access
    )
    write_pb2_grpc.add_WriteServiceServicer_to_server(WriteServicer(core, models), server)
    return Gateway(core, transport, owns, remote)


def check_directory(principals: Principals | None, settings: GatewaySettings) -> None:
    """Fail closed before start: restricted principals need a directory to be checked."""
    if principals is not None and not principals.all_admins and settings.query_url is None:
        raise SettingsError(
            "the principals file restricts some principals, and checking their writes needs "
            "the query service: give --query-url (RUNSTREAM_GATEWAY_QUERY_URL)"
        )


class RunningGateway:
    """A started standalone gateway: the shared server shell hosting the WriteService."""

    def __init__(self, server: RunningServer, gateway: Gateway) -> None:
        self.running = server
        self.server = server.server
        self.gateway = gateway
        self.port = server.port
        self.address = server.address
        self.health = server.health

    def stop(self, grace: float = 5.0) -> None:
        self.running.stop(grace)


def start_gateway(settings: GatewaySettings, transport: Transport | None = None) -> RunningGateway:
    """Build and start the gateway server: WriteService, health, reflection, auth, TLS
    (the shared shell, :func:`runstream.proto.rpc.start_server`).  ``address`` may end in
    ``:0`` for a free port (see ``RunningGateway.port``)."""
    options = settings.server_options()
    # fail closed before connecting to Kafka
    check_directory(options.principals(), settings)
    added: list[Gateway] = []

    def add(server: grpc.Server) -> list[str]:
        added.append(add_gateway(server, settings, transport))
        return [SERVICE_NAME]

    try:
        running = start_server(options, add)
    except BaseException:
        for gateway in added:
            gateway.close()
        raise
    running.on_stop(added[0].close)
    logger.info("gateway: kafka %s, topic %s", settings.kafka, settings.topic)
    return RunningGateway(running, added[0])


def serve_gateway(settings: GatewaySettings, stop: threading.Event | None = None) -> None:
    """Run the standalone gateway until SIGINT/SIGTERM (or ``stop`` is set)."""
    running = start_gateway(settings)
    try:
        wait_for_signal(stop)
    finally:
        logger.info("gateway stopping")
        running.stop()
