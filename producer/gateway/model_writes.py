"""The gateway's model writes: the model registry, logged models, a run's inputs, outputs
and model metrics.  Requests become validated events, published through the gateway's
transport; the answer carries the write token and the event id.

A registry write is one event under one Kafka key: ingest applies registry events in log
order and decides there what the registry's state allows (a free name, an existing version,
the next version number), recording each outcome by event id.  This module checks only
what needs no state (names, keys, stages, lengths), and the caller's permission
(``runstream.proto.permissions``): on the registry for its calls (the principal's default
permission), on the experiment for a logged model's and a run's (through the gateway's
:class:`~.access.WriteAccess`).  Every event carries the caller's principal.

:class:`ModelWritesServicer` holds the ``WriteService`` methods for these calls; the
gateway's servicer inherits them.  No gRPC import here: requests and answers are the
generated messages, errors are ``ProducerError``s (the error interceptor maps them).
"""

from __future__ import annotations

import threading
from typing import Any

from runstream.proto import events as ev
from runstream.proto.errors import echo
from runstream.proto.permissions import ANONYMOUS, Permission, Principal, needed
from runstream.proto.rpc.auth import principal_of
from runstream.proto.tokens import WriteToken
from runstream.proto.v1 import write_pb2
from runstream.proto.vocabulary import LOGGED_MODEL_STATUSES

from ..errors import ValidationError
from ..ids import EventStamper, now_ms
from ..transport import Transport
from ..validation import check_id, check_key, check_params
from .access import WriteAccess
from .model_payloads import (
    LOGGED_MODEL_NAME_BAD,
    check_logged_model_id,
    inputs_payload,
    model_metrics_payload,
    new_logged_model_id,
    registry_payload,
    tag_map,
)

SERVICE_NAME = write_pb2.DESCRIPTOR.services_by_name["WriteService"].full_name


# -- the core ------------------------------------------------------------------------------


