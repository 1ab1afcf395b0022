"""gRPC adapter of the gateway: the ``WriteService`` servicer (proto <-> our types, at the
edge only), the server with health checking, reflection, optional bearer-token auth and
TLS.

* :func:`add_gateway` adds the servicer to a server someone else owns (the all-in-one
  stack); build that server with :func:`gateway_interceptors` so errors map to statuses.
* :func:`serve_gateway` runs the standalone gateway (``runstream gateway``).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from runstream.proto import events as ev
from runstream.proto.rpc import load_tokens, server_interceptors
from runstream.proto.v1 import common_pb2, write_pb2, write_pb2_grpc

from .entities import RunInfo
from .errors import ValidationError
from .gateway import ColumnsIn, GatewayCore, LogBatch, WriteResult
from .ids import now_ms
from .settings import GatewaySettings, SettingsError
from .transport import Transport
from .write_token import WriteToken

logger = logging.getLogger(__name__)

SERVICE_NAME = write_pb2.DESCRIPTOR.services_by_name["WriteService"].full_name
_STATUS_NAMES = {v: k for k, v in common_pb2.RunStatus.items()}


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
    )


def log_batch_in(request: write_pb2.LogBatchRequest) -> LogBatch:
    return LogBatch(
        run_id=request.run_id,
        experiment_id=request.experiment_id,
        metrics=tuple((m.key, m.value, m.timestamp, m.step) for m in request.metrics),
        params=tuple((p.key, p.value) for p in request.params),
        tags=tuple((t.key, t.value) for t in request.tags),
        columns=columns_in(request.metric_columns) if request.HasField("metric_columns") else None,
    )


def _status_name(status: int) -> str | None:
    if status == common_pb2.RUN_STATUS_UNSPECIFIED:
        return None
    name = _STATUS_NAMES.get(status)
    if name is None:
        raise ValidationError.of("status", f"unknown run status {status}")
    return name


# -- our types -> proto -------------------------------------------------------------------


def _response(result: WriteResult) -> write_pb2.WriteResponse:
    return write_pb2.WriteResponse(
        token=result.token.to_proto(), events=result.events, points=result.points
    )


def _written(token: WriteToken) -> write_pb2.WriteResponse:
    return write_pb2.WriteResponse(token=token.to_proto(), events=1)


def _run_info(info: RunInfo) -> common_pb2.RunInfo:
    return common_pb2.RunInfo(
        run_id=info.run_id,
        experiment_id=info.experiment_id,
        run_name=info.run_name,
        user_id=info.user_id,
        status=common_pb2.RUNNING,
        start_time=info.start_time,
        lifecycle_stage="active",
    )


class WriteServicer(write_pb2_grpc.WriteServiceServicer):
    """``runstream.v1.WriteService``: converts and delegates to :class:`GatewayCore`.
    Exceptions are ``ProducerError``s; ``ErrorInterceptor`` maps them to statuses."""

    def __init__(self, core: GatewayCore) -> None:
        self._core = core

    def CreateExperiment(self, request: Any, context: Any) -> Any:
        eid, token = self._core.create_experiment(
            request.name,
            request.artifact_location,
            [(t.key, t.value) for t in request.tags],
            request.experiment_id,
        )
        return write_pb2.CreateExperimentResponse(experiment_id=eid, token=token.to_proto())

    def RenameExperiment(self, request: Any, context: Any) -> Any:
        payload = ev.ExperimentRenamed(request.new_name)
        return _written(self._core.experiment_event(request.experiment_id, payload))

    def DeleteExperiment(self, request: Any, context: Any) -> Any:
        payload = ev.ExperimentDeleted()
        return _written(self._core.experiment_event(request.experiment_id, payload))

    def RestoreExperiment(self, request: Any, context: Any) -> Any:
        payload = ev.ExperimentRestored()
        return _written(self._core.experiment_event(request.experiment_id, payload))

    def SetExperimentTag(self, request: Any, context: Any) -> Any:
        payload = ev.ExperimentTagSet(request.key, request.value)
        return _written(self._core.experiment_event(request.experiment_id, payload))

    def CreateRun(self, request: Any, context: Any) -> Any:
        info, token = self._core.create_run(
            request.experiment_id,
            request.run_name,
            request.user_id,
            request.start_time,
            [(t.key, t.value) for t in request.tags],
            request.parent_run_id,
            request.run_id,
        )
        return write_pb2.CreateRunResponse(run=_run_info(info), token=token.to_proto())

    def UpdateRun(self, request: Any, context: Any) -> Any:
        payload = ev.RunUpdated(
            status=_status_name(request.status),
            end_time=request.end_time if request.HasField("end_time") else None,
            run_name=request.run_name if request.HasField("run_name") else None,
        )
        return _written(self._core.run_event(request.run_id, request.experiment_id, payload))

    def DeleteRun(self, request: Any, context: Any) -> Any:
        payload = ev.RunDeleted(deleted_time=now_ms())
        return _written(self._core.run_event(request.run_id, request.experiment_id, payload))

    def RestoreRun(self, request: Any, context: Any) -> Any:
        payload = ev.RunRestored()
        return _written(self._core.run_event(request.run_id, request.experiment_id, payload))

    def DeleteTag(self, request: Any, context: Any) -> Any:
        payload = ev.TagDeleted(request.key)
        return _written(self._core.run_event(request.run_id, request.experiment_id, payload))

    def LogBatch(self, request: Any, context: Any) -> Any:
        return _response(self._core.log_batch(log_batch_in(request)))

    def LogStream(self, request_iterator: Iterable[Any], context: Any) -> Any:
        batches: Iterator[LogBatch] = (log_batch_in(r) for r in request_iterator)
        return _response(self._core.log_stream(batches))


# -- servers ------------------------------------------------------------------------------


class Gateway:
    """The gateway's parts once added to a server; :meth:`close` flushes and disconnects."""

    def __init__(self, core: GatewayCore, transport: Transport, owns_transport: bool) -> None:
        self.core = core
        self.transport = transport
        self._owns_transport = owns_transport

    def close(self, timeout: float | None = None) -> None:
        if self._owns_transport:
            self.transport.close(timeout)


