"""The real MLflow client (MlflowClient and the fluent API) on runstream, compared call for
call with the same calls on MLflow's own SQLite store."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

from tests.integration.integrations.mlflow import scenarios  # noqa: E402

pytestmark = pytest.mark.integration

Scenario = Callable[[str, str], list[Any]]


def _compare(scenario: Scenario, runstream_uri: str, sqlite_uri: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    expected = scenario(sqlite_uri, prefix)
    actual = scenario(runstream_uri, prefix)
    for (label, want), (got_label, got) in zip(expected, actual, strict=True):
        assert got_label == label
        assert got == want, f"{scenario.__name__}: {label!r} differs"


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
def test_same_answers_as_mlflows_sqlite_store(
    scenario: Scenario, runstream_uri: str, sqlite_uri: str
) -> None:
    _compare(scenario, runstream_uri, sqlite_uri)


def test_write_then_read_at_once_sees_every_write(runstream_uri: str) -> None:
    """No sleeps anywhere: each read must see the write just before it."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=runstream_uri)
    exp = client.create_experiment(f"ryw-{uuid.uuid4().hex[:8]}")
    for i in range(5):
        run = client.create_run(exp, run_name=f"r{i}")
        assert client.get_run(run.info.run_id).info.run_name == f"r{i}"
        client.log_metric(run.info.run_id, "m", float(i), step=i)
        assert client.get_run(run.info.run_id).data.metrics == {"m": float(i)}
        client.set_terminated(run.info.run_id)
        assert client.get_run(run.info.run_id).info.status == "FINISHED"
    assert len(client.search_runs([exp], max_results=100)) == 5


def test_autologging_without_models_and_datasets(runstream_uri: str) -> None:
    pytest.importorskip("sklearn")
    import mlflow
    from sklearn.linear_model import LogisticRegression

    with scenarios.tracking_uri(runstream_uri):
        mlflow.set_experiment(f"autolog-{uuid.uuid4().hex[:8]}")
        mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
        try:
            with mlflow.start_run() as run:
                LogisticRegression(max_iter=50).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
        finally:
            mlflow.sklearn.autolog(disable=True)
        logged = mlflow.get_run(run.info.run_id)
    assert logged.data.params["max_iter"] == "50"
    assert "training_accuracy_score" in logged.data.metrics
    assert logged.data.tags["estimator_name"] == "LogisticRegression"
    assert logged.info.status == "FINISHED"


def test_artifacts_go_to_the_experiments_artifact_location(
    runstream_uri: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=runstream_uri)
    location = (tmp_path / "artifacts").as_uri()
    exp = client.create_experiment(f"art-{uuid.uuid4().hex[:8]}", artifact_location=location)
    assert client.get_experiment(exp).artifact_location == location
    run_id = client.create_run(exp).info.run_id
    assert client.get_run(run_id).info.artifact_uri == f"{location}/{run_id}/artifacts"
    client.log_text(run_id, "hello", "notes/readme.txt")
    assert [f.path for f in client.list_artifacts(run_id, "notes")] == ["notes/readme.txt"]
    assert (tmp_path / "artifacts" / run_id / "artifacts" / "notes" / "readme.txt").exists()