class ModelWriteCore:
    """Validates, stamps and publishes model writes; thread-safe.  A producer identity of
    its own (its ``seq`` follows the order in which it hands events to the transport)."""

    def __init__(
        self,
        transport: Transport,
        publish_timeout_s: float = 10.0,
        access: WriteAccess | None = None,
    ) -> None:
        self._transport = transport
        self._stamper = EventStamper()
        self._lock = threading.Lock()
        self._timeout = publish_timeout_s
        self.access = access if access is not None else WriteAccess(None)

    def publish(
        self,
        payload: ev.Payload,
        run_id: str = "",
        experiment_id: str = "",
        principal: Principal = ANONYMOUS,
    ) -> tuple[str, WriteToken]:
        """One event; returns its event id and the token of where it landed."""
        with self._lock:
            event = self._stamper.stamp(run_id, experiment_id, payload, now_ms(), principal.name)
            pending = self._transport.submit([event])
        return event.event_id, pending.result(self._timeout)

    # -- the registry -------------------------------------------------------------------

    def registry(
        self,
        request: Any,
        kind: str,
        principal: Principal = ANONYMOUS,
        need: Permission = Permission.NO_PERMISSIONS,
    ) -> tuple[str, WriteToken]:
        """A registry request of WriteService method ``kind`` as its event, published."""
        principal.require_registry(need)
        return self.publish(registry_payload(request, kind), principal=principal)

    # -- logged models ------------------------------------------------------------------

    def create_logged_model(
        self,
        request: write_pb2.CreateLoggedModelRequest,
        principal: Principal = ANONYMOUS,
        need: Permission = Permission.NO_PERMISSIONS,
    ) -> tuple[str, str, WriteToken]:
        model_id = (
            check_logged_model_id(request.model_id) if request.model_id else new_logged_model_id()
        )
        experiment_id = check_id(request.experiment_id, "experiment_id")
        self.access.require_experiment(principal, need, experiment_id)
        name = request.name
        if not name or any(c in name for c in LOGGED_MODEL_NAME_BAD):
            raise ValidationError.of(
                "name",
                f"{echo(name)}: a model name must be a non-empty string without any of "
                f"{' '.join(LOGGED_MODEL_NAME_BAD)}",
            )
        if request.source_run_id:
            check_id(request.source_run_id, "source_run_id")
        params = check_params([(p.key, p.value) for p in request.params])
        if params.problems:
            raise ValidationError(params.problems)
        payload = ev.LoggedModelCreated(
            model_id=model_id,
            name=name,
            artifact_location=request.artifact_location,
            source_run_id=request.source_run_id,
            model_type=request.model_type if request.HasField("model_type") else None,
            tags=tag_map(((t.key, t.value) for t in request.tags), "tags", 8000),
            params=dict(zip(params.keys, params.values, strict=True)),
        )
        event_id, token = self.publish(payload, experiment_id=experiment_id, principal=principal)
        return model_id, event_id, token

    def logged_model(
        self,
        request: Any,
        kind: str,
        principal: Principal = ANONYMOUS,
        need: Permission = Permission.NO_PERMISSIONS,
    ) -> tuple[str, WriteToken]:
        """A write to a logged model.  The permission is checked on the experiment the
        request names: ingest refuses an event whose experiment is not the model's
        (``experiment-mismatch``), so the check on the named experiment is the check on
        the write.  Only an admin may leave it out."""
        model_id = check_logged_model_id(request.model_id)
        experiment_id = (
            check_id(request.experiment_id, "experiment_id") if request.experiment_id else ""
        )
        if not principal.admin:
            if not experiment_id:
                raise ValidationError.of(
                    "experiment_id", "required: the caller's permission is checked on it"
                )
            self.access.require_experiment(principal, need, experiment_id)
        payload: ev.Payload
        if kind == "FinalizeLoggedModel":
            if request.status not in LOGGED_MODEL_STATUSES:
                raise ValidationError.of(
                    "status",
                    f"must be one of {', '.join(LOGGED_MODEL_STATUSES)}; "
                    f"got {echo(request.status)}",
                )
            payload = ev.LoggedModelFinalized(model_id, request.status)
        elif kind == "SetLoggedModelTags":
            payload = ev.LoggedModelTagsSet(
                model_id, tag_map(((t.key, t.value) for t in request.tags), "tags", 8000)
            )
        elif kind == "DeleteLoggedModelTag":
            payload = ev.LoggedModelTagDeleted(model_id, check_key(request.key))
        elif kind == "LogLoggedModelParams":
            params = check_params([(p.key, p.value) for p in request.params])
            if params.problems:
                raise ValidationError(params.problems)
            payload = ev.LoggedModelParamsLogged(
                model_id, dict(zip(params.keys, params.values, strict=True))
            )
        elif kind == "DeleteLoggedModel":
            payload = ev.LoggedModelDeleted(model_id)
        else:  # pragma: no cover - the servicer names only the kinds above
            raise ValueError(kind)
        return self.publish(payload, experiment_id=experiment_id, principal=principal)

    # -- a run's inputs, outputs, model metrics ------------------------------------------

    def run_io(
        self,
        request: Any,
        kind: str,
        principal: Principal = ANONYMOUS,
        need: Permission = Permission.NO_PERMISSIONS,
    ) -> WriteToken:
        run_id = check_id(request.run_id, "run_id")
        experiment_id = (
            check_id(request.experiment_id, "experiment_id") if request.experiment_id else ""
        )
        experiment_id = self.access.require_run(principal, need, run_id, experiment_id)
        payload: ev.Payload
        if kind == "LogInputs":
            payload = inputs_payload(request)
        elif kind == "LogOutputs":
            ids = tuple(
                check_logged_model_id(m.model_id, f"models[{i}].model_id")
                for i, m in enumerate(request.models)
            )
            payload = ev.OutputsLogged(ids, tuple(int(m.step) for m in request.models))
        elif kind == "LogModelMetrics":
            payload = model_metrics_payload(request.metrics)
        else:  # pragma: no cover
            raise ValueError(kind)
        _, token = self.publish(
            payload, run_id=run_id, experiment_id=experiment_id, principal=principal
        )
        return token

    def delete_experiment_tag(
        self,
        experiment_id: str,
        key: str,
        principal: Principal = ANONYMOUS,
        need: Permission = Permission.NO_PERMISSIONS,
    ) -> WriteToken:
        check_id(experiment_id, "experiment_id")
        payload = ev.ExperimentTagDeleted(check_key(key))
        self.access.require_experiment(principal, need, experiment_id)
        _, token = self.publish(payload, experiment_id=experiment_id, principal=principal)
        return token


# -- the WriteService methods ----------------------------------------------------------------


def _model_written(
    event_id: str, token: WriteToken, model_id: str = ""
) -> write_pb2.ModelWriteResponse:
    return write_pb2.ModelWriteResponse(
        token=token.to_proto(), event_id=event_id, model_id=model_id
    )


def _written(token: WriteToken) -> write_pb2.WriteResponse:
    return write_pb2.WriteResponse(token=token.to_proto(), events=1)


