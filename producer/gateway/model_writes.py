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

import re
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from runstream.proto import events as ev
from runstream.proto.errors import echo
from runstream.proto.permissions import ANONYMOUS, Permission, Principal, needed
from runstream.proto.rpc.auth import principal_of
from runstream.proto.tokens import WriteToken
from runstream.proto.v1 import write_pb2
from runstream.proto.vocabulary import (
    LOGGED_MODEL_ID_PREFIX,
    LOGGED_MODEL_STATUSES,
    canonical_stage,
    is_reserved_alias,
)

from ..errors import FieldProblem, ValidationError
from ..ids import EventStamper, now_ms
from ..transport import Transport
from ..validation import check_id, check_key, check_params, check_tags, int_problem
from .access import WriteAccess

MAX_MODEL_NAME_LENGTH = 256
MAX_REGISTRY_TAG_VALUE_LENGTH = 100_000  # MLflow's limit for registry tags
MAX_DESCRIPTION_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
MAX_DATASETS_PER_REQUEST = 1000
_ALIAS_RE = re.compile(r"^[\w\-]*$")
_MODEL_ID_RE = re.compile(r"^m-[0-9a-f]{32}$")
_LOGGED_MODEL_NAME_BAD = ("/", ":", ".", "%", '"', "'")

Pair = tuple[str, str]
SERVICE_NAME = write_pb2.DESCRIPTOR.services_by_name["WriteService"].full_name


# -- checks (no state) ----------------------------------------------------------------------


def check_model_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError.of(field, "must be a non-empty string")
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise ValidationError.of(
            field, f"is {len(name)} characters long; at most {MAX_MODEL_NAME_LENGTH} are allowed"
        )
    if "/" in name or ":" in name:
        raise ValidationError.of(field, f"{echo(name)}: names cannot contain '/' or ':'")
    return name


def check_version(version: object, field: str = "version") -> int:
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValidationError.of(field, f"must be a positive integer, got {echo(version)}")
    return version


def check_alias(alias: object, field: str = "alias") -> str:
    if not isinstance(alias, str) or not alias:
        raise ValidationError.of(field, "must be a non-empty string")
    if len(alias) > MAX_ALIAS_LENGTH:
        raise ValidationError.of(field, f"at most {MAX_ALIAS_LENGTH} characters are allowed")
    if not _ALIAS_RE.match(alias):
        raise ValidationError.of(
            field,
            f"{echo(alias)}: may only contain alphanumerics, underscores (_), and dashes (-)",
        )
    return alias


def check_description(description: str | None, field: str = "description") -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise ValidationError.of(field, f"at most {MAX_DESCRIPTION_LENGTH} characters are allowed")
    return description


def _tag_map(pairs: Iterable[Pair], field: str, limit: int) -> dict[str, str]:
    checked = check_tags(list(pairs), field, limit=limit)
    if checked.problems:
        raise ValidationError(checked.problems)
    return dict(zip(checked.keys, checked.values, strict=True))


def check_logged_model_id(model_id: object, field: str = "model_id") -> str:
    if not isinstance(model_id, str) or not _MODEL_ID_RE.match(model_id):
        raise ValidationError.of(
            field, f"{echo(model_id)} is not a logged model id ('m-' and 32 lowercase hex digits)"
        )
    return model_id


