"""gRPC adapter: publishes events through the gateway's ``WriteService``.

Consecutive params/tags/metrics events go up one client stream (``LogStream``), metrics
in the columnar ``MetricColumns`` form; run and experiment events are unary calls, in
order.  Every request names its ``Origin``: this producer's id, the seq of the event it
carries and, when one event takes several requests (more than 100 params), the request's
part.  The gateway stamps the events it builds from a request with a seq derived from
those, so a request resent after a timeout makes the same (producer_id, seq) and ingest
applies it once: exactly once end to end, as straight to Kafka.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import numpy as np

from runstream.proto import events as ev
from runstream.proto.endpoints import ChannelOptions
from runstream.proto.errors import SettingsError as ChannelSettingsError
from runstream.proto.rpc import open_channel
from runstream.proto.tokens import WriteToken
from runstream.proto.v1 import common_pb2, write_pb2, write_pb2_grpc
from runstream.proto.vocabulary import status_to_proto

from .errors import (
    AuthenticationError,
    BrokerUnavailableError,
    FieldProblem,
    ProducerError,
    ValidationError,
)
from .ids import MAX_ORIGIN_PART
from .settings import SettingsError
from .system_tags import RUN_NAME
from .validation import MAX_PARAMS_TAGS_PER_BATCH

_RETRIABLE = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
)
_LOG_PAYLOADS = (ev.MetricsLogged, ev.ParamsLogged, ev.TagsSet)


class _Done:
    def __init__(self, token: WriteToken) -> None:
        self._token = token

    def result(self, timeout: float | None = None) -> WriteToken:
        return self._token


def _columns(payload: ev.MetricsLogged) -> common_pb2.MetricColumns:
    if payload.context_index is not None and len(payload.contexts) > 1:
        raise ProducerError("the gateway takes one context per metric_columns")  # SDK: never
    return common_pb2.MetricColumns(
        context=dict(payload.contexts[0]) if payload.contexts else {},
        keys=list(payload.keys),
        key_index=np.ascontiguousarray(payload.key_index, dtype="<u2").tobytes(),
        values=np.ascontiguousarray(payload.values, dtype="<f8").tobytes(),
        steps=np.ascontiguousarray(payload.steps, dtype="<i8").tobytes(),
        timestamps=np.ascontiguousarray(payload.timestamps, dtype="<i8").tobytes(),
    )


def origin(event: ev.RunEvent, part: int = 0) -> write_pb2.Origin:
    """The ``Origin`` of a request carrying (part of) ``event``."""
    if part > MAX_ORIGIN_PART:
        raise ProducerError(
            f"a {type(event.payload).__name__} event too large for the gateway "
            f"(more than {MAX_ORIGIN_PART + 1} requests)"
        )
    return write_pb2.Origin(producer_id=event.producer_id, seq=event.seq, part=part)


def log_requests(event: ev.RunEvent) -> Iterator[write_pb2.LogBatchRequest]:
    """LogBatch requests for a params/tags/metrics event (row limits respected)."""
    payload = event.payload
    run_id, experiment_id = event.run_id, event.experiment_id
    if isinstance(payload, ev.MetricsLogged):
        yield write_pb2.LogBatchRequest(
            run_id=run_id,
            experiment_id=experiment_id,
            metric_columns=_columns(payload),
            origin=origin(event),
        )
        return
    assert isinstance(payload, ev.ParamsLogged | ev.TagsSet)
    pairs = list(zip(payload.keys, payload.values, strict=True))
    for number, start in enumerate(range(0, len(pairs), MAX_PARAMS_TAGS_PER_BATCH)):
        part = pairs[start : start + MAX_PARAMS_TAGS_PER_BATCH]
        request = write_pb2.LogBatchRequest(
            run_id=run_id, experiment_id=experiment_id, origin=origin(event, number)
        )
        if isinstance(payload, ev.ParamsLogged):
            request.params.extend(common_pb2.Param(key=k, value=v) for k, v in part)
        else:
            request.tags.extend(common_pb2.Tag(key=k, value=v) for k, v in part)
        yield request


def _named_by(previous: ev.RunEvent | None, event: ev.RunEvent) -> bool:
    """Whether ``event`` is the ``mlflow.runName`` tag of the rename just before it (the
    pair ``commands.update_run`` builds; the gateway builds both from one UpdateRun)."""
    if previous is None or previous.run_id != event.run_id:
        return False
    renamed, tags = previous.payload, event.payload
    return (
        isinstance(renamed, ev.RunUpdated)
        and renamed.run_name is not None
        and isinstance(tags, ev.TagsSet)
        and tuple(tags.keys) == (RUN_NAME,)
        and tuple(tags.values) == (renamed.run_name,)
    )


class GrpcTransport:
    """A :class:`~runstream.producer.transport.Transport` through the gateway."""

    def __init__(
        self,
        address: str,
        *,
        tls: bool = False,
        token: str | None = None,
        tls_ca: str | None = None,
        timeout_s: float = 10.0,
        max_event_bytes: int = 900_000,
    ) -> None:
        self._options = ChannelOptions(address, tls=tls, tls_ca=tls_ca, token=token)
        try:
            self._channel = open_channel(self._options)
        except ChannelSettingsError as exc:  # an unreadable CA file: the SDK's own error
            raise SettingsError(f"RUNSTREAM_TLS_CA / tls_ca: {exc}") from None
        self._stub = write_pb2_grpc.WriteServiceStub(self._channel)
        self._metadata = self._options.metadata
        self._timeout = timeout_s

    @property
    def target(self) -> str:
        return self._options.url

    def _error(self, exc: grpc.RpcError) -> ProducerError:
        code = exc.code() if hasattr(exc, "code") else None
        details = (exc.details() if hasattr(exc, "details") else "") or str(exc)
        name = code.name if code is not None else "UNKNOWN"
        if code in _RETRIABLE:
            return BrokerUnavailableError(self.target, f"{name}: {details}")
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return ValidationError([FieldProblem("request", details)])
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return AuthenticationError(f"the gateway at {self.target} refused the call: {details}")
        return ProducerError(f"the gateway at {self.target} answered {name}: {details}")

    def _call(self, method: Any, request: Any, timeout: float) -> Any:
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(exc) from exc

    def _unary(self, event: ev.RunEvent, timeout: float) -> WriteToken:
        p = event.payload
        s = self._stub
        rid, eid = event.run_id, event.experiment_id
        here = origin(event)
        method: Any
        request: Any
        if isinstance(p, ev.ExperimentCreated):
            tags = [common_pb2.Tag(key=k, value=v) for k, v in p.tags.items()]
            method, request = (
                s.CreateExperiment,
                write_pb2.CreateExperimentRequest(
                    name=p.name, artifact_location=p.artifact_location, tags=tags, experiment_id=eid
                ),
            )
        elif isinstance(p, ev.ExperimentRenamed):
            method = s.RenameExperiment
            request = write_pb2.RenameExperimentRequest(experiment_id=eid, new_name=p.name)
        elif isinstance(p, ev.ExperimentDeleted | ev.ExperimentRestored):
            deleted = isinstance(p, ev.ExperimentDeleted)
            method = s.DeleteExperiment if deleted else s.RestoreExperiment
            request = write_pb2.ExperimentRef(experiment_id=eid)
        elif isinstance(p, ev.ExperimentTagSet):
            method = s.SetExperimentTag
            request = write_pb2.SetExperimentTagRequest(experiment_id=eid, key=p.key, value=p.value)
        elif isinstance(p, ev.RunCreated):
            tags = [common_pb2.Tag(key=k, value=v) for k, v in p.tags.items()]
            method, request = (
                s.CreateRun,
                write_pb2.CreateRunRequest(
                    experiment_id=eid,
                    run_name=p.run_name,
                    user_id=p.user_id,
                    start_time=p.start_time,
                    tags=tags,
                    parent_run_id=p.parent_run_id,
                    run_id=rid,
                ),
            )
        elif isinstance(p, ev.RunUpdated):
            method = s.UpdateRun
            request = write_pb2.UpdateRunRequest(run_id=rid, experiment_id=eid)
            if p.status is not None:
                request.status = status_to_proto(p.status)
            if p.end_time is not None:
                request.end_time = p.end_time
            if p.run_name is not None:
                request.run_name = p.run_name
        elif isinstance(p, ev.RunDeleted | ev.RunRestored):
            method = s.DeleteRun if isinstance(p, ev.RunDeleted) else s.RestoreRun
            request = write_pb2.RunRef(run_id=rid, experiment_id=eid)
        elif isinstance(p, ev.TagDeleted):
            method = s.DeleteTag
            request = write_pb2.DeleteTagRequest(run_id=rid, key=p.key, experiment_id=eid)
        else:
            raise ProducerError(f"no gateway call for {type(p).__name__}")
        request.origin.CopyFrom(here)
        return WriteToken.from_proto(self._call(method, request, timeout).token)

    def _stream(self, events: Sequence[ev.RunEvent], timeout: float) -> WriteToken:
        requests = [r for event in events for r in log_requests(event)]
        if len(requests) == 1:
            response = self._call(self._stub.LogBatch, requests[0], timeout)
        else:
            response = self._call(self._stub.LogStream, iter(requests), timeout)
        return WriteToken.from_proto(response.token)

    def publish(self, events: Sequence[ev.RunEvent], timeout: float | None = None) -> WriteToken:
        wait = self._timeout if timeout is None else timeout
        token = WriteToken()
        run: list[ev.RunEvent] = []
        previous: ev.RunEvent | None = None
        for event in events:
            if _named_by(previous, event):
                continue  # the gateway's UpdateRun sets the mlflow.runName tag itself
            previous = event
            if isinstance(event.payload, _LOG_PAYLOADS):
                run.append(event)
                continue
            if run:
                token = token.merge(self._stream(run, wait))
                run = []
            token = token.merge(self._unary(event, wait))
        if run:
            token = token.merge(self._stream(run, wait))
        return token

    def submit(self, events: Sequence[ev.RunEvent]) -> _Done:
        return _Done(self.publish(events))

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        self._channel.close()