class ModelWritesServicer:
    """The model calls of ``runstream.v1.WriteService``; mixed into the gateway's servicer,
    which sets ``_models``."""

    _models: ModelWriteCore

    @staticmethod
    def _who(rpc: str, context: Any) -> tuple[Principal, Permission]:
        """The caller's principal and what ``rpc`` needs (``permissions.NEEDS``)."""
        return principal_of(context), needed(SERVICE_NAME, rpc)

    def _registry(self, request: Any, kind: str, context: Any) -> write_pb2.ModelWriteResponse:
        return _model_written(*self._models.registry(request, kind, *self._who(kind, context)))

    def CreateRegisteredModel(self, request: Any, context: Any) -> Any:
        return self._registry(request, "CreateRegisteredModel", context)

    def RenameRegisteredModel(self, request: Any, context: Any) -> Any:
        return self._registry(request, "RenameRegisteredModel", context)

    def UpdateRegisteredModel(self, request: Any, context: Any) -> Any:
        return self._registry(request, "UpdateRegisteredModel", context)

    def DeleteRegisteredModel(self, request: Any, context: Any) -> Any:
        return self._registry(request, "DeleteRegisteredModel", context)

    def SetRegisteredModelTag(self, request: Any, context: Any) -> Any:
        return self._registry(request, "SetRegisteredModelTag", context)

    def DeleteRegisteredModelTag(self, request: Any, context: Any) -> Any:
        return self._registry(request, "DeleteRegisteredModelTag", context)

    def SetRegisteredModelAlias(self, request: Any, context: Any) -> Any:
        return self._registry(request, "SetRegisteredModelAlias", context)

    def DeleteRegisteredModelAlias(self, request: Any, context: Any) -> Any:
        return self._registry(request, "DeleteRegisteredModelAlias", context)

    def CreateModelVersion(self, request: Any, context: Any) -> Any:
        return self._registry(request, "CreateModelVersion", context)

    def UpdateModelVersion(self, request: Any, context: Any) -> Any:
        return self._registry(request, "UpdateModelVersion", context)

    def TransitionModelVersionStage(self, request: Any, context: Any) -> Any:
        return self._registry(request, "TransitionModelVersionStage", context)

    def DeleteModelVersion(self, request: Any, context: Any) -> Any:
        return self._registry(request, "DeleteModelVersion", context)

    def SetModelVersionTag(self, request: Any, context: Any) -> Any:
        return self._registry(request, "SetModelVersionTag", context)

    def DeleteModelVersionTag(self, request: Any, context: Any) -> Any:
        return self._registry(request, "DeleteModelVersionTag", context)

    def CreateLoggedModel(self, request: Any, context: Any) -> Any:
        model_id, event_id, token = self._models.create_logged_model(
            request, *self._who("CreateLoggedModel", context)
        )
        return _model_written(event_id, token, model_id)

    def FinalizeLoggedModel(self, request: Any, context: Any) -> Any:
        return _model_written(
            *self._models.logged_model(
                request, "FinalizeLoggedModel", *self._who("FinalizeLoggedModel", context)
            )
        )

    def SetLoggedModelTags(self, request: Any, context: Any) -> Any:
        return _model_written(
            *self._models.logged_model(
                request, "SetLoggedModelTags", *self._who("SetLoggedModelTags", context)
            )
        )

    def DeleteLoggedModelTag(self, request: Any, context: Any) -> Any:
        return _model_written(
            *self._models.logged_model(
                request, "DeleteLoggedModelTag", *self._who("DeleteLoggedModelTag", context)
            )
        )

    def LogLoggedModelParams(self, request: Any, context: Any) -> Any:
        return _model_written(
            *self._models.logged_model(
                request, "LogLoggedModelParams", *self._who("LogLoggedModelParams", context)
            )
        )

    def DeleteLoggedModel(self, request: Any, context: Any) -> Any:
        return _model_written(
            *self._models.logged_model(
                request, "DeleteLoggedModel", *self._who("DeleteLoggedModel", context)
            )
        )

    def LogInputs(self, request: Any, context: Any) -> Any:
        return _written(self._models.run_io(request, "LogInputs", *self._who("LogInputs", context)))

    def LogOutputs(self, request: Any, context: Any) -> Any:
        return _written(
            self._models.run_io(request, "LogOutputs", *self._who("LogOutputs", context))
        )

    def LogModelMetrics(self, request: Any, context: Any) -> Any:
        return _written(
            self._models.run_io(request, "LogModelMetrics", *self._who("LogModelMetrics", context))
        )

    def DeleteExperimentTag(self, request: Any, context: Any) -> Any:
        return _written(
            self._models.delete_experiment_tag(
                request.experiment_id, request.key, *self._who("DeleteExperimentTag", context)
            )
        )
