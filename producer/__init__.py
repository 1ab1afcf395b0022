"""runstream's write side: an MLflow-like SDK that publishes run events to Kafka (or
through the gRPC gateway), non-blocking, batched and columnar.

    import runstream.producer as rs

    rs.set_experiment("mnist")
    with rs.start_run(run_name="baseline"):
        rs.log_params({"lr": 0.01, "layers": 4})
        for step in range(1000):
            rs.log_metric("loss", 1 / (step + 1), step=step)
    token = rs.flush()
"""

from runstream.proto.tokens import WriteToken
from runstream.proto.vocabulary import DEFAULT_EXPERIMENT_ID, experiment_id_for_name

from .client import RunstreamClient
from .entities import Experiment, Metric, Param, RunInfo, RunTag
from .errors import (
    AuthenticationError,
    BrokerUnavailableError,
    BufferFullError,
    FieldProblem,
    InvalidStateError,
    ProducerError,
    SpoolError,
    ValidationError,
)
from .fluent import (
    ActiveRun,
    active_run,
    close,
    create_experiment,
    delete_experiment,
    delete_run,
    delete_tag,
    end_run,
    flush,
    get_client,
    log_metric,
    log_metric_columns,
    log_metrics,
    log_param,
    log_params,
    rename_experiment,
    restore_experiment,
    restore_run,
    set_experiment,
    set_experiment_tag,
    set_experiment_tags,
    set_tag,
    set_tags,
    set_uri,
    start_run,
)
from .settings import GatewaySettings, ProducerSettings, SettingsError
from .transport import PendingWrite, Transport

# The gateway needs grpc: imported on first use, so the SDK alone stays light.
_GATEWAY_EXPORTS = (
    "Gateway",
    "add_gateway",
    "serve_gateway",
    "start_gateway",
)


def __getattr__(name: str) -> object:
    if name in _GATEWAY_EXPORTS:
        from . import gateway_server

        return getattr(gateway_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Gateway",
    "add_gateway",
    "serve_gateway",
    "start_gateway",
    "DEFAULT_EXPERIMENT_ID",
    "ActiveRun",
    "AuthenticationError",
    "BrokerUnavailableError",
    "BufferFullError",
    "Experiment",
    "FieldProblem",
    "GatewaySettings",
    "InvalidStateError",
    "Metric",
    "Param",
    "PendingWrite",
    "ProducerError",
    "ProducerSettings",
    "RunInfo",
    "RunTag",
    "RunstreamClient",
    "SettingsError",
    "SpoolError",
    "Transport",
    "ValidationError",
    "WriteToken",
    "active_run",
    "close",
    "create_experiment",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "end_run",
    "experiment_id_for_name",
    "flush",
    "get_client",
    "log_metric",
    "log_metric_columns",
    "log_metrics",
    "log_param",
    "log_params",
    "rename_experiment",
    "restore_experiment",
    "restore_run",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_tag",
    "set_tags",
    "set_uri",
    "start_run",
]
