"""The model half of ``runstream.v1.QueryService``: the servicer methods (mixed into the
query servicer) and the conversions of their messages.  No gRPC import here: the host
servicer provides ``_svc`` and ``_wait``; errors are ``QueryError``s."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runstream.proto.permissions import Principal, needed
from runstream.proto.rpc.auth import principal_of
from runstream.proto.v1 import common_pb2, models_pb2, query_pb2

from .grpc_calls import read_call
from .model_entities import (
    DatasetFilter,
    LoggedModel,
    LoggedModelOrder,
    ModelVersion,
    RegisteredModel,
    RunModelIO,
    WriteOutcome,
)

SERVICE_NAME = query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name


def _tags(tags: dict[str, str]) -> list[common_pb2.Tag]:
    return [common_pb2.Tag(key=k, value=v) for k, v in tags.items()]


def model_version(v: ModelVersion) -> models_pb2.ModelVersion:
    message = models_pb2.ModelVersion(
        name=v.name,
        version=v.version,
        creation_timestamp=v.creation_timestamp,
        last_updated_timestamp=v.last_updated_timestamp,
        user_id=v.user_id,
        current_stage=v.current_stage,
        source=v.source,
        run_id=v.run_id,
        status=v.status,
        status_message=v.status_message,
        tags=_tags(v.tags),
        aliases=list(v.aliases),
        model_id=v.model_id,
        storage_location=v.storage_location,
    )
    if v.description is not None:
        message.description = v.description
    if v.run_link is not None:
        message.run_link = v.run_link
    return message


def registered_model(m: RegisteredModel) -> models_pb2.RegisteredModel:
    message = models_pb2.RegisteredModel(
        name=m.name,
        creation_timestamp=m.creation_timestamp,
        last_updated_timestamp=m.last_updated_timestamp,
        latest_versions=[model_version(v) for v in m.latest_versions],
        tags=_tags(m.tags),
        aliases=[models_pb2.RegisteredModelAlias(alias=a, version=n) for a, n in m.aliases],
    )
    if m.description is not None:
        message.description = m.description
    return message


def logged_model(m: LoggedModel) -> models_pb2.LoggedModel:
    message = models_pb2.LoggedModel(
        model_id=m.model_id,
        experiment_id=m.experiment_id,
        name=m.name,
        artifact_location=m.artifact_location,
        creation_timestamp=m.creation_timestamp,
        last_updated_timestamp=m.last_updated_timestamp,
        status=m.status,
        source_run_id=m.source_run_id,
        status_message=m.status_message,
        tags=_tags(m.tags),
        params=[common_pb2.Param(key=k, value=v) for k, v in m.params.items()],
        metrics=[
            models_pb2.ModelMetric(
                key=x.key,
                value=x.value,
                timestamp=x.timestamp,
                step=x.step,
                run_id=x.run_id,
                model_id=x.model_id,
                dataset_name=x.dataset_name,
                dataset_digest=x.dataset_digest,
            )
            for x in m.metrics
        ],
        lifecycle_stage=m.lifecycle_stage,
    )
    if m.model_type is not None:
        message.model_type = m.model_type
    return message


def run_io(io: RunModelIO) -> tuple[common_pb2.RunInputs, common_pb2.RunOutputs]:
    datasets = []
    for d in io.datasets:
        data = common_pb2.Dataset(
            name=d.name, digest=d.digest, source_type=d.source_type, source=d.source
        )
        if d.schema is not None:
            data.schema = d.schema
        if d.profile is not None:
            data.profile = d.profile
        datasets.append(common_pb2.DatasetInput(dataset=data, tags=_tags(d.tags)))
    inputs = common_pb2.RunInputs(dataset_inputs=datasets, model_ids=list(io.model_inputs))
    outputs = common_pb2.RunOutputs(
        models=[common_pb2.ModelOutput(model_id=m, step=s) for m, s in io.model_outputs]
    )
    return inputs, outputs


def outcome(o: WriteOutcome) -> query_pb2.GetWriteOutcomeResponse:
    message = query_pb2.GetWriteOutcomeResponse(
        error_code=o.error_code or "ERROR_CODE_UNSPECIFIED",  # the code's name
        message=o.message,
        name=o.name,
        version=o.version,
    )
    if o.registered_model is not None:
        message.registered_model.CopyFrom(registered_model(o.registered_model))
    if o.model_version is not None:
        message.model_version.CopyFrom(model_version(o.model_version))
    return message


class ModelQueriesServicer:
    """The model calls of ``runstream.v1.QueryService``, each run like every other call
    (:func:`~.grpc_calls.read_call`: an admission slot, then the read-your-writes wait)
    and checked against the caller's principal (``runstream.proto.permissions``): the
    registry's calls need READ on the registry (the principal's default permission),
    logged models and datasets READ on their experiments."""

    _svc: Any  # the host's QueryService

    def _wait(self, read: query_pb2.ReadOptions, context: Any) -> None:  # the host's
        raise NotImplementedError

    @staticmethod
    def _registry(rpc: str, context: Any) -> None:
        principal_of(context).require_registry(needed(SERVICE_NAME, rpc))

    def _experiments(self, rpc: str, experiment_ids: Sequence[str], context: Any) -> None:
        principal: Principal = principal_of(context)
        if not principal.admin:
            self._svc.access.require(principal, needed(SERVICE_NAME, rpc), experiment_ids)

    @read_call
    def SearchDatasets(self, request: Any, context: Any) -> Any:
        ids = list(request.experiment_ids)
        principal: Principal = principal_of(context)
        if ids:
            self._experiments("SearchDatasets", ids, context)
        elif not principal.admin:
            readable = self._svc.access.readable(principal)
            ids = sorted(readable) if readable is not None else []
            if readable is not None and not ids:
                return query_pb2.SearchDatasetsResponse()
        found = self._svc.models.dataset_summaries(ids)
        return query_pb2.SearchDatasetsResponse(
            datasets=[
                query_pb2.DatasetSummary(
                    experiment_id=d.experiment_id, name=d.name, digest=d.digest, context=d.context
                )
                for d in found
            ]
        )

    @read_call
    def GetLoggedModel(self, request: Any, context: Any) -> Any:
        found = self._svc.models.logged_model(request.model_id, request.allow_deleted)
        self._experiments("GetLoggedModel", [found.experiment_id], context)
        return query_pb2.LoggedModelResponse(model=logged_model(found))

    @read_call
    def SearchLoggedModels(self, request: Any, context: Any) -> Any:
        self._experiments("SearchLoggedModels", list(request.experiment_ids), context)
        page = self._svc.models.search_logged_models(
            list(request.experiment_ids),
            request.filter,
            [
                DatasetFilter(
                    d.dataset_name, d.dataset_digest if d.HasField("dataset_digest") else None
                )
                for d in request.datasets
            ],
            request.max_results,
            [
                LoggedModelOrder(
                    o.field_name,
                    o.ascending,
                    o.dataset_name if o.HasField("dataset_name") else None,
                    o.dataset_digest if o.HasField("dataset_digest") else None,
                )
                for o in request.order_by
            ],
            request.page_token,
        )
        return query_pb2.SearchLoggedModelsResponse(
            models=[logged_model(m) for m in page.items], next_page_token=page.next_page_token
        )

    @read_call
    def GetRegisteredModel(self, request: Any, context: Any) -> Any:
        self._registry("GetRegisteredModel", context)
        found = self._svc.models.registered_model(request.name)
        return query_pb2.RegisteredModelResponse(model=registered_model(found))

    @read_call
    def SearchRegisteredModels(self, request: Any, context: Any) -> Any:
        self._registry("SearchRegisteredModels", context)
        page = self._svc.models.search_registered_models(
            request.filter, request.max_results, list(request.order_by), request.page_token
        )
        return query_pb2.SearchRegisteredModelsResponse(
            models=[registered_model(m) for m in page.items],
            next_page_token=page.next_page_token,
        )

    @read_call
    def GetModelVersion(self, request: Any, context: Any) -> Any:
        self._registry("GetModelVersion", context)
        found = self._svc.models.model_version(request.name, request.version)
        return query_pb2.ModelVersionResponse(model_version=model_version(found))

    @read_call
    def GetModelVersionByAlias(self, request: Any, context: Any) -> Any:
        self._registry("GetModelVersionByAlias", context)
        found = self._svc.models.model_version_by_alias(request.name, request.alias)
        return query_pb2.ModelVersionResponse(model_version=model_version(found))

    @read_call
    def GetLatestVersions(self, request: Any, context: Any) -> Any:
        self._registry("GetLatestVersions", context)
        found = self._svc.models.latest_versions(request.name, list(request.stages))
        return query_pb2.GetLatestVersionsResponse(model_versions=[model_version(v) for v in found])

    @read_call
    def SearchModelVersions(self, request: Any, context: Any) -> Any:
        self._registry("SearchModelVersions", context)
        page = self._svc.models.search_model_versions(
            request.filter, request.max_results, list(request.order_by), request.page_token
        )
        return query_pb2.SearchModelVersionsResponse(
            model_versions=[model_version(v) for v in page.items],
            next_page_token=page.next_page_token,
        )

    @read_call
    def GetWriteOutcome(self, request: Any, context: Any) -> Any:
        self._registry("GetWriteOutcome", context)
        return outcome(self._svc.models.write_outcome(request.event_id))
