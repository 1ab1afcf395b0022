"""The "not supported" answers: what the plugin says for what runstream does not hold.

MLflow answers a feature a store lacks with ``MlflowNotImplementedException``
(``NOT_IMPLEMENTED``, HTTP 501 from ``mlflow server``); listing calls answer "nothing
here" so that the UI pages that list such things still load.  The plugin does the same,
from here:

* :class:`UnsupportedTracking`: the tracking store's logged models, traces, assessments,
  evaluation datasets, dataset/model inputs and outputs, experiment-tag deletion.
  ``RunstreamStore`` inherits it; supporting one of these means overriding it there.
* :class:`UnsupportedRegistry`: every model-registry call, naming the way out (a registry
  store of MLflow's own).

Load through ``runstream.integrations.mlflow.entry_points`` (MLflow is imported here).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from mlflow.exceptions import MlflowException, MlflowNotImplementedException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore as AbstractRegistryStore
from mlflow.store.tracking.abstract_store import AbstractStore as AbstractTrackingStore
from mlflow.utils.validation import _validate_run_id


def not_supported(what: str) -> MlflowNotImplementedException:
    """``what`` is not something the runstream tracking store holds."""
    return MlflowNotImplementedException(
        f"{what} is not supported by the runstream tracking store: runstream stores "
        "experiments, runs, params, metrics and tags only."
    )


class UnsupportedTracking(AbstractTrackingStore):
    """The tracking-store calls runstream cannot answer (yet)."""

    # ------------------------------------------------------------ experiments

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        raise not_supported("Deleting an experiment tag")

    # ------------------------------------------- inputs, outputs, logged models

    def _search_datasets(self, experiment_ids: Sequence[str]) -> list[Any]:
        return []

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[Any] | None = None,
        models: Sequence[Any] | None = None,
    ) -> None:
        _validate_run_id(run_id)
        if datasets:
            raise not_supported("Logging dataset inputs")
        if models:
            raise not_supported("Logging model inputs")

    def log_outputs(self, run_id: str, models: Sequence[Any]) -> None:
        if models:
            raise not_supported("Logging model outputs")

    def record_logged_model(self, run_id: str, mlflow_model: Any) -> None:
        raise not_supported("Recording a logged model")

    def create_logged_model(self, *args: Any, **kwargs: Any) -> Any:
        raise not_supported("Logged models")

    def search_logged_models(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> Any:
        raise MlflowException(
            f"Logged model with ID '{model_id}' not found: the runstream tracking store holds "
            "no logged models.",
            RESOURCE_DOES_NOT_EXIST,
        )

    def finalize_logged_model(self, *args: Any, **kwargs: Any) -> Any:
        raise not_supported("Logged models")

    def set_logged_model_tags(self, *args: Any, **kwargs: Any) -> None:
        raise not_supported("Logged models")

    def delete_logged_model_tag(self, *args: Any, **kwargs: Any) -> None:
        raise not_supported("Logged models")

    def delete_logged_model(self, *args: Any, **kwargs: Any) -> None:
        raise not_supported("Logged models")

    # ------------------------------------------------------------------ traces

    def start_trace(self, *args: Any, **kwargs: Any) -> Any:
        raise not_supported("Tracing")

    def log_spans(self, *args: Any, **kwargs: Any) -> Any:
        raise not_supported("Tracing")

    def get_trace_info(self, trace_id: str) -> Any:
        raise not_supported("Tracing")

    def get_trace(self, trace_id: str, *, allow_partial: bool = False) -> Any:
        raise not_supported("Tracing")

    def batch_get_traces(self, *args: Any, **kwargs: Any) -> Any:
        raise not_supported("Tracing")

    def batch_get_trace_infos(self, *args: Any, **kwargs: Any) -> Any:
        raise not_supported("Tracing")

    def search_traces(self, *args: Any, **kwargs: Any) -> tuple[list[Any], str | None]:
        return [], None

    def set_trace_tag(self, *args: Any, **kwargs: Any) -> None:
        raise not_supported("Tracing")

    def delete_trace_tag(self, *args: Any, **kwargs: Any) -> None:
        raise not_supported("Tracing")

    def _delete_traces(self, *args: Any, **kwargs: Any) -> int:
        raise not_supported("Tracing")

    def link_traces_to_run(self, trace_ids: list[str], run_id: str) -> None:
        raise not_supported("Linking traces to runs")

    # ------------------------------------------- assessments, evaluation datasets

    def create_assessment(self, *args: Any, **kwargs: Any) -> Any:
        raise not_supported("Assessments")

    def get_assessment(self, *args: Any, **kwargs: Any) -> Any:
        raise not_supported("Assessments")

    def create_dataset(self, *args: Any, **kwargs: Any) -> Any:
        raise not_supported("Evaluation datasets")

    def search_datasets(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)


# ---------------------------------------------------------------- model registry

REGISTRY_MESSAGE = (
    "The runstream backend has no model registry ({method}). Point MLflow at a registry "
    "store of its own: mlflow.set_registry_uri('sqlite:///registry.db') in code, or "
    "`mlflow server --registry-store-uri ...`."
)


class UnsupportedRegistry(AbstractRegistryStore):
    """Every model-registry call: searches find nothing, everything else raises
    ``MlflowNotImplementedException`` naming the way out."""

    def search_registered_models(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)

    def search_model_versions(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)

    def search_prompts(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)


# Listing calls answer "nothing here" so that pages listing models or prompts still load.
_EMPTY_REGISTRY_SEARCHES = frozenset(
    {"search_registered_models", "search_model_versions", "search_prompts"}
)


def _registry_unsupported(method: str) -> Callable[..., Any]:
    def call(self: UnsupportedRegistry, *args: Any, **kwargs: Any) -> Any:
        raise MlflowNotImplementedException(REGISTRY_MESSAGE.format(method=method))

    call.__name__ = call.__qualname__ = method
    return call


# Every public method of MLflow's registry store, whichever MLflow version this is.
for _name, _member in inspect.getmembers(AbstractRegistryStore, inspect.isfunction):
    if _name.startswith("_") or _name in _EMPTY_REGISTRY_SEARCHES:
        continue
    setattr(UnsupportedRegistry, _name, _registry_unsupported(_name))
