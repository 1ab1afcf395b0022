"""The model half of the plugin's typed client: one method per WriteService and
QueryService call of the registry, logged models, datasets and model metrics.

Declared like the rest of :mod:`.rpc` (a checked :class:`~.rpc.Unary` each) and mixed into
:class:`~.rpc.RunstreamRpc`, which owns the channel, the write tokens and the error map:
writes join this client's token, reads carry it.  No grpc import here.
"""

from __future__ import annotations

from typing import Any

from runstream.proto.v1 import query_pb2, write_pb2

from .rpc_methods import QUERY_SERVICE, WRITE_SERVICE, unary

_WRITE, _QUERY = WRITE_SERVICE, QUERY_SERVICE

DELETE_EXPERIMENT_TAG = unary(
    _WRITE, "DeleteExperimentTag", write_pb2.DeleteExperimentTagRequest, write_pb2.WriteResponse
)
LOG_INPUTS = unary(_WRITE, "LogInputs", write_pb2.LogInputsRequest, write_pb2.WriteResponse)
LOG_OUTPUTS = unary(_WRITE, "LogOutputs", write_pb2.LogOutputsRequest, write_pb2.WriteResponse)
LOG_MODEL_METRICS = unary(
    _WRITE, "LogModelMetrics", write_pb2.LogModelMetricsRequest, write_pb2.WriteResponse
)
CREATE_LOGGED_MODEL = unary(
    _WRITE, "CreateLoggedModel", write_pb2.CreateLoggedModelRequest, write_pb2.ModelWriteResponse
)
FINALIZE_LOGGED_MODEL = unary(
    _WRITE,
    "FinalizeLoggedModel",
    write_pb2.FinalizeLoggedModelRequest,
    write_pb2.ModelWriteResponse,
)
SET_LOGGED_MODEL_TAGS = unary(
    _WRITE, "SetLoggedModelTags", write_pb2.SetLoggedModelTagsRequest, write_pb2.ModelWriteResponse
)
DELETE_LOGGED_MODEL_TAG = unary(
    _WRITE,
    "DeleteLoggedModelTag",
    write_pb2.DeleteLoggedModelTagRequest,
    write_pb2.ModelWriteResponse,
)
LOG_LOGGED_MODEL_PARAMS = unary(
    _WRITE,
    "LogLoggedModelParams",
    write_pb2.LogLoggedModelParamsRequest,
    write_pb2.ModelWriteResponse,
)
DELETE_LOGGED_MODEL = unary(
    _WRITE, "DeleteLoggedModel", write_pb2.LoggedModelRef, write_pb2.ModelWriteResponse
)
CREATE_REGISTERED_MODEL = unary(
    _WRITE,
    "CreateRegisteredModel",
    write_pb2.CreateRegisteredModelRequest,
    write_pb2.ModelWriteResponse,
)
RENAME_REGISTERED_MODEL = unary(
    _WRITE,
    "RenameRegisteredModel",
    write_pb2.RenameRegisteredModelRequest,
    write_pb2.ModelWriteResponse,
)
UPDATE_REGISTERED_MODEL = unary(
    _WRITE,
    "UpdateRegisteredModel",
    write_pb2.UpdateRegisteredModelRequest,
    write_pb2.ModelWriteResponse,
)
DELETE_REGISTERED_MODEL = unary(
    _WRITE, "DeleteRegisteredModel", write_pb2.RegisteredModelRef, write_pb2.ModelWriteResponse
)
SET_REGISTERED_MODEL_TAG = unary(
    _WRITE,
    "SetRegisteredModelTag",
    write_pb2.SetRegisteredModelTagRequest,
    write_pb2.ModelWriteResponse,
)
DELETE_REGISTERED_MODEL_TAG = unary(
    _WRITE,
    "DeleteRegisteredModelTag",
    write_pb2.DeleteRegisteredModelTagRequest,
    write_pb2.ModelWriteResponse,
)
SET_REGISTERED_MODEL_ALIAS = unary(
    _WRITE,
    "SetRegisteredModelAlias",
    write_pb2.SetRegisteredModelAliasRequest,
    write_pb2.ModelWriteResponse,
)
DELETE_REGISTERED_MODEL_ALIAS = unary(
    _WRITE,
    "DeleteRegisteredModelAlias",
    write_pb2.DeleteRegisteredModelAliasRequest,
    write_pb2.ModelWriteResponse,
)
CREATE_MODEL_VERSION = unary(
    _WRITE, "CreateModelVersion", write_pb2.CreateModelVersionRequest, write_pb2.ModelWriteResponse
)
UPDATE_MODEL_VERSION = unary(
    _WRITE, "UpdateModelVersion", write_pb2.UpdateModelVersionRequest, write_pb2.ModelWriteResponse
)
TRANSITION_MODEL_VERSION_STAGE = unary(
    _WRITE,
    "TransitionModelVersionStage",
    write_pb2.TransitionModelVersionStageRequest,
    write_pb2.ModelWriteResponse,
)
DELETE_MODEL_VERSION = unary(
    _WRITE, "DeleteModelVersion", write_pb2.ModelVersionRef, write_pb2.ModelWriteResponse
)
SET_MODEL_VERSION_TAG = unary(
    _WRITE, "SetModelVersionTag", write_pb2.SetModelVersionTagRequest, write_pb2.ModelWriteResponse
)
DELETE_MODEL_VERSION_TAG = unary(
    _WRITE,
    "DeleteModelVersionTag",
    write_pb2.DeleteModelVersionTagRequest,
    write_pb2.ModelWriteResponse,
)
SEARCH_DATASETS = unary(
    _QUERY, "SearchDatasets", query_pb2.SearchDatasetsRequest, query_pb2.SearchDatasetsResponse
)
GET_LOGGED_MODEL = unary(
    _QUERY, "GetLoggedModel", query_pb2.GetLoggedModelRequest, query_pb2.LoggedModelResponse
)
SEARCH_LOGGED_MODELS = unary(
    _QUERY,
    "SearchLoggedModels",
    query_pb2.SearchLoggedModelsRequest,
    query_pb2.SearchLoggedModelsResponse,
)
GET_REGISTERED_MODEL = unary(
    _QUERY,
    "GetRegisteredModel",
    query_pb2.GetRegisteredModelRequest,
    query_pb2.RegisteredModelResponse,
)
SEARCH_REGISTERED_MODELS = unary(
    _QUERY,
    "SearchRegisteredModels",
    query_pb2.SearchRegisteredModelsRequest,
    query_pb2.SearchRegisteredModelsResponse,
)
GET_MODEL_VERSION = unary(
    _QUERY, "GetModelVersion", query_pb2.GetModelVersionRequest, query_pb2.ModelVersionResponse
)
GET_MODEL_VERSION_BY_ALIAS = unary(
    _QUERY,
    "GetModelVersionByAlias",
    query_pb2.GetModelVersionByAliasRequest,
    query_pb2.ModelVersionResponse,
)
GET_LATEST_VERSIONS = unary(
    _QUERY,
    "GetLatestVersions",
    query_pb2.GetLatestVersionsRequest,
    query_pb2.GetLatestVersionsResponse,
)
SEARCH_MODEL_VERSIONS = unary(
    _QUERY,
    "SearchModelVersions",
    query_pb2.SearchModelVersionsRequest,
    query_pb2.SearchModelVersionsResponse,
)
GET_WRITE_OUTCOME = unary(
    _QUERY, "GetWriteOutcome", query_pb2.GetWriteOutcomeRequest, query_pb2.GetWriteOutcomeResponse
)


