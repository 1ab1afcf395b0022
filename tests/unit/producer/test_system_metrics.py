"""The system metrics collector: MLflow's key names, steps from 0, the process context,
one failing source leaves the others, the switch on start_run."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

import runstream.producer as rs
from runstream.producer import RunstreamClient, fluent
from runstream.producer.settings import ProducerSettings
from runstream.producer.system_metrics import HostSampler, SystemMetricsCollector
from runstream.proto import events as ev
from tests.unit.producer.fakes import FakeTransport

SETTINGS = ProducerSettings(uri="kafka://fake:9092", linger_ms=5, flush_timeout_s=5)


class Fixed:
    def __init__(self, values: dict[str, float]) -> None:
        self.values = values

    def sample(self) -> dict[str, float]:
        return dict(self.values)


class Broken:
    def sample(self) -> dict[str, float]:
        raise OSError("no such device")


def test_samples_are_logged_under_system_names_at_steps_from_zero() -> None:
    logged: list[tuple[dict[str, float], int]] = []
    collector = SystemMetricsCollector(
        lambda m, step, ts: logged.append((m, step)),
        interval_s=60,
        samplers=[Fixed({"cpu_utilization_percentage": 12.5}), Broken()],
    )
    collector.sample_once()
    collector.sample_once()
    assert logged == [
        ({"system/cpu_utilization_percentage": 12.5}, 0),
        ({"system/cpu_utilization_percentage": 12.5}, 1),
    ]


def test_the_host_sampler_reads_mlflows_metrics() -> None:
    values = HostSampler().sample()
    assert set(values) == {
        "cpu_utilization_percentage",
        "system_memory_usage_megabytes",
        "system_memory_usage_percentage",
        "disk_usage_percentage",
        "disk_usage_megabytes",
        "disk_available_megabytes",
        "network_receive_megabytes",
        "network_transmit_megabytes",
    }
    assert 0 <= values["system_memory_usage_percentage"] <= 100
    assert values["system_memory_usage_megabytes"] > 0


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTransport]:
    for name in ("RUNSTREAM_RUN_ID", "RUNSTREAM_EXPERIMENT_ID", "RUNSTREAM_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RANK", "2")
    fake = FakeTransport()
    rs.set_uri("kafka://fake:9092", transport=fake, linger_ms=5, system_metrics_interval_s=0.2)
    monkeypatch.setattr(fluent, "_runs", [])
    monkeypatch.setattr(fluent, "_experiment_id", None)
    yield fake
    rs.set_uri(None)


def test_start_run_with_system_metrics_logs_them_with_the_rank_until_the_run_ends(
    transport: FakeTransport,
) -> None:
    with rs.start_run(experiment_id="1", log_system_metrics=True) as run:
        deadline = time.monotonic() + 10
        while run.collector.samples < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not run.collector.running
    rs.flush()
    points = [
        (key, p.context_table()[0])
        for p in transport.payloads(ev.MetricsLogged)
        for key in p.key_column()
    ]
    cpu = [ctx for key, ctx in points if key == "system/cpu_utilization_percentage"]
    assert len(cpu) >= 2
    assert set(cpu) == {(("node", socket.gethostname()), ("rank", "2"))}


def test_mlflows_switch_turns_it_on() -> None:
    env = {"MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "true"}
    assert ProducerSettings.from_env(env).system_metrics
    assert not ProducerSettings.from_env({}).system_metrics
    assert not ProducerSettings.from_env({**env, "RUNSTREAM_SYSTEM_METRICS": "0"}).system_metrics
    with RunstreamClient(settings=SETTINGS, transport=FakeTransport()) as c:
        assert c.settings.system_metrics_interval_s == 10.0
