"""The tracking store's model half: logged models (MLflow 3), a run's inputs (datasets,
logged models) and outputs, metrics that name a logged model, dataset summaries for the
UI, and experiment-tag deletion.

MLflow's checks come first (``mlflow.utils.validation``, MLflow's logged-model filter
parser and order-by checks), then the state checks MLflow's SQL store makes (experiment
active, run active, model exists) against a read that carries this store's write token.
A logged model's timestamps are the event's, so calls that return the model read it back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from mlflow.entities import (
    DatasetInput,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    _DatasetSummary,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT
from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_MODELS
from mlflow.utils.name_utils import _generate_random_name
from mlflow.utils.search_utils import SearchLoggedModelsUtils
from mlflow.utils.uri import append_to_uri_path
from mlflow.utils.validation import (
    _validate_dataset_inputs,
    _validate_logged_model_name,
    _validate_run_id,
    _validate_tag,
)

from runstream.proto.v1 import common_pb2, query_pb2, write_pb2

from .. import model_convert
from .core import StoreCore

MODELS_FOLDER_NAME = "models"
ARTIFACTS_FOLDER_NAME = "artifacts"


class ModelMethods(StoreCore):
    """MLflow's logged-model, input/output and dataset-summary calls."""

    # ------------------------------------------------------------ experiments

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        experiment = self._experiment_pb(str(experiment_id))
        self._check_experiment_is_active(experiment)
        if key not in {t.key for t in experiment.tags}:
            raise MlflowException(
                f"No tag with name: {key} in experiment with id {experiment_id}",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        self._rpc.delete_experiment_tag(
            write_pb2.DeleteExperimentTagRequest(experiment_id=str(experiment_id), key=key)
        )

    # ---------------------------------------------------------- inputs, outputs

    def log_inputs(
        self,
        run_id: str,
        datasets: list[DatasetInput] | None = None,
        models: list[LoggedModelInput] | None = None,
    ) -> None:
        _validate_run_id(run_id)
        if datasets is not None:
            if not isinstance(datasets, list):
                raise TypeError(f"Argument 'datasets' should be a list, got '{type(datasets)}'")
            _validate_dataset_inputs(datasets)
        state = self._run_state(run_id)
        self._check_run_is_active(run_id, state)
        if not datasets and not models:
            return
        self._rpc.log_inputs(
            write_pb2.LogInputsRequest(
                run_id=run_id,
                experiment_id=str(state.info.experiment_id),
                datasets=model_convert.dataset_inputs_to_proto(datasets or ()),
                model_ids=[m.model_id for m in models or ()],
            )
        )

    def log_outputs(self, run_id: str, models: list[LoggedModelOutput]) -> None:
        state = self._run_state(run_id)
        self._check_run_is_active(run_id, state)
        if not models:
            return
        self._rpc.log_outputs(
            write_pb2.LogOutputsRequest(
                run_id=run_id,
                experiment_id=str(state.info.experiment_id),
                models=[common_pb2.ModelOutput(model_id=m.model_id, step=m.step) for m in models],
            )
        )

    def record_logged_model(self, run_id: str, mlflow_model: Any) -> None:
        """Append the model's summary to the run's ``mlflow.log-model.history`` tag."""
        from mlflow.models import Model

        if not isinstance(mlflow_model, Model):
            raise TypeError(
                f"Argument 'mlflow_model' should be mlflow.models.Model, got '{type(mlflow_model)}'"
            )
        run = self._read_run(run_id)
        self._check_run_is_active(run_id, self._run_state(run_id))
        previous = run.data.tags.get(MLFLOW_LOGGED_MODELS)
        history = json.loads(previous) if previous else []
        value = json.dumps([*history, mlflow_model.get_tags_dict()])
        _validate_tag(MLFLOW_LOGGED_MODELS, value)
        self._rpc.log_batch(
            write_pb2.LogBatchRequest(
                run_id=run_id, tags=[common_pb2.Tag(key=MLFLOW_LOGGED_MODELS, value=value)]
            )
        )

    def _search_datasets(self, experiment_ids: Sequence[str]) -> list[_DatasetSummary]:
        found = self._rpc.search_datasets(
            query_pb2.SearchDatasetsRequest(experiment_ids=[str(e) for e in experiment_ids])
        )
        return [
            _DatasetSummary(
                experiment_id=d.experiment_id,
                name=d.name,
                digest=d.digest,
                context=d.context or None,
            )
            for d in found.datasets
        ]

    # ------------------------------------------------------------ logged models

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: list[LoggedModelTag] | None = None,
        params: list[LoggedModelParameter] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        _validate_logged_model_name(name)
        experiment = self._experiment_pb(str(experiment_id))
        self._check_experiment_is_active(experiment)
        location = self._to_experiment(experiment).artifact_location or ""
        model_id = f"m-{uuid.uuid4().hex}"
        request = write_pb2.CreateLoggedModelRequest(
            model_id=model_id,
            experiment_id=str(experiment_id),
            name=name or _generate_random_name(),
            artifact_location=append_to_uri_path(
                location, MODELS_FOLDER_NAME, model_id, ARTIFACTS_FOLDER_NAME
            ),
            source_run_id=source_run_id or "",
            tags=[common_pb2.Tag(key=t.key, value=str(t.value)) for t in tags or ()],
            params=[common_pb2.Param(key=p.key, value=str(p.value)) for p in params or ()],
        )
        if model_type is not None:
            request.model_type = model_type
        self._rpc.create_logged_model(request)
        return self.get_logged_model(model_id)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        response = self._rpc.get_logged_model(
            query_pb2.GetLoggedModelRequest(model_id=model_id, allow_deleted=allow_deleted)
        )
        return model_convert.logged_model_from_proto(response.model)

    def _existing_model(self, model_id: str) -> LoggedModel:
        """The model, deleted or not (MLflow's writes look it up so)."""
        return self.get_logged_model(model_id, allow_deleted=True)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        model = self._existing_model(model_id)
        self._rpc.finalize_logged_model(
            write_pb2.FinalizeLoggedModelRequest(
                model_id=model_id,
                experiment_id=model.experiment_id,
                status=LoggedModelStatus(status).value,
            )
        )
        return self._existing_model(model_id)

    def set_logged_model_tags(self, model_id: str, tags: list[LoggedModelTag]) -> None:
        model = self._existing_model(model_id)
        deduped = {t.key: str(t.value) for t in tags}
        self._rpc.set_logged_model_tags(
            write_pb2.SetLoggedModelTagsRequest(
                model_id=model_id,
                experiment_id=model.experiment_id,
                tags=[common_pb2.Tag(key=k, value=v) for k, v in deduped.items()],
            )
        )

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        model = self._existing_model(model_id)
        if key not in (model.tags or {}):
            raise MlflowException(
                f"No tag with key {key!r} found for model with ID {model_id!r}.",
                RESOURCE_DOES_NOT_EXIST,
            )
        self._rpc.delete_logged_model_tag(
            write_pb2.DeleteLoggedModelTagRequest(
                model_id=model_id, experiment_id=model.experiment_id, key=key
            )
        )

    def log_logged_model_params(self, model_id: str, params: list[LoggedModelParameter]) -> None:
        model = self._existing_model(model_id)
        self._rpc.log_logged_model_params(
            write_pb2.LogLoggedModelParamsRequest(
                model_id=model_id,
                experiment_id=model.experiment_id,
                params=[common_pb2.Param(key=p.key, value=str(p.value)) for p in params],
            )
        )

    def delete_logged_model(self, model_id: str) -> None:
        model = self._existing_model(model_id)
        self._rpc.delete_logged_model(
            write_pb2.LoggedModelRef(model_id=model_id, experiment_id=model.experiment_id)
        )

    def search_logged_models(
        self,
        experiment_ids: list[str],
        filter_string: str | None = None,
        datasets: list[dict[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: list[dict[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        from mlflow.utils.search_logged_model_utils import parse_filter_string

        if datasets and not all(d.get("dataset_name") for d in datasets):
            raise MlflowException(
                "`dataset_name` in the `datasets` clause must be specified.",
                INVALID_PARAMETER_VALUE,
            )
        parse_filter_string(filter_string)  # MLflow's own checks and messages
        orders = [
            SearchLoggedModelsUtils.parse_order_by_for_logged_models(o) for o in order_by or ()
        ]
        request = query_pb2.SearchLoggedModelsRequest(
            experiment_ids=[str(e) for e in experiment_ids],
            filter=filter_string or "",
            max_results=max_results or SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT,
            page_token=page_token or "",
        )
        for d in datasets or ():
            item = request.datasets.add(dataset_name=d["dataset_name"])
            if d.get("dataset_digest"):
                item.dataset_digest = d["dataset_digest"]
        for o, raw in zip(orders, order_by or (), strict=True):
            entry = request.order_by.add(field_name=raw["field_name"], ascending=o.ascending)
            if o.dataset_name:
                entry.dataset_name = o.dataset_name
            if o.dataset_digest:
                entry.dataset_digest = o.dataset_digest
        response = self._rpc.search_logged_models(request)
        models = [model_convert.logged_model_from_proto(m) for m in response.models]
        return PagedList(models, response.next_page_token or None)
