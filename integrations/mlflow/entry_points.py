"""MLflow plugin entry points for the ``runstream://`` and ``runstream+tls://`` schemes.

``pyproject.toml`` names this module in MLflow's entry-point groups:

* ``mlflow.tracking_store``:
  ``runstream = runstream.integrations.mlflow.entry_points:RunstreamStore``
* ``mlflow.model_registry_store``:
  ``runstream = runstream.integrations.mlflow.entry_points:RunstreamRegistryStore``

(and the same two for ``runstream+tls``).  MLflow loads entry points while it is still
importing itself, so this module imports nothing of MLflow (nor grpc) at import time: the
classes live in ``tracking.store`` and ``registry_store`` and are imported on first
attribute access.  If that access happens inside MLflow's own start-up (this module was
imported first, and touching MLflow now triggers MLflow's registration, which asks for
these attributes again), the registry gets a small builder that resolves the class when
MLflow first builds a store.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry_store import RunstreamRegistryStore
    from .tracking.store import RunstreamStore

__all__ = ["RunstreamRegistryStore", "RunstreamStore"]

_IMPLEMENTATIONS = {
    "RunstreamStore": "runstream.integrations.mlflow.tracking.store",
    "RunstreamRegistryStore": "runstream.integrations.mlflow.registry_store",
}
_resolving = threading.local()


def _deferred(name: str) -> Callable[..., Any]:
    def build(*args: Any, **kwargs: Any) -> Any:
        return __getattr__(name)(*args, **kwargs)

    build.__name__ = build.__qualname__ = name
    return build


def __getattr__(name: str) -> Any:
    module_name = _IMPLEMENTATIONS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if getattr(_resolving, "active", False):
        return _deferred(name)
    _resolving.active = True
    try:
        # Let MLflow finish importing (and registering its stores) before our classes,
        # which subclass MLflow's, are defined.
        importlib.import_module("mlflow.tracking")
        try:
            cls = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            # The implementation module is itself mid-import (it was imported first).
            return _deferred(name)
    finally:
        _resolving.active = False
    globals()[name] = cls
    return cls
