"""``RunstreamStore``: MLflow's tracking store over runstream's gRPC services.

Writes go to the WriteService (the gateway in front of Kafka), reads to the QueryService.
Every read carries the merged write token of this store, so MLflow's habit of writing and
reading at once (create a run, then get it) sees its own writes.

MLflow's stores, not its REST handlers, refuse bad input: this store calls the same checks
(``mlflow.utils.validation``, ``SearchUtils``) before anything is sent, and the state
checks MLflow's SQL store makes (run active, experiment active, params never changed)
against a read that carries the write token.

The store is put together from its parts: experiments (:mod:`.experiments`), runs
(:mod:`.runs`), their shared state (:mod:`.core`), and the answers for what runstream does
not hold (:mod:`..unsupported`).  Load this module through
``runstream.integrations.mlflow.entry_points`` (MLflow's entry points do): importing it
first, before MLflow finished registering its stores, would be circular.
"""

from __future__ import annotations

from .experiments import ExperimentMethods
from .runs import RunMethods


class RunstreamStore(ExperimentMethods, RunMethods):
    """MLflow tracking store for ``runstream://host:port`` (``runstream+tls://`` for TLS)."""

    def __repr__(self) -> str:
        return f"RunstreamStore({self.store_uri!r})"