def gateway_interceptors(settings: GatewaySettings) -> list[grpc.ServerInterceptor]:
    """Interceptors a server that hosts the gateway needs: bearer-token check (when
    tokens are configured) and the error-code -> status mapping."""
    tokens: tuple[str, ...] = ()
    if settings.auth_enabled:
        tokens = load_tokens(settings.auth_token_file, ",".join(settings.auth_tokens) or None)
        if not tokens:
            raise SettingsError("bearer-token auth is on but no token was found")
    return server_interceptors(tokens)


def add_gateway(
    server: grpc.Server, settings: GatewaySettings, transport: Transport | None = None
) -> Gateway:
    """Add the WriteService to ``server``; Kafka is reached through ``transport``, or a
    new Kafka transport from ``settings`` (closed by ``Gateway.close()``)."""
    owns = transport is None
    if transport is None:
        from .kafka_transport import KafkaTransport

        transport = KafkaTransport(settings.kafka_options())
    core = GatewayCore(
        transport,
        max_event_bytes=settings.max_event_bytes,
        publish_timeout_s=settings.publish_timeout_s,
    )
    write_pb2_grpc.add_WriteServiceServicer_to_server(WriteServicer(core), server)
    return Gateway(core, transport, owns)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc


class RunningGateway:
    """A started standalone gateway server (see :func:`start_gateway`)."""

    def __init__(self, server: grpc.Server, gateway: Gateway, port: int, address: str) -> None:
        self.server = server
        self.gateway = gateway
        self.port = port
        self.address = address
        self.health = health.HealthServicer()

    def stop(self, grace: float = 5.0) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.gateway.close()


def start_gateway(settings: GatewaySettings, transport: Transport | None = None) -> RunningGateway:
    """Build and start the gateway server: WriteService, health, reflection, auth, TLS.
    ``address`` may end in ``:0`` for a free port (see ``RunningGateway.port``)."""
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="gw"),
        interceptors=gateway_interceptors(settings),
        options=options,
    )
    gateway = add_gateway(server, settings, transport)
    if settings.tls_cert and settings.tls_key:
        credentials = grpc.ssl_server_credentials(
            [(_read(settings.tls_key), _read(settings.tls_cert))]
        )
        port = server.add_secure_port(settings.address, credentials)
    else:
        port = server.add_insecure_port(settings.address)
    if port == 0:
        gateway.close()
        raise SettingsError(f"cannot listen on {settings.address}")
    host = settings.address.rsplit(":", 1)[0]
    running = RunningGateway(server, gateway, port, f"{host}:{port}")
    health_pb2_grpc.add_HealthServicer_to_server(running.health, server)
    for name in ("", SERVICE_NAME):
        running.health.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    server.start()
    scheme = "grpcs" if settings.tls_cert else "grpc"
    logger.info(
        "gateway listening on %s://%s (kafka %s, topic %s, auth %s)",
        scheme,
        running.address,
        settings.kafka,
        settings.topic,
        "on" if settings.auth_enabled else "off",
    )
    return running


def serve_gateway(settings: GatewaySettings, stop: threading.Event | None = None) -> None:
    """Run the standalone gateway until SIGINT/SIGTERM (or ``stop`` is set)."""
    running = start_gateway(settings)
    done = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
    try:
        done.wait()
    finally:
        logger.info("gateway stopping")
        running.stop()
