"""``runstream import mlflow`` and ``export mlflow`` on the real stack: an MLflow SQLite
store built with MLflow's client is imported, and the same client calls agree on both;
importing again writes nothing and picks up what is new; exporting into a fresh SQLite
store agrees again; an ``mlflow server`` over HTTP imports too; the id mapping is a view
that a replay of the log rebuilds."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

from tests.integration.integrations.mlflow.moving import source_store  # noqa: E402
from tests.integration.integrations.mlflow.processes import (  # noqa: E402
    free_port,
    stop_process,
    wait_for_port,
)

# Building the source store with MLflow's client is most of the time (about a minute).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

RUNS = 200
POINTS = 1000


@pytest.fixture(scope="module")
def source(
    tmp_path_factory: pytest.TempPathFactory, mlflow_server: tuple[str, Any, Path]
) -> tuple[str, str, source_store.Built]:
    """The SQLite source (``mlflow_server``: started first, it starts while this builds)."""
    path = tmp_path_factory.mktemp("moving") / "source.db"
    uri = f"sqlite:///{path}"
    built = source_store.build(uri, f"m{uuid.uuid4().hex[:6]}-", RUNS, POINTS)
    from mlflow import MlflowClient

    orphan_exp = MlflowClient(uri).create_experiment(f"{built.experiments[0]}-gone")
    MlflowClient(uri).create_run(orphan_exp, run_name="orphan")
    source_store.add_odd_items(str(path), built, orphan_exp)
    return uri, str(path), built


def _import(source_uri: str, runstream_uri: str, **kwargs: Any) -> Any:
    from runstream.integrations.mlflow.moving.moves import import_mlflow

    return import_mlflow(source_uri, runstream_uri, out=io.StringIO(), **kwargs)


def _without_long_param(snap: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The long param as MLflow's client would have written it: its first 6,000 characters."""
    row = list(snap["runs"][run_id])
    row[7] = {**row[7], "i": row[7]["i"][:6000]}
    return {**snap, "runs": {**snap["runs"], run_id: tuple(row)}}


@pytest.fixture(scope="module")
def imported(source: tuple[str, str, source_store.Built], runstream_uri: str) -> Any:
    uri, _, built = source
    # --experiment: a subset first (the registry is left out then) ...
    first = _import(uri, runstream_uri, experiments=[built.experiments[1]])
    assert first.written["run"] == RUNS // 2
    assert "registered model" not in first.written
    # ... then everything: the subset is found, not written again
    summary = _import(uri, runstream_uri)
    assert summary.present["run"] == RUNS // 2
    return summary


def test_import_agrees_with_the_source(
    source: tuple[str, str, source_store.Built], runstream_uri: str, imported: Any
) -> None:
    from runstream.proto.vocabulary import experiment_id_for_name

    uri, _, built = source
    assert imported.written["run"] == RUNS // 2
    points = sum(source_store.history_length(i, POINTS) + 1 for i in range(RUNS)) + 1
    points += source_store.MODEL_METRIC_POINTS  # a logged model's points are its run's too
    assert imported.written["metric point"] + imported.present["metric point"] == points
    # logged models: ids kept, their metrics, the runs' inputs and outputs of them
    # (the first, --experiment import copied the second experiment's: its model and input)
    assert imported.written["logged model"] == 2 and imported.present["logged model"] == 1
    assert not imported.model_ids
    assert imported.written["model metric"] == source_store.MODEL_METRIC_POINTS
    assert imported.written["model status"] == 2
    assert imported.present["model input"] == 1 and imported.written["model output"] == 1
    assert imported.written["registered model"] == 1
    assert imported.written["model version"] == 2
    # the odd items: reported one by one, the rest imported
    reported = {(p.kind, p.outcome): p for p in imported.problems}
    assert built.long_param_run in reported[("param", "truncated")].item
    assert "7000 characters" in reported[("param", "truncated")].reason
    assert reported[("run", "skipped")].item == built.orphan_run
    assert built.infinite_run in reported[("metric", "converted")].item
    # experiment ids: name-derived, the mapping kept
    assert set(imported.experiment_ids.values()) >= {
        experiment_id_for_name(n) for n in built.experiments
    }
    want = _without_long_param(
        source_store.snapshot(uri, built.experiments, built.model), built.long_param_run
    )
    got = source_store.snapshot(runstream_uri, built.experiments, built.model)
    assert len(want["runs"]) == RUNS and want["ordered"] and want["datasets"]
    assert sorted(want["logged models"]) == sorted(built.logged_models)
    assert want["model io"][built.run_ids[0]][1] == [(built.logged_models[0], 2)]
    for part in want:
        assert got[part] == want[part], part


def test_importing_again_writes_nothing_and_picks_up_what_is_new(
    source: tuple[str, str, source_store.Built], runstream_uri: str, imported: Any
) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    uri, _, built = source
    again = _import(uri, runstream_uri)
    assert dict(again.written) == {}
    assert again.present["run"] == RUNS and again.present["model version"] == 2
    dry = _import(uri, runstream_uri, dry_run=True)
    assert dict(dry.written) == {}

    c = MlflowClient(uri)
    rid = built.run_ids[10]
    start = c.get_run(rid).info.start_time
    c.log_batch(rid, [Metric("loss", -1.0, start + POINTS + s, POINTS + s) for s in range(10)])
    c.set_tag(rid, "reviewed", "yes")
    exp = c.get_experiment_by_name(built.experiments[0]).experiment_id
    new = c.create_run(exp, start_time=start, run_name="late").info.run_id
    c.log_metric(new, "loss", 0.5, timestamp=start, step=0)
    counted = _import(uri, runstream_uri, dry_run=True)
    newer = _import(uri, runstream_uri)
    assert dict(counted.written) == dict(newer.written)
    assert newer.written["metric point"] == 11
    assert newer.written["run"] == 1 and newer.written["tag"] >= 1
    assert newer.written["param"] == 0
    want = _without_long_param(
        source_store.snapshot(uri, built.experiments, built.model), built.long_param_run
    )
    got = source_store.snapshot(runstream_uri, built.experiments, built.model)
    assert got == want


