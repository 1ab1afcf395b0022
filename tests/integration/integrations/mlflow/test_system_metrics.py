"""Issue 14, done when (system metrics): with system metrics on, a run gets
``system/cpu_utilization_percentage`` etc. within 15 s, and MLflow's UI (headless
Chromium) draws the System metrics charts for it.  Both switches: the SDK's collector
(``RunstreamClient.start_system_metrics``) and MLflow's own monitor
(``mlflow.start_run(log_system_metrics=True)``) logging through the ``runstream://`` plugin.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")
pytest.importorskip("psutil", reason="system metrics need the system-metrics extra")

import requests  # noqa: E402  (an MLflow dependency)

from runstream.producer import RunstreamClient  # noqa: E402
from tests.integration.integrations.mlflow import scenarios  # noqa: E402
from tests.integration.integrations.mlflow.processes import (  # noqa: E402
    stop_process,
    wait_for_port,
)
from tests.integration.integrations.mlflow.test_mlflow_server import (  # noqa: E402
    _chromium,
    _chromium_command,
    _launch_mlflow_server,
)

pytestmark = pytest.mark.integration

HOST_KEYS = (
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/disk_usage_percentage",
    "system/network_receive_megabytes",
)


@pytest.fixture(scope="module")
def mlflow_server(runstream_up: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow_system_metrics")
    proc, port = _launch_mlflow_server(f"runstream://{runstream_up}", root)
    try:
        wait_for_port(port, proc, 120, root / "mlflow-server.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def _history(base: str, run_id: str, key: str) -> list[dict[str, object]]:
    answer = requests.get(
        f"{base}/api/2.0/mlflow/metrics/get-history",
        params={"run_id": run_id, "metric_key": key},
        timeout=30,
    )
    answer.raise_for_status()
    metrics: list[dict[str, object]] = answer.json().get("metrics", [])
    return metrics


def _wait_for_run(base: str, run_id: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        got = requests.get(f"{base}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=30)
        if got.status_code == 200:
            return
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} not visible within {limit_s} s")


def _wait_for_keys(base: str, run_id: str, keys: tuple[str, ...], limit_s: float) -> float:
    """Seconds until every key has a point, through MLflow's REST API (fails past limit)."""
    start = time.monotonic()
    missing = list(keys)
    while missing and time.monotonic() - start < limit_s:
        missing = [k for k in missing if not _history(base, run_id, k)]
        if missing:
            time.sleep(0.25)
    assert not missing, f"no points for {missing} within {limit_s} s"
    return time.monotonic() - start


def test_the_sdk_collector_feeds_mlflows_system_metrics_charts(
    runstream_up: str, mlflow_server: str, tmp_path: Path
) -> None:
    with RunstreamClient(f"grpc://{runstream_up}") as client:
        exp = client.create_experiment(f"sysmetrics-{uuid.uuid4().hex[:8]}")
        run = client.create_run(exp, run_name="with-system-metrics")
        client.flush(timeout=60)
        _wait_for_run(mlflow_server, run.run_id)  # the clock starts with a visible run
        collector = client.start_system_metrics(run.run_id, interval_s=2.0)
        try:
            _wait_for_keys(mlflow_server, run.run_id, HOST_KEYS, 15.0)
            while collector.samples < 3:
                time.sleep(0.2)
        finally:
            collector.stop()
        client.set_terminated(run.run_id)
        client.flush(timeout=60)
    cpu = _history(mlflow_server, run.run_id, "system/cpu_utilization_percentage")
    steps = sorted(int(str(m["step"])) for m in cpu)
    assert steps and steps == list(range(len(steps)))  # one per sample, from step 0

    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian package: chromium)")
    url = f"{mlflow_server}/#/experiments/{exp}/runs/{run.run_id}/system-metrics"
    profile = tmp_path / "profile"
    profile.mkdir()
    dom = subprocess.run(
        _chromium_command(binary, profile, "--dump-dom", url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    (tmp_path / "system-metrics.html").write_text(page)
    # the UI draws the charts in view (lazily): the section's first are CPU and disk
    assert "System metrics" in page, "no System metrics section"
    assert "system/cpu_utilization_percentage" in page, "no CPU chart on the run page"
    assert "system/disk_usage_percentage" in page, "no disk chart on the run page"
    assert page.count("main-svg") >= 4, "no charts (plotly) were drawn"


def test_mlflows_own_monitor_logs_through_the_plugin(runstream_uri: str) -> None:
    import mlflow

    with pytest.MonkeyPatch.context() as env, scenarios.tracking_uri(runstream_uri):
        env.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
        mlflow.set_experiment(f"mlflow-monitor-{uuid.uuid4().hex[:8]}")
        start = time.monotonic()
        with mlflow.start_run(log_system_metrics=True) as run:
            client = mlflow.MlflowClient()
            found: list[object] = []
            while not found and time.monotonic() - start < 15:
                found = client.get_metric_history(run.info.run_id, HOST_KEYS[0])
                time.sleep(0.25)
        assert found, "MLflow's monitor logged nothing through runstream:// within 15 s"
        logged = mlflow.get_run(run.info.run_id).data.metrics
    assert set(HOST_KEYS) <= set(logged)
