"""The MLflow plugin over a stand-in runstream server (real gRPC, eventually consistent).

What is tested here is the stores' own work: the bearer token, the read-your-writes
tokens, MLflow's validation before anything is sent, MLflow's state checks, error mapping,
and the clear errors for what runstream does not hold.  Whether answers match MLflow's
SQLite store on the real stack is tested in tests/integration/integrations/mlflow.  The
typed RPC client and the settings are tested in test_rpc.py, the entry points in
test_entry_points.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag, ViewType  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from runstream.integrations.mlflow.entry_points import RunstreamStore  # noqa: E402
from runstream.proto.tokens import TokenTracker  # noqa: E402
from runstream.proto.v1 import common_pb2  # noqa: E402
from tests.unit.integrations.mlflow.fake_runstream import FakeRunstream, serve  # noqa: E402


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeRunstream, str]]:
    root = tmp_path_factory.mktemp("fake_runstream")
    state = FakeRunstream(f"sqlite:///{root / 'fake.db'}", str(root / "artifacts"))
    server, port = serve(state)
    yield state, f"runstream://127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture
def client(fake: tuple[FakeRunstream, str]) -> MlflowClient:
    return MlflowClient(tracking_uri=fake[1])


def _code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


# --------------------------------------------------------------- no server needed


def test_write_tokens_merge_to_the_highest_offset_per_partition() -> None:
    tracker = TokenTracker()
    tracker.observe(common_pb2.WriteToken(topic="t", offsets={0: 5, 1: 2}))
    tracker.observe(common_pb2.WriteToken(topic="t", offsets={0: 3, 2: 9}))
    tracker.observe(common_pb2.WriteToken())
    current = tracker.current()
    assert current.topic == "t"
    assert dict(current.offsets) == {0: 5, 1: 2, 2: 9}


def test_unreachable_server_is_a_clear_temporary_error() -> None:
    client = MlflowClient(tracking_uri="runstream://127.0.0.1:9")
    with pytest.raises(MlflowException) as exc:
        client.search_experiments()
    assert _code(exc) == "TEMPORARILY_UNAVAILABLE"
    assert "unreachable" in str(exc.value)


# ----------------------------------------------------------- over the stand-in


def test_reads_see_this_stores_writes(
    fake: tuple[FakeRunstream, str], client: MlflowClient
) -> None:
    state, _ = fake
    exp_id = client.create_experiment("ryw")
    run = client.create_run(exp_id, run_name="r1", tags={"t": "1"})
    run_id = run.info.run_id
    client.log_param(run_id, "p", "v")
    client.log_metric(run_id, "m", 1.5, step=3, timestamp=1000)
    client.set_tag(run_id, "k", "v2")
    client.set_terminated(run_id, "FINISHED", end_time=2000)
    got = client.get_run(run_id)
    assert got.data.params == {"p": "v"}
    assert got.data.metrics == {"m": 1.5}
    assert got.data.tags["k"] == "v2"
    assert got.data.tags["mlflow.runName"] == "r1"
    assert got.info.status == "FINISHED"
    assert got.info.end_time == 2000
    # Every read carried the token of the last write made before it.
    last_write = len(state.writes) - 1
    assert state.reads[-1] == ("GetRun", last_write)


def test_a_read_without_the_token_sees_stale_state(fake: tuple[FakeRunstream, str]) -> None:
    state, uri = fake
    writer = RunstreamStore(uri)
    reader = RunstreamStore(uri)
    exp_id = writer.create_experiment("stale")
    run = writer.create_run(exp_id, "u", 1, [], "r")
    writer.log_batch(run.info.run_id, [Metric("m", 1.0, 1, 0)], [], [])
    assert reader.get_run(run.info.run_id).data.metrics == {}
    assert writer.get_run(run.info.run_id).data.metrics == {"m": 1.0}


@pytest.mark.parametrize(
    ("metrics", "params", "tags"),
    [
        ([Metric("bad!key", 1.0, 1, 0)], [], []),
        ([Metric("m", "not a number", 1, 0)], [], []),  # type: ignore[arg-type]
        ([Metric("m", 1.0, -1, 0)], [], []),
        ([], [Param("p", "1"), Param("p", "2")], []),
        ([], [Param(f"p{i}", "1") for i in range(101)], []),
        ([Metric(f"m{i}", 1.0, 1, 0) for i in range(1001)], [], []),
        ([], [], [RunTag("../up", "x")]),
        ([], [], [RunTag("k" * 251, "x")]),
    ],
)
def test_what_mlflow_refuses_is_refused_before_sending(
    fake: tuple[FakeRunstream, str],
    client: MlflowClient,
    metrics: list[Metric],
    params: list[Param],
    tags: list[RunTag],
) -> None:
    state, _ = fake
    run = client.create_run("0")
    sent = len(state.writes)
    store = client._tracking_client.store  # MlflowClient would split large batches itself
    with pytest.raises(MlflowException) as exc:
        store.log_batch(run.info.run_id, metrics=metrics, params=params, tags=tags)
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    assert len(state.writes) == sent


def test_experiment_names_are_validated_and_unique(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as exc:
        client.create_experiment("")
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    client.create_experiment("unique-name")
    with pytest.raises(MlflowException) as exc:
        client.create_experiment("unique-name")
    assert _code(exc) == "RESOURCE_ALREADY_EXISTS"


def test_changing_a_param_is_refused(fake: tuple[FakeRunstream, str], client: MlflowClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.log_param(run_id, "lr", "0.1")  # same value: fine
    with pytest.raises(MlflowException) as exc:
        client.log_param(run_id, "lr", "0.2")
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    assert "Changing param values is not allowed" in str(exc.value)
    # A store that never saw the param learns it from a read.
    client.get_run(run_id)
    other = RunstreamStore(fake[1])
    with pytest.raises(MlflowException) as exc:
        other.log_batch(run_id, [], [Param("lr", "0.3")], [])
    assert _code(exc) == "INVALID_PARAMETER_VALUE"


def test_deleted_runs_refuse_logging_until_restored(client: MlflowClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.delete_run(run_id)
    with pytest.raises(MlflowException) as exc:
        client.log_metric(run_id, "m", 1.0)
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    client.restore_run(run_id)
    client.log_metric(run_id, "m", 1.0)
    assert client.get_run(run_id).info.lifecycle_stage == "active"


def test_unknown_run_and_experiment_are_not_found(client: MlflowClient) -> None:
    for call in (
        lambda: client.get_run("f" * 32),
        lambda: client.log_metric("f" * 32, "m", 1.0),
        lambda: client.get_experiment("424242"),
        lambda: client.get_metric_history("f" * 32, "m"),
    ):
        with pytest.raises(MlflowException) as exc:
            call()
        assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_experiment_by_name("no such experiment") is None


def test_invalid_search_is_refused_with_mlflows_error(client: MlflowClient) -> None:
    for call in (
        lambda: client.search_runs(["0"], "metrics.m >> 1"),
        lambda: client.search_runs(["0"], order_by=["nonsense.x DESC"]),
        lambda: client.search_runs(["0"], max_results=50001),
        lambda: client.search_experiments(filter_string="name ~ 'x'"),
    ):
        with pytest.raises(MlflowException) as exc:
            call()
        assert _code(exc) == "INVALID_PARAMETER_VALUE"


def test_fluent_api_with_nested_runs(fake: tuple[FakeRunstream, str]) -> None:
    mlflow.set_tracking_uri(fake[1])
    try:
        experiment = mlflow.set_experiment("fluent")
        with mlflow.start_run(run_name="parent") as parent:
            mlflow.log_params({"a": 1, "b": "x"})
            with mlflow.start_run(run_name="child", nested=True) as child:
                mlflow.log_metric("loss", 0.5, step=1)
        children = mlflow.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
            output_format="list",
        )
        assert [r.info.run_id for r in children] == [child.info.run_id]
        assert mlflow.get_run(parent.info.run_id).info.status == "FINISHED"
    finally:
        mlflow.set_tracking_uri(None)


def test_what_runstream_does_not_hold_is_a_clear_error(fake: tuple[FakeRunstream, str]) -> None:
    """GenAI data (traces, assessments, scorers) and webhooks: NOT_IMPLEMENTED, never a
    bare NotImplementedError.  (The model half is tested on the real stack.)"""
    from runstream.integrations.mlflow.entry_points import RunstreamRegistryStore

    store = RunstreamStore(fake[1])
    for call in (
        lambda: store.get_trace_info("tr-1"),
        lambda: store.register_scorer("0", "s", "{}"),
        lambda: store.get_assessment("tr-1", "a-1"),
        lambda: RunstreamRegistryStore(fake[1]).create_webhook("w", "https://x", []),
    ):
        with pytest.raises(MlflowException) as exc:
            call()
        assert _code(exc) == "NOT_IMPLEMENTED"
    assert store.search_traces(["0"]) == ([], None)


def test_bearer_token_from_the_environment(
    fake: tuple[FakeRunstream, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, uri = fake
    monkeypatch.setenv("RUNSTREAM_TOKEN", "s3cret")
    RunstreamStore(uri).create_experiment("with-token")
    assert state.metadata[-1].get("authorization") == "Bearer s3cret"


def test_new_experiments_get_an_artifact_location_under_the_root(
    fake: tuple[FakeRunstream, str], tmp_path: Path
) -> None:
    root = tmp_path.as_uri()
    store = RunstreamStore(fake[1], artifact_uri=root)
    exp_id = store.create_experiment("with-root")
    location = store.get_experiment(exp_id).artifact_location
    assert location.startswith(root + "/")
    run = store.create_run(exp_id, "u", 1, [], "r")
    assert run.info.artifact_uri == f"{location}/{run.info.run_id}/artifacts"
    given = store.create_experiment("given", artifact_location="s3://bucket/x")
    assert store.get_experiment(given).artifact_location == "s3://bucket/x"


def test_a_read_waits_only_for_this_stores_writes_about_what_it_reads(
    fake: tuple[FakeRunstream, str],
) -> None:
    """One store serves every caller of ``mlflow server``: reading one run must not wait
    for logging to another run, and still sees every write about its own run."""
    state, uri = fake
    store = RunstreamStore(uri)
    exp_id = store.create_experiment("scoped")
    quiet = store.create_run(exp_id, "u", 1, [], "quiet").info.run_id
    store.log_batch(quiet, [Metric("m", 1.0, 1, 0)], [], [])
    quiet_write = len(state.writes) - 1
    busy = store.create_run(exp_id, "u", 1, [], "busy").info.run_id
    for step in range(5):
        store.log_batch(busy, [Metric("m", float(step), 1, step)], [], [])
    assert store.get_run(quiet).data.metrics == {"m": 1.0}
    assert state.reads[-1] == ("GetRun", quiet_write)
    assert store.get_run(busy).data.metrics == {"m": 4.0}
    assert state.reads[-1] == ("GetRun", len(state.writes) - 1)
    # a search in the experiment reads every run of it: it waits for all of them
    found = store.search_runs([exp_id], "metrics.m = 4", ViewType.ACTIVE_ONLY)
    assert [r.info.run_id for r in found] == [busy]
    assert state.reads[-1] == ("SearchRuns", len(state.writes) - 1)


def test_runs_created_in_a_row_read_their_experiment_once(
    fake: tuple[FakeRunstream, str],
) -> None:
    """create_run's "experiment is active" check uses the experiment as read moments ago,
    unless this store wrote to it since: deleting it refuses the next run at once."""
    state, uri = fake
    store = RunstreamStore(uri)
    exp_id = store.create_experiment("in-a-row")
    store.get_experiment(exp_id)
    before = sum(1 for method, _ in state.reads if method == "GetExperiment")
    for i in range(3):
        store.create_run(exp_id, "u", 1, [], f"r{i}")
    assert sum(1 for method, _ in state.reads if method == "GetExperiment") == before
    store.delete_experiment(exp_id)
    with pytest.raises(MlflowException) as exc:
        store.create_run(exp_id, "u", 1, [], "too late")
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
