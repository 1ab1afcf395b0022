"""``mlflow server`` on a runstream backend: its REST API, compared with ``mlflow server``
on MLflow's SQLite store, the endpoints the UI calls, and the UI itself in headless
Chromium.

``mlflow server`` opens the runstream store as a gRPC client in its own process, so the
stack runs as ``runstream up`` in a process of its own (chDB locks its directory to one
process) rather than inside pytest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

import requests  # noqa: E402  (an MLflow dependency)

from tests.integration.integrations.mlflow import scenarios  # noqa: E402
from tests.integration.integrations.mlflow.processes import (  # noqa: E402
    free_port,
    stop_process,
    wait_for_port,
)

pytestmark = pytest.mark.integration

_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def _launch_mlflow_server(backend: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    exe = shutil.which("mlflow")
    command = [exe] if exe else [sys.executable, "-m", "mlflow"]
    command += [
        "server",
        "--backend-store-uri",
        backend,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",  # uvicorn leaves TCP_NODELAY off with more workers: ~44 ms per request
    ]
    with open(workdir / "mlflow-server.log", "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    return proc, port


@pytest.fixture(scope="module")
def servers(
    runstream_up: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """``mlflow server`` on runstream and, as the reference, on SQLite (started together)."""
    root = tmp_path_factory.mktemp("mlflow_servers")
    backends = {
        "runstream": f"runstream://{runstream_up}",
        "sqlite": f"sqlite:///{root / 'ref.db'}",
    }
    started = {name: _launch_mlflow_server(uri, root / name) for name, uri in backends.items()}
    try:
        for name, (proc, port) in started.items():
            wait_for_port(port, proc, 120, root / name / "mlflow-server.log")
        yield {name: f"http://127.0.0.1:{port}" for name, (_, port) in started.items()}
    finally:
        for proc, _ in started.values():
            stop_process(proc)


@pytest.mark.parametrize(
    "scenario",
    [
        scenarios.experiments,
        scenarios.runs,
        scenarios.search_runs,
        scenarios.fluent,
        scenarios.long_history,
    ],
    ids=lambda s: s.__name__,
)
def test_rest_api_gives_the_same_answers_as_on_sqlite(
    scenario: Any, servers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MlflowClient on an http:// URI speaks MLflow's REST API to the server."""
    # MLflow answers INVALID_STATE with HTTP 500, which its client retries for minutes.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    prefix = f"s{uuid.uuid4().hex[:8]}-"
    expected = scenario(servers["sqlite"], prefix)
    actual = scenario(servers["runstream"], prefix)
    for (label, want), (got_label, got) in zip(expected, actual, strict=True):
        assert got_label == label
        assert got == want, f"{scenario.__name__}: {label!r} differs"


