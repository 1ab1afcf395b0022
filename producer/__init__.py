"""runstream's write side for training code: an MLflow-like SDK that publishes run events
to Kafka (or through the gRPC gateway), non-blocking, batched and columnar.

    import runstream.producer as rs

    rs.set_experiment("mnist")
    with rs.start_run(run_name="baseline"):
        rs.log_params({"lr": 0.01, "layers": 4})
        for step in range(1000):
            rs.log_metric("loss", 1 / (step + 1), step=step)
    token = rs.flush()

This module exports the training API only (pinned by ``tests/unit/producer/test_api.py``).
The gateway is a room of its own, :mod:`runstream.producer.gateway`.
"""

from runstream.proto.tokens import WriteToken

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
from .settings import ProducerSettings, SettingsError

__all__ = [
    # the fluent API
    "ActiveRun",
    "active_run",
    "close",
    "create_experiment",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "end_run",
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
    # the client, its settings and what it returns
    "RunstreamClient",
    "ProducerSettings",
    "WriteToken",
    "Experiment",
    "Metric",
    "Param",
    "RunInfo",
    "RunTag",
    # errors
    "AuthenticationError",
    "BrokerUnavailableError",
    "BufferFullError",
    "FieldProblem",
    "InvalidStateError",
    "ProducerError",
    "SettingsError",
    "SpoolError",
    "ValidationError",
]
