"""runstream query: the read side.  A gRPC query service over the ClickHouse tables, with
MLflow's search language, downsampled metric charts, aggregations across runs and
read-your-writes.

The stack calls :func:`add_query_service` (adds the servicer to an existing
``grpc.Server``) with :class:`QuerySettings`; ``runstream query`` runs :func:`serve_query`.
gRPC and ClickHouse modules load on first use of the names that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .entities import (
    Experiment,
    MetricPoint,
    Page,
    RankBy,
    RankedRun,
    Run,
    RunInfo,
    RunSelection,
    Series,
    SeriesRequest,
    StepAggregates,
    ViewType,
    XAxis,
)
from .errors import (
    DeadlineExceeded,
    InvalidFilterError,
    InvalidPageTokenError,
    InvalidRequestError,
    NotFoundError,
    OverloadedError,
    QueryError,
    QueryLimitError,
    StoreError,
    StoreUnavailableError,
)
from .search_filter import parse_experiment_filter, parse_run_filter, parse_run_order_by
from .settings import QuerySettings

if TYPE_CHECKING:
    from .clickhouse_store import ClickHouseStore
    from .grpc_server import QueryServer, add_query_service, serve_query
    from .service import QueryService, open_query_service

_LAZY = {
    "add_query_service": "grpc_server",
    "serve_query": "grpc_server",
    "QueryServer": "grpc_server",
    "QueryService": "service",
    "open_query_service": "service",
    "ClickHouseStore": "clickhouse_store",
}

__all__ = [
    "ClickHouseStore",
    "DeadlineExceeded",
    "Experiment",
    "InvalidFilterError",
    "InvalidPageTokenError",
    "InvalidRequestError",
    "MetricPoint",
    "NotFoundError",
    "OverloadedError",
    "Page",
    "QueryError",
    "QueryLimitError",
    "QueryServer",
    "QueryService",
    "QuerySettings",
    "RankBy",
    "RankedRun",
    "Run",
    "RunInfo",
    "RunSelection",
    "Series",
    "SeriesRequest",
    "StepAggregates",
    "StoreError",
    "StoreUnavailableError",
    "ViewType",
    "XAxis",
    "add_query_service",
    "open_query_service",
    "parse_experiment_filter",
    "parse_run_filter",
    "parse_run_order_by",
    "serve_query",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