def _seed_run(base: str, metric: str = "train_loss") -> tuple[str, str, str]:
    """An experiment with one finished run and a metric series, through raw REST calls."""
    api = f"{base}/api/2.0/mlflow"
    name = f"ui-{uuid.uuid4().hex[:8]}"
    exp = _post(f"{api}/experiments/create", {"name": name})["experiment_id"]
    run_name = f"chart-run-{uuid.uuid4().hex[:6]}"
    run = _post(
        f"{api}/runs/create",
        {"experiment_id": exp, "run_name": run_name, "start_time": 1_700_000_000_000},
    )["run"]["info"]
    run_id = run["run_id"]
    metrics = [
        {"key": metric, "value": 1.0 / (s + 1), "timestamp": 1_700_000_000_000 + s, "step": s}
        for s in range(40)
    ]
    _post(
        f"{api}/runs/log-batch",
        {"run_id": run_id, "metrics": metrics, "params": [{"key": "lr", "value": "0.01"}]},
    )
    _post(f"{api}/runs/set-tag", {"run_id": run_id, "key": "team", "value": "vision"})
    _post(
        f"{api}/runs/update",
        {"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_100_000},
    )
    return exp, run_id, run_name


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(url, json=body, timeout=60)
    assert response.status_code == 200, (url, response.status_code, response.text)
    return dict(response.json())


def _get(url: str, **params: Any) -> dict[str, Any]:
    response = requests.get(url, params=params, timeout=60)
    assert response.status_code == 200, (url, response.status_code, response.text)
    return dict(response.json())


def test_endpoints_the_ui_calls(servers: dict[str, str]) -> None:
    base = servers["runstream"]
    exp, run_id, run_name = _seed_run(base)
    ajax = f"{base}/ajax-api/2.0/mlflow"
    found = _post(f"{ajax}/experiments/search", {"max_results": 50})
    assert exp in [e["experiment_id"] for e in found["experiments"]]
    assert _get(f"{ajax}/experiments/get", experiment_id=exp)["experiment"]["name"].startswith(
        "ui-"
    )
    runs = _post(
        f"{ajax}/runs/search",
        {"experiment_ids": [exp], "order_by": ["metrics.train_loss ASC"], "max_results": 10},
    )["runs"]
    assert [r["info"]["run_name"] for r in runs] == [run_name]
    run = _get(f"{ajax}/runs/get", run_id=run_id)["run"]
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"train_loss": 1.0 / 40}
    history = _get(f"{ajax}/metrics/get-history", run_id=run_id, metric_key="train_loss")
    assert [m["step"] for m in history["metrics"]] == list(range(40))
    sampled = _get(
        f"{ajax}/metrics/get-history-bulk-interval",
        run_ids=run_id,
        metric_key="train_loss",
        max_results=10,
    )["metrics"]
    steps = [m["step"] for m in sampled]
    assert 0 in steps and 39 in steps and len(steps) <= 12
    models = _post(f"{ajax}/logged-models/search", {"experiment_ids": [exp]})
    assert models.get("models", []) == []
    registered = _get(f"{ajax}/registered-models/search")
    assert registered.get("registered_models", []) == []


def test_artifacts_go_through_the_server_artifact_store(servers: dict[str, str]) -> None:
    """runstream keeps no artifact bytes; MLflow's proxied artifact store does."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=servers["runstream"])
    exp = client.create_experiment(f"art-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp).info.run_id
    assert client.get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:")
    client.log_text(run_id, "hello", "notes/readme.txt")
    assert [f.path for f in client.list_artifacts(run_id, "notes")] == ["notes/readme.txt"]


def test_what_runstream_does_not_hold_answers_with_a_clear_error(
    servers: dict[str, str],
) -> None:
    api = f"{servers['runstream']}/api/2.0/mlflow"
    response = requests.post(f"{api}/registered-models/create", json={"name": "model"}, timeout=60)
    assert response.status_code == 501, response.text
    assert response.json()["error_code"] == "NOT_IMPLEMENTED"
    assert "registry" in response.json()["message"]
    exp = _post(f"{api}/experiments/create", {"name": f"nt-{uuid.uuid4().hex[:8]}"})
    response = requests.post(
        f"{servers['runstream']}/api/2.0/mlflow/logged-models",
        json={"experiment_id": exp["experiment_id"]},
        timeout=60,
    )
    assert response.status_code == 501, response.text
    assert response.json()["error_code"] == "NOT_IMPLEMENTED"


def _chromium() -> str | None:
    for name in _CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium_command(binary: str, profile: Path, *args: str) -> list[str]:
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
        # The UI is a React app that fetches, then draws its charts: let virtual time run
        # long enough and draw every frame before the capture.
        "--virtual-time-budget=60000",
        "--run-all-compositor-stages-before-draw",
        *args,
    ]


def test_ui_run_page_shows_the_metric_chart(servers: dict[str, str], tmp_path: Path) -> None:
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian package: chromium)")
    base = servers["runstream"]
    exp, run_id, run_name = _seed_run(base, metric="val_loss")
    url = f"{base}/#/experiments/{exp}/runs/{run_id}/model-metrics"

    dom_profile = tmp_path / "profile-dom"
    dom_profile.mkdir()
    dom = subprocess.run(
        _chromium_command(binary, dom_profile, "--dump-dom", url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert run_name in page, "the run page did not render the run's name"
    assert "val_loss" in page, "the run page did not render the metric"
    assert "main-svg" in page, "no chart (plotly) was drawn"

    shot = tmp_path / "run-page.png"
    shot_profile = tmp_path / "profile-shot"
    shot_profile.mkdir()
    done = subprocess.run(
        _chromium_command(binary, shot_profile, f"--screenshot={shot}", url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000, "screenshot is nearly empty"
