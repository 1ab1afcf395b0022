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
    registered = _get(f"{ajax}/registered-models/search", filter=f"name = '{run_name}'")
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
    """MLflow's GenAI data and webhooks: 501 NOT_IMPLEMENTED.  The registry and logged
    models answer (their contents are compared with SQLite elsewhere)."""
    base = servers["runstream"]
    api = f"{base}/api/2.0/mlflow"
    response = requests.post(
        f"{api}/webhooks",
        json={"name": "w", "url": "https://example.com", "events": []},
        timeout=60,
    )
    assert response.status_code == 501, response.text
    assert response.json()["error_code"] == "NOT_IMPLEMENTED"
    name = f"rm-{uuid.uuid4().hex[:8]}"
    assert (
        _post(f"{api}/registered-models/create", {"name": name})["registered_model"]["name"] == name
    )
    response = requests.post(f"{api}/registered-models/create", json={"name": name}, timeout=60)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    exp = _post(f"{api}/experiments/create", {"name": f"nt-{uuid.uuid4().hex[:8]}"})
    created = _post(f"{base}/api/2.0/mlflow/logged-models", {"experiment_id": exp["experiment_id"]})
    assert created["model"]["info"]["status"] == "LOGGED_MODEL_PENDING"


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


def _seed_models(base: str, tmp_path: Path) -> dict[str, str]:
    """Through MLflow's client over REST: a run with a dataset and a logged scikit-learn
    model, registered as version 1 of a model with the alias ``champion``."""
    pytest.importorskip("sklearn")
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from tests.integration.integrations.mlflow.scenarios import tracking_uri

    tag = uuid.uuid4().hex[:6]
    names = {
        "experiment": f"ui-models-{tag}",
        "model": f"flowers-{tag}",
        "dataset": f"petals-{tag}",
    }
    with tracking_uri(base):
        exp = mlflow.set_experiment(names["experiment"])
        with mlflow.start_run(run_name=f"fit-{tag}") as run:
            X, y = [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]
            dataset = mlflow.data.from_numpy(__import__("numpy").array(X), name=names["dataset"])
            mlflow.log_input(dataset, context="training")
            mlflow.log_metric("accuracy", 0.75)
            info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name=f"clf-{tag}")
        client = mlflow.MlflowClient()
        mv = mlflow.register_model(f"models:/{info.model_id}", names["model"])
        client.set_registered_model_alias(names["model"], "champion", mv.version)
    names.update(
        experiment_id=exp.experiment_id,
        run_id=run.info.run_id,
        run_name=f"fit-{tag}",
        logged_model=f"clf-{tag}",
        model_id=info.model_id,
    )
    return names


def _dom(binary: str, url: str, profile: Path) -> str:
    profile.mkdir()
    done = subprocess.run(
        _chromium_command(binary, profile, "--dump-dom", url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _screenshot(binary: str, url: str, shot: Path, profile: Path) -> bytes:
    profile.mkdir()
    done = subprocess.run(
        _chromium_command(binary, profile, f"--screenshot={shot}", url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    return data


def test_ui_pages_of_the_model_half(servers: dict[str, str], tmp_path: Path) -> None:
    """The experiment opens on its training runs; the run page shows its logged model and
    dataset; the Models pages list the registered model, its version and alias.  Each page
    is rendered by headless Chromium (DOM checked for the names; screenshot taken)."""
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian package: chromium)")
    base = servers["runstream"]
    seeded = _seed_models(base, tmp_path)
    exp_url = f"{base}/#/experiments/{seeded['experiment_id']}"
    version = seeded["model"]  # the registered model the run's logged model became
    pages = {
        # MLflow 3.17's UI opens an experiment on its GenAI overview unless the "Model
        # training" workflow is chosen (docs/mlflow.md): the overview must load (no traces
        # on runstream: "no data", as on SQLite), the training-runs page list the run.
        "experiment": (exp_url, ["Training runs", "No data available"]),
        "training runs": (
            f"{exp_url}?workflowType=machine_learning",
            [seeded["run_name"], seeded["dataset"], version],
        ),
        "run": (
            f"{exp_url}/runs/{seeded['run_id']}",
            [seeded["run_name"], seeded["dataset"], seeded["logged_model"], version],
        ),
        "models": (f"{base}/#/models", [seeded["model"], "Version 1", "champion"]),
        "model": (f"{base}/#/models/{seeded['model']}", [seeded["model"], "Version 1", "champion"]),
        "version": (
            f"{base}/#/models/{seeded['model']}/versions/1",
            [seeded["model"], "Version 1", "champion", seeded["run_name"], seeded["logged_model"]],
        ),
    }
    for page, (url, wanted) in pages.items():
        slug = page.replace(" ", "-")
        dom = _dom(binary, url, tmp_path / f"dom-{slug}")
        (tmp_path / f"{slug}.html").write_text(dom)  # kept for a failure's post-mortem
        missing = [w for w in wanted if w not in dom]
        assert not missing, f"{page} page ({url}) lacks {missing}"
        assert "Failed to load chart data" not in dom, page
        _screenshot(binary, url, tmp_path / f"{slug}.png", tmp_path / f"shot-{slug}")
