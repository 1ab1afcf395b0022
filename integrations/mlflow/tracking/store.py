"""``RunstreamStore``: MLflow's tracking store over runstream's gRPC services.

Writes go to the WriteService (the gateway in front of Kafka), reads to the QueryService.
Every read carries the merged write token of this store, so MLflow's habit of writing and
reading at once (create a run, then get it) sees its own writes.

MLflow's stores, not its REST handlers, refuse bad input: this store calls the same checks
(``mlflow.utils.validation``, ``SearchUtils``) before anything is sent, and the state
checks MLflow's SQL store makes (run active, experiment active, params never changed)
against a read that carries the write token.

The store is put together from its parts: experiments (:mod:`.experiments`), runs
(:mod:`.runs`), metric histories and chart views (:mod:`.history`), their shared state
(:mod:`.core`), and the answers for what runstream does not hold (:mod:`..unsupported`).
Load this module through ``runstream.integrations.mlflow.entry_points`` (MLflow's entry
points do): importing it first, before MLflow finished registering its stores, would be
circular.
"""

from __future__ import annotations

from mlflow.store.tracking.abstract_store import AbstractStore

from ..unsupported import TRACKING_MESSAGE, fill_unsupported
from .experiments import ExperimentMethods
from .history import HistoryMethods
from .models import ModelMethods
from .runs import RunMethods

# MLflow's default implementations the store keeps: each is built on calls the store
# implements (search on _search_runs, the async forms on the sync ones,
# set_model_versions_tags on the logged-model calls, ...).
INHERITED = frozenset(
    {
        "search_runs",
        "log_metric_async",
        "log_param_async",
        "set_tag_async",
        "log_batch_async",
        "end_async_logging",
        "flush_async_logging",
        "shut_down_async_logging",
        "set_model_versions_tags",
        "filter_active_experiment_ids",
        "resolve_trace_archival_config",
        # built on calls that answer NOT_IMPLEMENTED, so they do too
        "delete_traces",
        "log_spans_async",
        "list_scorers_across_experiments",
    }
)


class RunstreamStore(ExperimentMethods, RunMethods, HistoryMethods, ModelMethods):
    """MLflow tracking store for ``runstream://host:port`` (``runstream+tls://`` for TLS)."""

    def __repr__(self) -> str:
        return f"RunstreamStore({self.store_uri!r})"


# Everything else MLflow's tracking store defines answers NOT_IMPLEMENTED (never a bare
# NotImplementedError): traces, assessments, evaluation datasets, scorers, review queues.
UNSUPPORTED = fill_unsupported(RunstreamStore, AbstractStore, INHERITED, TRACKING_MESSAGE)
