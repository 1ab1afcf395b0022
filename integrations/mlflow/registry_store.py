"""``RunstreamRegistryStore``: MLflow's model registry on runstream (``runstream://``).

Every registry write is one event under the registry's Kafka key; ingest applies it in log
order and decides what MLflow's SQL store decides inside a transaction (is the name free,
does the version exist, which number comes next).  So a write here is: MLflow's own checks
(``mlflow.utils.validation``, ``SearchModelUtils``, stages), the WriteService call, then
``GetWriteOutcome`` with this store's write token — it waits until ingest applied the
event and answers the outcome with MLflow's error code, or the model and version as they
are now.  A refused write changed nothing.  Reads go to the QueryService.

Prompts (MLflow's prompt registry) are MLflow's own implementations on top of these
calls; webhooks answer ``NOT_IMPLEMENTED``.  Load this module through
``runstream.integrations.mlflow.entry_points`` (see there why).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.entities.model_registry.model_version_stages import (
    DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS,
    get_canonical_stage,
)
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2
from mlflow.store.artifact.utils.models import _parse_model_uri
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry import (
    SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
)
from mlflow.store.model_registry.abstract_store import AbstractStore
from mlflow.utils.search_utils import SearchModelUtils, SearchModelVersionUtils, SearchUtils
from mlflow.utils.validation import (
    _validate_model_alias_name,
    _validate_model_alias_name_reserved,
    _validate_model_name,
    _validate_model_renaming,
    _validate_model_version,
    _validate_model_version_tag,
    _validate_registered_model_tag,
    _validate_tag_name,
)

from runstream.proto.v1 import common_pb2, query_pb2, write_pb2

from . import model_convert
from .rpc import RunstreamRpc
from .unsupported import REGISTRY_MESSAGE, UnsupportedRegistry, fill_unsupported

_INVALID = databricks_pb2.INVALID_PARAMETER_VALUE
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE")


def _tags(tags: Any) -> list[common_pb2.Tag]:
    return [common_pb2.Tag(key=t.key, value=str(t.value)) for t in tags or ()]


class RunstreamRegistryStore(UnsupportedRegistry):
    """Model registry for ``runstream://host:port`` (``runstream+tls://`` for TLS)."""

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri=store_uri, tracking_uri=tracking_uri)
        self.store_uri = store_uri
        uri = store_uri or tracking_uri
        if not uri:
            raise MlflowException.invalid_parameter_value("no runstream URI for the registry")
        self._rpc = RunstreamRpc.from_uri(uri)

    def __repr__(self) -> str:
        return f"RunstreamRegistryStore({self.store_uri!r})"

    def __getstate__(self) -> dict[str, Any]:  # MLflow pickles stores for its job workers
        state = dict(super().__getstate__())
        state.pop("_rpc", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._rpc = RunstreamRpc.from_uri(self.store_uri or "")

    @property
    def supports_workspaces(self) -> bool:
        return False

    # ------------------------------------------------------------ plumbing

    def _apply(self, method: str, request: Any) -> query_pb2.GetWriteOutcomeResponse:
        """One registry write and ingest's decision about it (an MLflow error if refused)."""
        answer = getattr(self._rpc, method)(request)
        outcome = self._rpc.get_write_outcome(
            query_pb2.GetWriteOutcomeRequest(event_id=answer.event_id)
        )
        if outcome.error_code:
            name = common_pb2.ErrorCode.Name(outcome.error_code)
            code = getattr(databricks_pb2, name, databricks_pb2.INTERNAL_ERROR)
            raise MlflowException(outcome.message, error_code=code)
        return outcome

    def _model(self, outcome: query_pb2.GetWriteOutcomeResponse) -> RegisteredModel:
        if outcome.HasField("registered_model"):
            return model_convert.registered_model_from_proto(outcome.registered_model)
        return self.get_registered_model(outcome.name)

    def _version(self, outcome: query_pb2.GetWriteOutcomeResponse) -> ModelVersion:
        if outcome.HasField("model_version"):
            return model_convert.model_version_from_proto(outcome.model_version)
        return self.get_model_version(outcome.name, outcome.version)

    # ---------------------------------------------------- registered models

    def create_registered_model(
        self,
        name: str,
        tags: Any = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        _validate_model_name(name)
        for tag in tags or []:
            _validate_registered_model_tag(tag.key, tag.value)
        request = write_pb2.CreateRegisteredModelRequest(name=name, tags=_tags(tags))
        if description is not None:
            request.description = description
        return self._model(self._apply("create_registered_model", request))

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        _validate_model_name(name)
        request = write_pb2.UpdateRegisteredModelRequest(name=name)
        if description is not None:
            request.description = description
        return self._model(self._apply("update_registered_model", request))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        _validate_model_renaming(new_name)
        _validate_model_name(name)
        request = write_pb2.RenameRegisteredModelRequest(name=name, new_name=new_name)
        return self._model(self._apply("rename_registered_model", request))

    def delete_registered_model(self, name: str) -> None:
        _validate_model_name(name)
        self._apply("delete_registered_model", write_pb2.RegisteredModelRef(name=name))

    def get_registered_model(self, name: str) -> RegisteredModel:
        _validate_model_name(name)
        response = self._rpc.get_registered_model(query_pb2.GetRegisteredModelRequest(name=name))
        return model_convert.registered_model_from_proto(response.model)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        if max_results > SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD:
            raise MlflowException(
                "Invalid value for request parameter max_results. It must be at most "
                f"{SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD}, but got value {max_results}",
                _INVALID,
            )
        for f in SearchModelUtils.parse_search_filter(filter_string):
            _check_registry_comparison(f, versions=False)
        _check_model_order(order_by)
        response = self._rpc.search_registered_models(
            query_pb2.SearchRegisteredModelsRequest(
                filter=filter_string or "",
                max_results=max_results,
                order_by=list(order_by or ()),
                page_token=page_token or "",
            )
        )
        models = [model_convert.registered_model_from_proto(m) for m in response.models]
        return PagedList(models, response.next_page_token or None)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        _validate_model_name(name)
        canonical = [get_canonical_stage(s) for s in stages or ()]
        response = self._rpc.get_latest_versions(
            query_pb2.GetLatestVersionsRequest(name=name, stages=canonical)
        )
        return [model_convert.model_version_from_proto(v) for v in response.model_versions]

    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        _validate_model_name(name)
        _validate_registered_model_tag(tag.key, tag.value)
        self._apply(
            "set_registered_model_tag",
            write_pb2.SetRegisteredModelTagRequest(name=name, key=tag.key, value=str(tag.value)),
        )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        _validate_model_name(name)
        _validate_tag_name(key)
        self._apply(
            "delete_registered_model_tag",
            write_pb2.DeleteRegisteredModelTagRequest(name=name, key=key),
        )

    # -------------------------------------------------------- model versions

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Any = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        _validate_model_name(name)
        for tag in tags or []:
            _validate_model_version_tag(tag.key, tag.value)
        storage_location = source
        if urllib.parse.urlparse(source).scheme == "models":
            parsed = _parse_model_uri(source)
            try:
                if parsed.model_id is not None:
                    logged = self._logged_model(parsed.model_id)
                    storage_location = logged.artifact_location
                    run_id = run_id or logged.source_run_id
                else:
                    storage_location = self.get_model_version_download_uri(
                        parsed.name or "", parsed.version or ""
                    )
            except Exception as e:
                raise MlflowException(
                    f"Unable to fetch model from model URI source artifact location '{source}'."
                    f"Error: {e}"
                ) from e
        if not run_id and model_id:
            run_id = self._logged_model(model_id).source_run_id
        request = write_pb2.CreateModelVersionRequest(
            name=name,
            source=source,
            run_id=run_id or "",
            tags=_tags(tags),
            model_id=model_id or "",
            storage_location=storage_location or "",
        )
        if run_link is not None:
            request.run_link = run_link
        if description is not None:
            request.description = description
        return self._version(self._apply("create_model_version", request))

    def _logged_model(self, model_id: str) -> Any:
        response = self._rpc.get_logged_model(query_pb2.GetLoggedModelRequest(model_id=model_id))
        return model_convert.logged_model_from_proto(response.model)

    def update_model_version(
        self, name: str, version: str | int, description: str | None = None
    ) -> ModelVersion:
        request = write_pb2.UpdateModelVersionRequest(
            name=name, version=_validate_model_version(version)
        )
        if description is not None:
            request.description = description
        return self._version(self._apply("update_model_version", request))

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        is_active = get_canonical_stage(stage) in DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS
        if archive_existing_versions and not is_active:
            raise MlflowException(
                "Model version transition cannot archive existing model versions because "
                f"'{stage}' is not an Active stage. Valid stages are "
                f"{DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS}"
            )
        request = write_pb2.TransitionModelVersionStageRequest(
            name=name,
            version=_validate_model_version(version),
            stage=get_canonical_stage(stage),
            archive_existing_versions=bool(archive_existing_versions),
        )
        return self._version(self._apply("transition_model_version_stage", request))

    def delete_model_version(self, name: str, version: str | int) -> None:
        number = _validate_model_version(version)
        self._apply("delete_model_version", write_pb2.ModelVersionRef(name=name, version=number))

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        _validate_model_name(name)
        response = self._rpc.get_model_version(
            query_pb2.GetModelVersionRequest(name=name, version=_validate_model_version(version))
        )
        return model_convert.model_version_from_proto(response.model_version)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        _validate_model_name(name)
        response = self._rpc.get_model_version(
            query_pb2.GetModelVersionRequest(name=name, version=_validate_model_version(version))
        )
        mv = response.model_version
        return mv.storage_location or mv.source

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        if not isinstance(max_results, int) or max_results < 1:
            raise MlflowException(
                "Invalid value for max_results. It must be a positive integer,"
                f" but got {max_results}",
                _INVALID,
            )
        if max_results > SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD:
            raise MlflowException(
                "Invalid value for request parameter max_results. It must be at most "
                f"{SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD}, but got value {max_results}",
                _INVALID,
            )
        for f in SearchModelVersionUtils.parse_search_filter(filter_string):
            _check_registry_comparison(f, versions=True)
        _check_version_order(order_by)
        response = self._rpc.search_model_versions(
            query_pb2.SearchModelVersionsRequest(
                filter=filter_string or "",
                max_results=max_results,
                order_by=list(order_by or ()),
                page_token=page_token or "",
            )
        )
        # MLflow's SQL store leaves aliases out of search results (docs/mlflow.md)
        versions = [
            model_convert.model_version_from_proto(v, aliases=False)
            for v in response.model_versions
        ]
        return PagedList(versions, response.next_page_token or None)

    def set_model_version_tag(self, name: str, version: str | int, tag: Any) -> None:
        _validate_model_name(name)
        number = _validate_model_version(version)
        _validate_model_version_tag(tag.key, tag.value)
        self._apply(
            "set_model_version_tag",
            write_pb2.SetModelVersionTagRequest(
                name=name, version=number, key=tag.key, value=str(tag.value)
            ),
        )

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        _validate_model_name(name)
        number = _validate_model_version(version)
        _validate_tag_name(key)
        self._apply(
            "delete_model_version_tag",
            write_pb2.DeleteModelVersionTagRequest(name=name, version=number, key=key),
        )

    # ---------------------------------------------------------------- aliases

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        _validate_model_alias_name_reserved(alias)
        number = _validate_model_version(version)
        self._apply(
            "set_registered_model_alias",
            write_pb2.SetRegisteredModelAliasRequest(name=name, alias=alias, version=number),
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        self._apply(
            "delete_registered_model_alias",
            write_pb2.DeleteRegisteredModelAliasRequest(name=name, alias=alias),
        )

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        response = self._rpc.get_model_version_by_alias(
            query_pb2.GetModelVersionByAliasRequest(name=name, alias=alias)
        )
        return model_convert.model_version_from_proto(response.model_version)


# MLflow's default implementations the store keeps: prompts (registered models tagged as
# prompts, and their versions), copying a version, waiting for a version (ready at once).
INHERITED = frozenset(
    {
        "copy_model_version",
        "create_prompt",
        "create_prompt_version",
        "delete_prompt",
        "delete_prompt_alias",
        "delete_prompt_tag",
        "delete_prompt_version",
        "delete_prompt_version_tag",
        "get_prompt",
        "get_prompt_version",
        "get_prompt_version_by_alias",
        "search_prompt_versions",
        "search_prompts",
        "set_prompt_alias",
        "set_prompt_tag",
        "set_prompt_version_tag",
        "link_prompts_to_trace",
        "link_prompt_version_to_model",
        "link_prompt_version_to_run",
    }
)
# Everything else (webhooks) answers NOT_IMPLEMENTED.
UNSUPPORTED = fill_unsupported(RunstreamRegistryStore, AbstractStore, INHERITED, REGISTRY_MESSAGE)


# -- the checks MLflow's SQL store makes beyond its filter parser ----------------------------


def _check_registry_comparison(f: dict[str, Any], versions: bool) -> None:
    kind, key, comparator, value = f["type"], f["key"], f["comparator"], f["value"]
    if kind == "tag":
        if comparator not in _STRING_OPS:
            raise MlflowException.invalid_parameter_value(
                f"Invalid comparator for tag: {comparator}"
            )
        return
    if kind != "attribute":
        raise MlflowException(f"Invalid token type: {kind}", error_code=_INVALID)
    if not versions:
        if key != "name":
            raise MlflowException(f"Invalid attribute name: {key}", error_code=_INVALID)
        if comparator not in (*_STRING_OPS, "IN", "NOT IN"):
            raise MlflowException(
                f"Invalid comparator for attribute: {comparator}", error_code=_INVALID
            )
        return
    if key not in SearchModelVersionUtils.VALID_SEARCH_ATTRIBUTE_KEYS:
        raise MlflowException(f"Invalid attribute name: {key}", error_code=_INVALID)
    if key in SearchModelVersionUtils.NUMERIC_ATTRIBUTES:
        if comparator not in SearchModelVersionUtils.VALID_NUMERIC_ATTRIBUTE_COMPARATORS:
            raise MlflowException(
                f"Invalid comparator for attribute {key}: {comparator}", error_code=_INVALID
            )
        if isinstance(value, float):
            raise MlflowException.invalid_parameter_value(
                f"Invalid value for numeric attribute '{key}': {value!r}"
            )
        try:
            int(value)
        except (TypeError, ValueError):
            raise MlflowException.invalid_parameter_value(
                f"Invalid value for numeric attribute '{key}': {value!r}"
            ) from None
    elif comparator not in SearchModelVersionUtils.VALID_STRING_ATTRIBUTE_COMPARATORS or (
        comparator in ("IN", "NOT IN") and key not in ("run_id", "name")
    ):
        raise MlflowException(
            f"Invalid comparator for attribute: {comparator}", error_code=_INVALID
        )


def _check_model_order(order_by: list[str] | None) -> None:
    seen: set[str] = set()
    for clause in order_by or ():
        token, _ = SearchUtils.parse_order_by_for_search_registered_models(clause)
        if token == "name":
            field = "name"
        elif token in SearchUtils.VALID_TIMESTAMP_ORDER_BY_KEYS:
            field = "last_updated_time"
        else:
            raise MlflowException(
                f"Invalid order by key '{token}' specified.Valid keys are "
                f"'{SearchUtils.RECOMMENDED_ORDER_BY_KEYS_REGISTERED_MODELS}'",
                error_code=_INVALID,
            )
        if field in seen:
            raise MlflowException(f"`order_by` contains duplicate fields: {order_by}")
        seen.add(field)


def _check_version_order(order_by: list[str] | None) -> None:
    seen: set[str] = set()
    for clause in order_by or ():
        _, key, _ = SearchModelVersionUtils.parse_order_by_for_search_model_versions(clause)
        if key not in SearchModelVersionUtils.VALID_ORDER_BY_ATTRIBUTE_KEYS:
            raise MlflowException(
                f"Invalid order by key '{key}' specified. Valid keys are "
                f"{SearchModelVersionUtils.VALID_ORDER_BY_ATTRIBUTE_KEYS}",
                error_code=_INVALID,
            )
        if key in seen:
            raise MlflowException(f"`order_by` contains duplicate fields: {order_by}")
        seen.add(key)