def new_logged_model_id() -> str:
    return f"{LOGGED_MODEL_ID_PREFIX}{uuid.uuid4().hex}"


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
        if not name or any(c in name for c in _LOGGED_MODEL_NAME_BAD):
            raise ValidationError.of(
                "name",
                f"{echo(name)}: a model name must be a non-empty string without any of "
                f"{' '.join(_LOGGED_MODEL_NAME_BAD)}",
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
            tags=_tag_map(((t.key, t.value) for t in request.tags), "tags", 8000),
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
                model_id, _tag_map(((t.key, t.value) for t in request.tags), "tags", 8000)
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


def registry_payload(r: Any, kind: str) -> ev.Payload:
    """The event of one registry request (``kind``: the WriteService method)."""
    limit = MAX_REGISTRY_TAG_VALUE_LENGTH
    if kind == "CreateRegisteredModel":
        return ev.RegisteredModelCreated(
            check_model_name(r.name),
            check_description(r.description if r.HasField("description") else None),
            _tag_map(((t.key, t.value) for t in r.tags), "tags", limit),
        )
    if kind == "RenameRegisteredModel":
        return ev.RegisteredModelRenamed(
            check_model_name(r.name), check_model_name(r.new_name, "new_name")
        )
    if kind == "UpdateRegisteredModel":
        return ev.RegisteredModelUpdated(
            check_model_name(r.name),
            check_description(r.description if r.HasField("description") else None),
        )
    if kind == "DeleteRegisteredModel":
        return ev.RegisteredModelDeleted(check_model_name(r.name))
    if kind == "SetRegisteredModelTag":
        tags = _tag_map([(r.key, r.value)], "tag", limit)
        return ev.RegisteredModelTagSet(check_model_name(r.name), r.key, tags[r.key])
    if kind == "DeleteRegisteredModelTag":
        return ev.RegisteredModelTagDeleted(check_model_name(r.name), check_key(r.key))
    if kind == "SetRegisteredModelAlias":
        alias = check_alias(r.alias)
        if is_reserved_alias(alias):
            raise ValidationError.of("alias", f"alias name {echo(alias)} is reserved")
        return ev.RegisteredModelAliasSet(check_model_name(r.name), alias, check_version(r.version))
    if kind == "DeleteRegisteredModelAlias":
        return ev.RegisteredModelAliasDeleted(check_model_name(r.name), check_alias(r.alias))
    if kind == "CreateModelVersion":
        return ev.ModelVersionCreated(
            name=check_model_name(r.name),
            source=r.source,
            run_id=check_id(r.run_id, "run_id") if r.run_id else "",
            run_link=r.run_link if r.HasField("run_link") else None,
            description=check_description(r.description if r.HasField("description") else None),
            tags=_tag_map(((t.key, t.value) for t in r.tags), "tags", limit),
            model_id=check_logged_model_id(r.model_id) if r.model_id else "",
            storage_location=r.storage_location,
            user_id=r.user_id,
        )
    name, version = check_model_name(r.name), check_version(r.version)
    if kind == "UpdateModelVersion":
        return ev.ModelVersionUpdated(
            name, version, check_description(r.description if r.HasField("description") else None)
        )
    if kind == "TransitionModelVersionStage":
        stage = canonical_stage(r.stage)
        if stage is None:
            raise ValidationError.of(
                "stage", f"{echo(r.stage)} is not one of None, Staging, Production, Archived"
            )
        return ev.ModelVersionStageTransitioned(name, version, stage, r.archive_existing_versions)
    if kind == "DeleteModelVersion":
        return ev.ModelVersionDeleted(name, version)
    if kind == "SetModelVersionTag":
        tags = _tag_map([(r.key, r.value)], "tag", limit)
        return ev.ModelVersionTagSet(name, version, r.key, tags[r.key])
    if kind == "DeleteModelVersionTag":
        return ev.ModelVersionTagDeleted(name, version, check_key(r.key))
    raise ValueError(kind)  # pragma: no cover - the servicer names only the kinds above


def inputs_payload(request: write_pb2.LogInputsRequest) -> ev.InputsLogged:
    if len(request.datasets) > MAX_DATASETS_PER_REQUEST:
        raise ValidationError.of(
            "datasets", f"at most {MAX_DATASETS_PER_REQUEST} datasets per request"
        )
    datasets = []
    problems: list[FieldProblem] = []
    for i, d in enumerate(request.datasets):
        data, where = d.dataset, f"datasets[{i}].dataset"
        for attr in ("name", "digest", "source_type", "source"):
            if not getattr(data, attr):
                problems.append(FieldProblem(f"{where}.{attr}", "must not be empty"))
        datasets.append(
            ev.DatasetInput(
                name=data.name,
                digest=data.digest,
                source_type=data.source_type,
                source=data.source,
                schema=data.schema if data.HasField("schema") else None,
                profile=data.profile if data.HasField("profile") else None,
                tags={t.key: t.value for t in d.tags},
            )
        )
    if problems:
        raise ValidationError(problems)
    model_ids = tuple(
        check_logged_model_id(m, f"model_ids[{i}]") for i, m in enumerate(request.model_ids)
    )
    return ev.InputsLogged(tuple(datasets), model_ids)


def model_metrics_payload(metrics: Sequence[Any]) -> ev.ModelMetricsLogged:
    points = []
    for i, m in enumerate(metrics):
        where = f"metrics[{i}]"
        check_key(m.key, f"{where}.key")
        check_logged_model_id(m.model_id, f"{where}.model_id")
        if (p := int_problem(m.timestamp, non_negative=True)) is not None:
            raise ValidationError.of(f"{where}.timestamp", p)
        points.append(
            ev.ModelMetricPoint(
                m.key, m.value, m.timestamp, m.step, m.model_id, m.dataset_name, m.dataset_digest
            )
        )
    return ev.ModelMetricsLogged(tuple(points))


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
