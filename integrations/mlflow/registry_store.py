"""``RunstreamRegistryStore``: the model registry for ``runstream://`` URIs, which runstream
does not have (yet).

MLflow builds a model-registry store from the tracking URI unless a registry URI is set;
without one for the scheme it fails before any registry call is made.  This store lets
that succeed and answers every registry call the way MLflow answers for a feature a store
lacks (:class:`~.unsupported.UnsupportedRegistry`): searches find nothing, everything else
raises ``MlflowNotImplementedException`` naming the way out (``mlflow.set_registry_uri`` /
``--registry-store-uri``).  Registry support overrides those answers here, one by one.

Load this module through ``runstream.integrations.mlflow.entry_points`` (see there why).
"""

from __future__ import annotations

from .unsupported import UnsupportedRegistry


class RunstreamRegistryStore(UnsupportedRegistry):
    """Model registry stand-in for ``runstream://host:port``."""

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri=store_uri, tracking_uri=tracking_uri)
        self.store_uri = store_uri
