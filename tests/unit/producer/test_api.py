"""The SDK's public surface is pinned: ``import runstream.producer as rs`` shows the training
API and nothing else.  Changing the list below is a deliberate act (and a docs change)."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import pytest

import runstream.producer as rs
import runstream.producer.gateway as gateway

SDK_EXPORTS = [
    "ActiveRun",
    "AuthenticationError",
    "BrokerUnavailableError",
    "BufferFullError",
    "Experiment",
    "FieldProblem",
    "InvalidStateError",
    "Metric",
    "Param",
    "ProducerError",
    "ProducerSettings",
    "RunInfo",
    "RunTag",
    "RunstreamClient",
    "SettingsError",
    "SpoolError",
    "ValidationError",
    "WriteToken",
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
]

GATEWAY_EXPORTS = [
    "ColumnsIn",
    "Gateway",
    "GatewayCore",
    "GatewaySettings",
    "LogBatch",
    "Origin",
    "RunDirectory",
    "RunFacts",
    "RunningGateway",
    "WriteResult",
    "add_gateway",
    "serve_gateway",
    "start_gateway",
]


def _public(module: ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }


def test_the_sdk_exports_exactly_the_training_api() -> None:
    assert sorted(rs.__all__) == SDK_EXPORTS
    assert len(set(rs.__all__)) == len(rs.__all__)
    assert _public(rs) == set(SDK_EXPORTS)  # nothing public outside __all__
    assert not hasattr(rs, "__getattr__")  # and nothing reachable lazily
    for name in ("GatewaySettings", "add_gateway", "start_gateway", "experiment_id_for_name"):
        with pytest.raises(AttributeError):
            getattr(rs, name)


def test_the_gateway_room_exports_its_own_names() -> None:
    assert sorted(gateway.__all__) == GATEWAY_EXPORTS
    for name in GATEWAY_EXPORTS:
        assert getattr(gateway, name) is not None
    with pytest.raises(AttributeError):
        _ = gateway.no_such_name


def test_importing_the_sdk_loads_neither_the_gateway_nor_grpc() -> None:
    code = (
        "import sys, runstream.producer\n"
        "print('runstream.producer.gateway' in sys.modules, 'grpc' in sys.modules)\n"
        "import runstream.producer.gateway.cli\n"  # what `runstream --help` loads
        "print('grpc' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]
