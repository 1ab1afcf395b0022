"""The model half through MLflow's real client on runstream: a model lifecycle compared
answer for answer with MLflow's SQLite store, concurrent creators of versions of one model
from several processes, autologging with its defaults, and replay of it all."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")
pytest.importorskip("sklearn", reason="the model tests log scikit-learn models")

from tests.integration.integrations.mlflow import model_scenarios, scenarios  # noqa: E402

pytestmark = pytest.mark.integration


def test_model_lifecycle_gives_the_same_answers_as_on_sqlite(
    runstream_uri: str, sqlite_uri: str, tmp_path: Path
) -> None:
    prefix = f"m{uuid.uuid4().hex[:8]}-"
    expected = model_scenarios.model_lifecycle(sqlite_uri, prefix, tmp_path / "sqlite")
    actual = model_scenarios.model_lifecycle(runstream_uri, prefix, tmp_path / "runstream")
    assert [label for label, _ in actual] == [label for label, _ in expected]
    differing = [
        (label, want, got)
        for (label, want), (_, got) in zip(expected, actual, strict=True)
        if want != got
    ]
    assert not differing, differing
    assert len(expected) >= 40, len(expected)
    errors = [
        label for label, value in expected if isinstance(value, tuple) and value[0] == "error"
    ]
    assert len(errors) >= 10  # refusals are compared too (codes)
    print(f"\n{len(expected)} answers compared, {len(errors)} of them refusals")


WORKER = textwrap.dedent(
    """
    import json, sys
    from mlflow import MlflowClient
    uri, name, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    got = []
    for i in range(count):
        mv = client.create_model_version(name, f"s3://models/{worker}/{i}", tags={"w": str(worker)})
        got.append(int(mv.version))
    print(json.dumps(got))
    """
)


def test_concurrent_processes_get_dense_unique_version_numbers(
    runstream_uri: str, tmp_path: Path
) -> None:
    """8 processes each create 20 versions of one model at once: 1..160, each once."""
    from mlflow import MlflowClient

    name = f"race-{uuid.uuid4().hex[:8]}"
    MlflowClient(tracking_uri=runstream_uri, registry_uri=runstream_uri).create_registered_model(
        name
    )
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), runstream_uri, name, str(w), "20"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(8)
    ]
    answers = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-2000:]
        answers.append(json.loads(out.decode().strip().splitlines()[-1]))
    elapsed = time.monotonic() - started
    numbers = sorted(n for got in answers for n in got)
    assert numbers == list(range(1, 161))
    assert all(got == sorted(got) for got in answers)  # each process's in its own order
    client = MlflowClient(tracking_uri=runstream_uri, registry_uri=runstream_uri)
    stored = client.search_model_versions(f"name = '{name}'", max_results=1000)
    assert sorted(int(v.version) for v in stored) == list(range(1, 161))
    by_worker = {int(v.version): v.tags["w"] for v in stored}
    for w, got in enumerate(answers):
        assert all(by_worker[n] == str(w) for n in got)
    print(f"\n160 versions from 8 processes in {elapsed:.1f} s")


def _autolog_run(uri: str, prefix: str) -> dict[str, Any]:
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0], [5.0, 0.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    with scenarios.tracking_uri(uri):
        mlflow.set_experiment(f"{prefix}autolog")
        mlflow.sklearn.autolog(silent=True)  # the defaults: models and datasets too
        try:
            with mlflow.start_run() as run:
                LogisticRegression(max_iter=50).fit(X, y)
        finally:
            mlflow.sklearn.autolog(disable=True)
        client = mlflow.MlflowClient()
        logged = client.get_run(run.info.run_id)
        models = client.search_logged_models(experiment_ids=[logged.info.experiment_id])
        model = models[0] if models else None
        history = json.loads(logged.data.tags.get("mlflow.log-model.history", "[]"))
    return {
        "params": logged.data.params,
        "metrics": {k: round(v, 9) for k, v in logged.data.metrics.items()},
        "tags": sorted(k for k in logged.data.tags if not k.startswith("mlflow.source.git")),
        "status": logged.info.status,
        "datasets": sorted(
            (
                d.dataset.name,
                d.dataset.digest,
                d.dataset.source_type,
                [(t.key, t.value) for t in d.tags],
            )
            for d in logged.inputs.dataset_inputs
        ),
        "outputs": len(logged.outputs.model_outputs or []),
        "models": len(models),
        "model": None
        if model is None
        else (model.name, str(model.status), sorted((model.params or {}).items())),
        "model metrics": None
        if model is None
        else sorted(
            (m.key, round(m.value, 9), m.dataset_name, m.dataset_digest)
            for m in model.metrics or []
        ),
        "history flavors": [sorted(h.get("flavors", {})) for h in history],
    }


def test_sklearn_autolog_with_its_defaults_matches_sqlite(
    runstream_uri: str, sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # both stores put artifacts under ./mlruns
    prefix = f"a{uuid.uuid4().hex[:8]}-"
    expected = _autolog_run(sqlite_uri, prefix)
    actual = _autolog_run(runstream_uri, prefix)
    assert expected["metrics"] and expected["datasets"] and expected["models"] == 1
    assert actual == expected


def _prompts(uri: str, prefix: str) -> list[Any]:
    """Prompts through MLflow's fluent API; the registry URI is the tracking URI (MLflow's
    default): setting it would leak MLFLOW_REGISTRY_URI into the environment."""
    import mlflow

    name = f"{prefix}greet"
    out: list[Any] = []
    with scenarios.tracking_uri(uri):
        first = mlflow.genai.register_prompt(name=name, template="Hello {{who}}!")
        second = mlflow.genai.register_prompt(name=name, template="Hi {{who}}!")
        mlflow.genai.set_prompt_alias(name, alias="prod", version=1)
        out.append((int(first.version), int(second.version)))
        loaded = mlflow.genai.load_prompt(f"prompts:/{name}@prod")
        out.append((int(loaded.version), loaded.format(who="Ann")))
        out.append(mlflow.genai.load_prompt(f"prompts:/{name}/2").format(who="Bo"))
        found = mlflow.genai.search_prompts(filter_string=f"name LIKE '{prefix}%'")
        out.append([p.name.replace(prefix, "<p>") for p in found])
        # prompts are not models: model searches leave them out
        models = mlflow.MlflowClient().search_registered_models(f"name LIKE '{prefix}%'")
        out.append([m.name for m in models])
    return out


def test_prompts_ride_on_the_registry_as_on_sqlite(runstream_uri: str, sqlite_uri: str) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}-"
    expected = _prompts(sqlite_uri, prefix)
    assert expected[0] == (1, 2) and expected[1] == (1, "Hello Ann!")
    assert _prompts(runstream_uri, prefix) == expected


def test_replay_rebuilds_the_model_half_exactly(runstream_stack: Any, chdb_dsn: str) -> None:
    """Last in the module: everything the tests above wrote through MLflow's client —
    registered models, versions (160 of one), aliases, stages, logged models, datasets —
    replayed from the topic into a fresh database gives the same tables."""
    from runstream.ingest import BatchSettings, ReplaySettings, replay
    from tests.integration.ingest.workload import client, dump, wait_applied

    settings = runstream_stack.settings
    live_db = client(chdb_dsn, settings.database)
    wait_applied(live_db, settings.kafka, settings.topic)
    live = dump(live_db)
    live_db.close()
    assert len(live["model_versions"]) >= 160 and live["registered_models"]
    assert live["logged_models"] and live["run_inputs"] and live["model_version_tags"]
    target = f"{settings.database}_replay"
    replay(
        ReplaySettings(
            database=target,
            clickhouse=chdb_dsn,
            kafka=settings.kafka,
            topic=settings.topic,
            batch=BatchSettings(max_events=7),  # other batch boundaries than the live worker
            progress=False,
        )
    )
    rebuilt_db = client(chdb_dsn, target)
    rebuilt = dump(rebuilt_db)
    rebuilt_db.close()
    for table in live:
        if table != "ingest_offsets":
            assert rebuilt[table] == live[table], table
