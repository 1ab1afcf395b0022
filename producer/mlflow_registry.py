"""``RunstreamRegistryStore``: the model registry for ``runstream://`` URIs, which runstream
does not have.

MLflow builds a model-registry store from the tracking URI unless a registry URI is set;
without one for the scheme it fails before any registry call is made.  This store lets
that succeed and answers every registry call the way MLflow answers for a feature a store
lacks: searches find nothing, everything else raises ``MlflowNotImplementedException``
naming the way out (``mlflow.set_registry_uri`` / ``--registry-store-uri``).

Load this module through ``runstream.producer.mlflow_store`` (see there why).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from mlflow.exceptions import MlflowNotImplementedException
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore

logger = logging.getLogger(__name__)

_MESSAGE = (
    "The runstream backend has no model registry ({method}). Point MLflow at a registry "
    "store of its own: mlflow.set_registry_uri('sqlite:///registry.db') in code, or "
    "`mlflow server --registry-store-uri ...`."
)

# Listing calls answer "nothing here" so that pages listing models or prompts still load.
_EMPTY_SEARCHES = ("search_registered_models", "search_model_versions", "search_prompts")


class RunstreamRegistryStore(AbstractStore):
    """Model registry stand-in for ``runstream://host:port``."""

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri=store_uri, tracking_uri=tracking_uri)
        self.store_uri = store_uri

    def search_registered_models(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)

    def search_model_versions(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)

    def search_prompts(self, *args: Any, **kwargs: Any) -> PagedList[Any]:
        return PagedList([], None)


def _unsupported(method: str) -> Callable[..., Any]:
    def call(self: RunstreamRegistryStore, *args: Any, **kwargs: Any) -> Any:
        raise MlflowNotImplementedException(_MESSAGE.format(method=method))

    call.__name__ = call.__qualname__ = method
    return call


for _name, _member in inspect.getmembers(AbstractStore, inspect.isfunction):
    if _name.startswith("_") or _name in _EMPTY_SEARCHES:
        continue
    setattr(RunstreamRegistryStore, _name, _unsupported(_name))