def test_export_to_a_fresh_store_agrees(
    source: tuple[str, str, source_store.Built],
    runstream_uri: str,
    imported: Any,
    tmp_path: Path,
) -> None:
    from runstream.integrations.mlflow.moving.moves import export_mlflow

    uri, _, built = source
    target = f"sqlite:///{tmp_path / 'exported.db'}"
    summary = export_mlflow(runstream_uri, target, out=io.StringIO())
    assert summary.written["model version"] == 2
    assert summary.written["logged model"] == 3 and not summary.model_ids  # ids kept
    want = _without_long_param(
        source_store.snapshot(uri, built.experiments, built.model), built.long_param_run
    )
    got = source_store.snapshot(target, built.experiments, built.model)
    for part in want:
        assert got[part] == want[part], part
    again = export_mlflow(runstream_uri, target, out=io.StringIO())
    assert dict(again.written) == {}


def test_the_mapping_is_a_view_that_replay_rebuilds(
    source: tuple[str, str, source_store.Built],
    runstream_stack: Any,
    imported: Any,
    chdb_dsn: str,
    mlflow_kafka: str,
) -> None:
    import clickhouse_connect

    from runstream.ingest import ReplaySettings, replay
    from runstream.query.views import VIEWS

    _, _, built = source
    query = (
        "SELECT name, experiment_id, source_experiment_id, source FROM experiment_imports "
        "WHERE name IN {names:Array(String)} ORDER BY name"
    )
    settings = runstream_stack.settings
    live_client = clickhouse_connect.get_client(dsn=chdb_dsn, database=settings.database)
    try:
        live = live_client.query(query, parameters={"names": built.experiments}).result_rows
    finally:
        live_client.close()
    assert [(r[0], r[1], r[2]) for r in live] == [
        (name, imported.experiment_ids[src], src)
        for src, name in sorted(
            (s, n) for s, n in _source_ids(source[0], built.experiments).items()
        )
    ]
    assert all(r[3] == source[0] for r in live)
    rebuilt = f"{settings.database}_replay"
    replay(
        ReplaySettings(database=rebuilt, clickhouse=chdb_dsn, kafka=mlflow_kafka,
                       topic=settings.topic, progress=False)
    )  # fmt: skip
    client = clickhouse_connect.get_client(dsn=chdb_dsn, database=rebuilt)
    try:
        client.command(VIEWS["experiment_imports"])
        assert client.query(query, parameters={"names": built.experiments}).result_rows == live
    finally:
        client.close()


def _source_ids(uri: str, names: list[str]) -> dict[str, str]:
    from mlflow import MlflowClient

    c = MlflowClient(uri)
    return {c.get_experiment_by_name(n).experiment_id: n for n in names}


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Path]]:
    """``mlflow server`` on a SQLite store of its own, started first (it takes a while)."""
    root = tmp_path_factory.mktemp("mlflow_http")
    port = free_port()
    exe = shutil.which("mlflow")
    command = [exe] if exe else [sys.executable, "-m", "mlflow"]
    command += ["server", "--backend-store-uri", f"sqlite:///{root / 'http.db'}",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    with open(root / "server.log", "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    try:
        yield f"http://127.0.0.1:{port}", proc, root
    finally:
        stop_process(proc)


def test_import_from_an_mlflow_server_over_http(
    mlflow_server: tuple[str, Any, Path], runstream_uri: str
) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    url, proc, root = mlflow_server
    wait_for_port(int(url.rsplit(":", 1)[1]), proc, 300, root / "server.log")
    name = f"http-{uuid.uuid4().hex[:6]}"
    c = MlflowClient(url)
    exp = c.create_experiment(name, tags={"via": "http"})
    for i in range(6):
        rid = c.create_run(exp, start_time=source_store.T0 + i, run_name=f"h{i}").info.run_id
        c.log_batch(
            rid,
            metrics=[Metric("loss", 1.0 / (s + 1), source_store.T0 + s, s) for s in range(300)],
            params=[Param("i", str(i))],
        )
        c.set_terminated(rid, "FINISHED", end_time=source_store.T0 + 1000)
    summary = _import(url, runstream_uri, experiments=[name])
    assert summary.written["run"] == 6 and summary.written["metric point"] == 6 * 300
    want = source_store.snapshot(url, [name], None)
    assert source_store.snapshot(runstream_uri, [name], None) == want


def test_the_command_line_counts_a_dry_run(
    source: tuple[str, str, source_store.Built], runstream_uri: str, imported: Any, capsys: Any
) -> None:
    from runstream.infra.cli import main

    uri, _, built = source
    rc = main(["import", "mlflow", "--from", uri, "--to", runstream_uri, "--dry-run"])
    out = capsys.readouterr()
    assert rc == 1  # the odd items were skipped
    assert "dry run: nothing written" in out.out
    assert f"skipped run {built.orphan_run}" in out.out
