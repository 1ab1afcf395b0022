"""The "not supported" answers: what the plugin says for what runstream does not hold.

MLflow answers a feature a store lacks with ``MlflowNotImplementedException``
(``NOT_IMPLEMENTED``, HTTP 501 from ``mlflow server``); listing calls answer "nothing
here" so that the UI pages that list such things still load.  The plugin does the same,
from here:

* :class:`UnsupportedTracking`: the tracking store's traces, spans, assessments and
  evaluation datasets (MLflow's GenAI features).  ``RunstreamStore`` inherits it;
  supporting one of these means overriding it there.
* :class:`UnsupportedRegistry`: the registry store's webhooks.
* :func:`fill_unsupported`: every other method MLflow's abstract stores define and the
  plugin neither implements nor inherits on purpose (MLflow's defaults built on what the
  plugin implements) answers ``NOT_IMPLEMENTED`` too — so a method a new MLflow release
  adds is a clear error, never a bare ``NotImplementedError``
  (``tests/unit/integrations/mlflow/test_abstract_stores.py`` enumerates both ABCs).

Load through ``runstream.integrations.mlflow.entry_points`` (MLflow is imported here).
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable
from typing import Any

from mlflow.exceptions import MlflowNotImplementedException
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore as AbstractRegistryStore
from mlflow.store.tracking.abstract_store import AbstractStore as AbstractTrackingStore


def not_supported(what: str) -> MlflowNotImplementedException:
    """``what`` is not something the runstream tracking store holds."""
    return MlflowNotImplementedException(
        f"{what} is not supported by the runstream tracking store: runstream stores "
        "experiments, runs (params, metrics, tags, datasets) and models (logged models and "
        "the model registry); not MLflow's GenAI data (traces, assessments, evaluation "
        "datasets, scorers)."
    )


class UnsupportedTracking(AbstractTrackingStore):
    """The tracking-store calls runstream cannot answer (yet)."""

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

    def query_trace_metrics(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        """No traces, so no trace metrics: the UI's GenAI overview shows "no data" (as on
        an MLflow store without traces) rather than failing."""
        return PagedList([], None)

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


class UnsupportedRegistry(AbstractRegistryStore):
    """The registry calls runstream cannot answer: webhooks (filled in by
    :func:`fill_unsupported`; listing them finds nothing, so the UI's pages load)."""

    def list_webhooks(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)

    def list_webhooks_by_event(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)


# ----------------------------------------------------------------- the rest


# Private hooks of MLflow's tracking store whose default raises NotImplementedError and
# that public defaults call.
PRIVATE_HOOKS = frozenset({"_delete_traces", "_load_dataset_records"})


def _unsupported(method: str, message: str) -> Callable[..., Any]:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise MlflowNotImplementedException(message.format(method=method))

    call.__name__ = call.__qualname__ = method
    call.runstream_unsupported = True  # type: ignore[attr-defined]
    return call


def fill_unsupported(
    store: type, abstract: type, inherited: frozenset[str], message: str
) -> list[str]:
    """Make every method of ``abstract`` that ``store`` does not override, and that is not
    in ``inherited`` (MLflow's defaults the plugin keeps on purpose), raise
    ``MlflowNotImplementedException``; returns their names."""
    filled = []
    for name, member in inspect.getmembers(abstract, inspect.isfunction):
        if name.startswith("__") or name in inherited:
            continue
        if name.startswith("_") and name not in PRIVATE_HOOKS:
            continue
        if inspect.getattr_static(store, name) is not member:
            continue  # the plugin implements it
        setattr(store, name, _unsupported(name, message))
        filled.append(name)
    abc.update_abstractmethods(store)
    return filled


TRACKING_MESSAGE = (
    "{method} is not supported by the runstream tracking store: runstream stores "
    "experiments, runs and models, not MLflow's GenAI data (traces, assessments, "
    "evaluation datasets, scorers, review queues)."
)
REGISTRY_MESSAGE = "{method} is not supported by the runstream model registry (webhooks)."