class ModelRpc:
    """The model calls; :class:`~.rpc.RunstreamRpc` provides ``_write`` and ``_read``."""

    def _write(self, rpc: Any, request: Any) -> Any:  # provided by RunstreamRpc
        raise NotImplementedError

    def _read(self, rpc: Any, request: Any) -> Any:  # provided by RunstreamRpc
        raise NotImplementedError

    def delete_experiment_tag(
        self, request: write_pb2.DeleteExperimentTagRequest
    ) -> write_pb2.WriteResponse:
        response: write_pb2.WriteResponse = self._write(DELETE_EXPERIMENT_TAG, request)
        return response

    def log_inputs(self, request: write_pb2.LogInputsRequest) -> write_pb2.WriteResponse:
        response: write_pb2.WriteResponse = self._write(LOG_INPUTS, request)
        return response

    def log_outputs(self, request: write_pb2.LogOutputsRequest) -> write_pb2.WriteResponse:
        response: write_pb2.WriteResponse = self._write(LOG_OUTPUTS, request)
        return response

    def log_model_metrics(
        self, request: write_pb2.LogModelMetricsRequest
    ) -> write_pb2.WriteResponse:
        response: write_pb2.WriteResponse = self._write(LOG_MODEL_METRICS, request)
        return response

    def create_logged_model(
        self, request: write_pb2.CreateLoggedModelRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(CREATE_LOGGED_MODEL, request)
        return response

    def finalize_logged_model(
        self, request: write_pb2.FinalizeLoggedModelRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(FINALIZE_LOGGED_MODEL, request)
        return response

    def set_logged_model_tags(
        self, request: write_pb2.SetLoggedModelTagsRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(SET_LOGGED_MODEL_TAGS, request)
        return response

    def delete_logged_model_tag(
        self, request: write_pb2.DeleteLoggedModelTagRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(DELETE_LOGGED_MODEL_TAG, request)
        return response

    def log_logged_model_params(
        self, request: write_pb2.LogLoggedModelParamsRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(LOG_LOGGED_MODEL_PARAMS, request)
        return response

    def delete_logged_model(
        self, request: write_pb2.LoggedModelRef
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(DELETE_LOGGED_MODEL, request)
        return response

    def create_registered_model(
        self, request: write_pb2.CreateRegisteredModelRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(CREATE_REGISTERED_MODEL, request)
        return response

    def rename_registered_model(
        self, request: write_pb2.RenameRegisteredModelRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(RENAME_REGISTERED_MODEL, request)
        return response

    def update_registered_model(
        self, request: write_pb2.UpdateRegisteredModelRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(UPDATE_REGISTERED_MODEL, request)
        return response

    def delete_registered_model(
        self, request: write_pb2.RegisteredModelRef
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(DELETE_REGISTERED_MODEL, request)
        return response

    def set_registered_model_tag(
        self, request: write_pb2.SetRegisteredModelTagRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(SET_REGISTERED_MODEL_TAG, request)
        return response

    def delete_registered_model_tag(
        self, request: write_pb2.DeleteRegisteredModelTagRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(DELETE_REGISTERED_MODEL_TAG, request)
        return response

    def set_registered_model_alias(
        self, request: write_pb2.SetRegisteredModelAliasRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(SET_REGISTERED_MODEL_ALIAS, request)
        return response

    def delete_registered_model_alias(
        self, request: write_pb2.DeleteRegisteredModelAliasRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(DELETE_REGISTERED_MODEL_ALIAS, request)
        return response

    def create_model_version(
        self, request: write_pb2.CreateModelVersionRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(CREATE_MODEL_VERSION, request)
        return response

    def update_model_version(
        self, request: write_pb2.UpdateModelVersionRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(UPDATE_MODEL_VERSION, request)
        return response

    def transition_model_version_stage(
        self, request: write_pb2.TransitionModelVersionStageRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(
            TRANSITION_MODEL_VERSION_STAGE, request
        )
        return response

    def delete_model_version(
        self, request: write_pb2.ModelVersionRef
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(DELETE_MODEL_VERSION, request)
        return response

    def set_model_version_tag(
        self, request: write_pb2.SetModelVersionTagRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(SET_MODEL_VERSION_TAG, request)
        return response

    def delete_model_version_tag(
        self, request: write_pb2.DeleteModelVersionTagRequest
    ) -> write_pb2.ModelWriteResponse:
        response: write_pb2.ModelWriteResponse = self._write(DELETE_MODEL_VERSION_TAG, request)
        return response

    def search_datasets(
        self, request: query_pb2.SearchDatasetsRequest
    ) -> query_pb2.SearchDatasetsResponse:
        response: query_pb2.SearchDatasetsResponse = self._read(SEARCH_DATASETS, request)
        return response

    def get_logged_model(
        self, request: query_pb2.GetLoggedModelRequest
    ) -> query_pb2.LoggedModelResponse:
        response: query_pb2.LoggedModelResponse = self._read(GET_LOGGED_MODEL, request)
        return response

    def search_logged_models(
        self, request: query_pb2.SearchLoggedModelsRequest
    ) -> query_pb2.SearchLoggedModelsResponse:
        response: query_pb2.SearchLoggedModelsResponse = self._read(SEARCH_LOGGED_MODELS, request)
        return response

    def get_registered_model(
        self, request: query_pb2.GetRegisteredModelRequest
    ) -> query_pb2.RegisteredModelResponse:
        response: query_pb2.RegisteredModelResponse = self._read(GET_REGISTERED_MODEL, request)
        return response

    def search_registered_models(
        self, request: query_pb2.SearchRegisteredModelsRequest
    ) -> query_pb2.SearchRegisteredModelsResponse:
        response: query_pb2.SearchRegisteredModelsResponse = self._read(
            SEARCH_REGISTERED_MODELS, request
        )
        return response

    def get_model_version(
        self, request: query_pb2.GetModelVersionRequest
    ) -> query_pb2.ModelVersionResponse:
        response: query_pb2.ModelVersionResponse = self._read(GET_MODEL_VERSION, request)
        return response

    def get_model_version_by_alias(
        self, request: query_pb2.GetModelVersionByAliasRequest
    ) -> query_pb2.ModelVersionResponse:
        response: query_pb2.ModelVersionResponse = self._read(GET_MODEL_VERSION_BY_ALIAS, request)
        return response

    def get_latest_versions(
        self, request: query_pb2.GetLatestVersionsRequest
    ) -> query_pb2.GetLatestVersionsResponse:
        response: query_pb2.GetLatestVersionsResponse = self._read(GET_LATEST_VERSIONS, request)
        return response

    def search_model_versions(
        self, request: query_pb2.SearchModelVersionsRequest
    ) -> query_pb2.SearchModelVersionsResponse:
        response: query_pb2.SearchModelVersionsResponse = self._read(SEARCH_MODEL_VERSIONS, request)
        return response

    def get_write_outcome(
        self, request: query_pb2.GetWriteOutcomeRequest
    ) -> query_pb2.GetWriteOutcomeResponse:
        response: query_pb2.GetWriteOutcomeResponse = self._read(GET_WRITE_OUTCOME, request)
        return response
