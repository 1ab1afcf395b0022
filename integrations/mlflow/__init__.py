"""The MLflow plugin: MLflow's client, fluent API, ``mlflow server`` and UI on runstream,
through the ``runstream://host:port`` tracking URI (docs/mlflow.md).

MLflow finds the plugin through the entry points in ``pyproject.toml``, which name
:mod:`.entry_points`; nothing needs importing.  The rooms:

=====================  ================================================================
``entry_points``       what MLflow's entry points name: lazy builders of the two stores
``tracking/``          ``RunstreamStore``, MLflow's tracking store (experiments, runs,
                       params, metrics, tags, search)
``registry_store``     ``RunstreamRegistryStore``: the model registry runstream lacks
``unsupported``        the "not supported" answers for what runstream does not hold
``convert``            protobuf messages <-> MLflow entities (used at the edge only)
``rpc``                the typed client of WriteService and QueryService (the only module
                       that imports grpc): read-your-writes tokens, error mapping
``settings``           the store URI and environment variables -> client settings
``moving/``            ``runstream import mlflow`` / ``export mlflow``: copy a store in or out
=====================  ================================================================

This package imports neither MLflow nor grpc at import time (MLflow loads entry points
while it is still importing itself).  It depends only on ``runstream.proto``.
"""
