"""Per-experiment permissions end to end: a real ``runstream up`` stack (gateway, query
service and ingest in one process, real Kafka, real chDB) with a principals file.

A READ principal cannot write or delete, an EDIT principal cannot delete another's
experiment, the creator can, an admin can do everything, searches show only what the
principal may read, and the audit trail in SQL names who wrote what."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import clickhouse_connect
import grpc
import pytest

from runstream.infra.stack import Stack, StackSettings
from runstream.producer.gateway import GatewaySettings, start_gateway
from runstream.proto.endpoints import ChannelOptions
from runstream.proto.errors import SettingsError
from runstream.proto.rpc import error_code_of, open_channel
from runstream.proto.tokens import WriteToken
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc, write_pb2, write_pb2_grpc

PRINCIPALS = """
default_permission = "READ"     # MLflow's default

[[principal]]
name = "alice"                  # READ by default; MANAGE on what she creates
token = "alice-token"

[[principal]]
name = "bob"                    # may write into any experiment, delete none of others'
token = "bob-token"
default_permission = "EDIT"

[[principal]]
name = "reader"                 # reads, never writes
token = "reader-token"
create_experiments = false

[[principal]]
name = "outsider"               # sees only what it created or was granted
token = "outsider-token"
default_permission = "NO_PERMISSIONS"
grants = [{ experiment = "shared", permission = "READ" }]

[[principal]]
name = "ops"
token = "ops-token"
admin = true
"""


@dataclass
class Caller:
    """One principal's view of the stack: its stubs and its latest write token."""

    name: str
    write: Any
    query: Any
    metadata: tuple[tuple[str, str], ...]
    token: WriteToken = WriteToken()

    def w(self, method: str, request: Any) -> Any:
        answer = getattr(self.write, method)(request, timeout=60, metadata=self.metadata)
        if answer.HasField("token"):
            self.token = self.token.merge(WriteToken.from_proto(answer.token))
        return answer

    def q(self, method: str, request: Any) -> Any:
        request.read.CopyFrom(
            query_pb2.ReadOptions(write_token=self.token.to_proto(), wait_timeout_ms=30_000)
        )
        return getattr(self.query, method)(request, timeout=60, metadata=self.metadata)


@dataclass
class World:
    stack: Stack
    database: str
    chdb_dsn: str
    principals: Path
    callers: dict[str, Caller]

    def __getitem__(self, name: str) -> Caller:
        return self.callers[name]


@pytest.fixture(scope="module")
def world(
    kafka_bootstrap: str, chdb_dsn: str, topic_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("principals")
    (folder / "principals.toml").write_text(PRINCIPALS)
    database = f"perm_{uuid.uuid4().hex[:10]}"
    settings = StackSettings(
        kafka=kafka_bootstrap,
        clickhouse=chdb_dsn,
        database=database,
        topic=f"{topic_prefix}.perm.{uuid.uuid4().hex[:6]}",
        address="127.0.0.1:0",
        partitions=2,
        auth_principals=str(folder / "principals.toml"),
    )
    with Stack(settings) as stack:
        channels = []
        callers = {}
        for name in ("alice", "bob", "reader", "outsider", "ops"):
            options = ChannelOptions(stack.address, token=f"{name}-token")
            channel = open_channel(options)
            channels.append(channel)
            callers[name] = Caller(
                name,
                write_pb2_grpc.WriteServiceStub(channel),
                query_pb2_grpc.QueryServiceStub(channel),
                options.metadata,
            )
        try:
            yield World(stack, database, chdb_dsn, folder / "principals.toml", callers)
        finally:
            for channel in channels:
                channel.close()


def _denied(call: Any, *args: Any) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call(*args)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, info.value.details()
    assert error_code_of(info.value) == "PERMISSION_DENIED"
    return info.value.details() or ""


def _experiment(caller: Caller, name: str) -> str:
    answer = caller.w("CreateExperiment", write_pb2.CreateExperimentRequest(name=name))
    return str(answer.experiment_id)


def _run(caller: Caller, experiment_id: str, name: str) -> str:
    answer = caller.w(
        "CreateRun", write_pb2.CreateRunRequest(experiment_id=experiment_id, run_name=name)
    )
    return str(answer.run.run_id)


def _log(caller: Caller, run_id: str, key: str, value: str = "1", eid: str = "") -> None:
    caller.w(
        "LogBatch",
        write_pb2.LogBatchRequest(
            run_id=run_id,
            experiment_id=eid,
            params=[common_pb2.Param(key=key, value=value)],
            metrics=[common_pb2.Metric(key="loss", value=0.5, step=1, timestamp=1)],
        ),
    )


def test_the_permission_rules_hold_on_every_write(world: World) -> None:
    alice, bob, reader, ops = world["alice"], world["bob"], world["reader"], world["ops"]
    suffix = uuid.uuid4().hex[:6]
    # alice (default READ) creates an experiment: she is its creator, so she MANAGEs it,
    # and may write into it at once (the gateway waits for ingest to apply the creation)
    mine = _experiment(alice, f"alices-{suffix}")
    run = _run(alice, mine, "first")
    _log(alice, run, "lr")  # no experiment named: the gateway looks the run up

    # a READ principal can read but not write, create, tag or delete
    found = reader.q("GetExperiment", query_pb2.GetExperimentRequest(experiment_id=mine))
    assert found.experiment.created_by == "alice"
    details = _denied(reader.w, "LogBatch", write_pb2.LogBatchRequest(
        run_id=run, params=[common_pb2.Param(key="x", value="1")]))  # fmt: skip
    assert f"'reader' lacks EDIT on experiment '{mine}'" in details
    assert f"alices-{suffix}" in details
    _denied(reader.w, "CreateRun", write_pb2.CreateRunRequest(experiment_id=mine))
    _denied(reader.w, "SetExperimentTag", write_pb2.SetExperimentTagRequest(
        experiment_id=mine, key="k", value="v"))  # fmt: skip
    assert "lacks MANAGE" in _denied(
        reader.w, "DeleteExperiment", write_pb2.ExperimentRef(experiment_id=mine)
    )
    assert "may not create experiments" in _denied(
        reader.w, "CreateExperiment", write_pb2.CreateExperimentRequest(name=f"r-{suffix}")
    )
    # alice's default (READ) keeps her out of experiments she did not create
    _denied(alice.w, "CreateRun", write_pb2.CreateRunRequest(experiment_id="0"))

    # an EDIT principal writes into alice's experiment but cannot delete or rename it,
    # nor delete a run in it (MLflow: deleting needs MANAGE)
    bobs_run = _run(bob, mine, "bobs")
    _log(bob, bobs_run, "lr", eid=mine)
    assert "'bob' lacks MANAGE" in _denied(
        bob.w, "DeleteExperiment", write_pb2.ExperimentRef(experiment_id=mine)
    )
    _denied(bob.w, "RenameExperiment", write_pb2.RenameExperimentRequest(
        experiment_id=mine, new_name=f"taken-{suffix}"))  # fmt: skip
    _denied(bob.w, "DeleteRun", write_pb2.RunRef(run_id=bobs_run))

    # the creator may; so may an admin, anywhere
    alice.w("DeleteExperiment", write_pb2.ExperimentRef(experiment_id=mine))
    alice.w("RestoreExperiment", write_pb2.ExperimentRef(experiment_id=mine))
    ops.w("RenameExperiment", write_pb2.RenameExperimentRequest(
        experiment_id=mine, new_name=f"renamed-{suffix}"))  # fmt: skip
    ops.w("DeleteRun", write_pb2.RunRef(run_id=bobs_run))
    bobs_own = _experiment(bob, f"bobs-{suffix}")
    bob.w("DeleteExperiment", write_pb2.ExperimentRef(experiment_id=bobs_own))

    # what was refused never reached the log: the experiment holds what was allowed
    alice.token = alice.token.merge(ops.token).merge(bob.token)
    seen = alice.q("GetExperiment", query_pb2.GetExperimentRequest(experiment_id=mine))
    assert seen.experiment.name == f"renamed-{suffix}"
    assert seen.experiment.lifecycle_stage == "active"
    runs = alice.q(
        "SearchRuns",
        query_pb2.SearchRunsRequest(experiment_ids=[mine], run_view_type=common_pb2.ALL),
    )
    by_name = {r.info.run_name: r for r in runs.runs}
    assert set(by_name) == {"first", "bobs"}
    assert by_name["bobs"].info.lifecycle_stage == "deleted"
    assert {p.key for p in by_name["first"].data.params} == {"lr"}  # reader's 'x' is not


def _first_tail(caller: Caller, **target: str) -> Any:
    """The first message of a live tail (after the caller's writes), then cancelled."""
    request = query_pb2.TailRequest(after=caller.token.to_proto(), **target)
    stream = caller.query.Tail(request, timeout=60, metadata=caller.metadata)
    try:
        return next(iter(stream))
    finally:
        stream.cancel()


def test_searches_show_only_what_the_principal_may_read(world: World) -> None:
    alice, outsider, ops = world["alice"], world["outsider"], world["ops"]
    suffix = uuid.uuid4().hex[:6]
    hidden = _experiment(alice, f"hidden-{suffix}")
    hidden_run = _run(alice, hidden, "secret")
    _log(alice, hidden_run, "lr")
    shared = _experiment(ops, "shared")  # outsider holds READ on it by name
    ops_run = _run(ops, shared, "public")
    own = _experiment(outsider, f"outsiders-{suffix}")  # its creator: MANAGE
    own_run = _run(outsider, own, "mine")
    outsider.token = outsider.token.merge(alice.token).merge(ops.token)

    found = outsider.q(
        "SearchExperiments", query_pb2.SearchExperimentsRequest(view_type=common_pb2.ALL)
    )
    assert {e.experiment_id for e in found.experiments} == {shared, own}
    runs = outsider.q("SearchRuns", query_pb2.SearchRunsRequest())
    assert {r.info.run_id for r in runs.runs} == {ops_run, own_run}
    counts = outsider.q("CountRunsByStatus", query_pb2.CountRunsByStatusRequest())
    assert counts.total == 2
    best = outsider.q("GetBestRuns", query_pb2.GetBestRunsRequest(metric_key="loss"))
    assert hidden_run not in {r.run.info.run_id for r in best.runs}
    # pages: the scope is applied to every page, and a token outlives a new experiment
    first = outsider.q("SearchRuns", query_pb2.SearchRunsRequest(max_results=1))
    exps = outsider.q("SearchExperiments", query_pb2.SearchExperimentsRequest(max_results=1))
    later = _experiment(outsider, f"later-{suffix}")
    later_run = _run(outsider, later, "later")
    rest = outsider.q(
        "SearchRuns",
        query_pb2.SearchRunsRequest(max_results=10, page_token=first.next_page_token),
    )
    # (the newest sorts first, before the cursor: keyset pages do not show it)
    paged = {r.info.run_id for r in (*first.runs, *rest.runs)}
    assert {ops_run, own_run} <= paged <= {ops_run, own_run, later_run}
    more = outsider.q(
        "SearchExperiments",
        query_pb2.SearchExperimentsRequest(max_results=10, page_token=exps.next_page_token),
    )
    seen = {e.experiment_id for e in (*exps.experiments, *more.experiments)}
    assert {shared, own} <= seen <= {shared, own, later}

    # naming what it may not read is refused, by name
    assert f"lacks READ on experiment '{hidden}'" in _denied(
        outsider.q, "SearchRuns", query_pb2.SearchRunsRequest(experiment_ids=[hidden, own])
    )
    _denied(outsider.q, "GetExperiment", query_pb2.GetExperimentRequest(experiment_id=hidden))
    _denied(outsider.q, "GetRun", query_pb2.GetRunRequest(run_id=hidden_run))
    _denied(outsider.q, "GetMetricHistory", query_pb2.GetMetricHistoryRequest(
        run_id=hidden_run, metric_key="loss"))  # fmt: skip
    _denied(outsider.q, "GetSampledMetricHistories", query_pb2.GetSampledMetricHistoriesRequest(
        run_ids=[own_run, hidden_run], metric_key="loss", max_points=10))  # fmt: skip
    outsider.q("GetRun", query_pb2.GetRunRequest(run_id=ops_run))  # granted by name
    # the live tail: the same READ check, on the run's or the named experiment
    _denied(lambda: _first_tail(outsider, run_id=hidden_run))
    _denied(lambda: _first_tail(outsider, experiment_id=hidden))
    assert _first_tail(outsider, run_id=ops_run).token.topic == world.stack.settings.topic
    assert _first_tail(outsider, experiment_id=shared).token.offsets

    # an admin sees everything, a READ-by-default principal too
    every = ops.q("SearchRuns", query_pb2.SearchRunsRequest(max_results=50_000))
    assert {hidden_run, ops_run, own_run} <= {r.info.run_id for r in every.runs}
    world["reader"].token = outsider.token
    assert world["reader"].q("GetRun", query_pb2.GetRunRequest(run_id=hidden_run)).run


def test_the_audit_trail_in_sql_names_who_wrote_what(world: World) -> None:
    alice, bob, reader = world["alice"], world["bob"], world["reader"]
    suffix = uuid.uuid4().hex[:6]
    eid = _experiment(alice, f"audited-{suffix}")
    alices = _run(alice, eid, "a")
    _log(alice, alices, "lr", eid=eid)
    bobs = _run(bob, eid, "b")
    _log(bob, bobs, "lr", eid=eid)
    refused = write_pb2.LogBatchRequest(
        run_id=alices, experiment_id=eid, params=[common_pb2.Param(key="x", value="1")]
    )
    _denied(reader.w, "LogBatch", refused)
    alice.w("DeleteExperiment", write_pb2.ExperimentRef(experiment_id=eid))
    # wait until ingest applied every write above, then ask SQL
    alice.token = alice.token.merge(bob.token)
    alice.q("GetExperiment", query_pb2.GetExperimentRequest(experiment_id=eid))

    client = clickhouse_connect.get_client(dsn=world.chdb_dsn, database=world.database)
    try:
        trail = client.query(
            "SELECT principal, event_type, run_id, items, outcome FROM audit_log "
            "WHERE experiment_id = {eid:String} ORDER BY time, offset",
            parameters={"eid": eid},
        ).result_rows
        creators = client.query(
            "SELECT run_id, created_by FROM runs_wide WHERE experiment_id = {eid:String}",
            parameters={"eid": eid},
        ).result_rows
        experiment = client.query(
            "SELECT created_by, lifecycle_stage FROM experiments FINAL "
            "WHERE experiment_id = {eid:String}",
            parameters={"eid": eid},
        ).result_rows
    finally:
        client.close()
    by_writer: dict[str, set[tuple[str, str]]] = {}
    for principal, event_type, run_id, _items, outcome in trail:
        assert outcome == "applied"
        by_writer.setdefault(principal, set()).add((event_type, run_id))
    assert by_writer == {
        "alice": {
            ("ExperimentCreated", ""),
            ("RunCreated", alices),
            ("ParamsLogged", alices),
            ("MetricsLogged", alices),
            ("ExperimentDeleted", ""),
        },
        "bob": {("RunCreated", bobs), ("ParamsLogged", bobs), ("MetricsLogged", bobs)},
    }  # the reader's refused write left no event
    assert dict(creators) == {alices: "alice", bobs: "bob"}
    assert experiment == [("alice", "deleted")]


def test_a_stack_with_a_broken_principals_file_does_not_start(
    kafka_bootstrap: str, chdb_dsn: str, tmp_path: Path
) -> None:
    broken = tmp_path / "principals.toml"
    broken.write_text('[[principal]]\nname = "a"\ntoken = "t"\nadmn = true\n')
    stack = Stack(
        StackSettings(
            data_dir=tmp_path / "data",
            kafka=kafka_bootstrap,
            clickhouse=chdb_dsn,
            address="127.0.0.1:0",
            auth_principals=str(broken),
        )
    )
    with pytest.raises(Exception, match="unknown key 'admn'") as info:
        stack.start()
    assert type(info.value).__name__ == "PrincipalsFileError"
    assert not (tmp_path / "data").exists()  # refused before anything started


def test_a_standalone_gateway_asks_the_query_service(world: World) -> None:
    """The gateway as its own process: permission lookups go over gRPC to a query service
    (here the stack's, with an admin token), writes to the same topic."""
    s = world.stack.settings
    settings = GatewaySettings(
        address="127.0.0.1:0",
        kafka=world.stack.bootstrap,
        topic=s.topic,
        auth_principals=str(world.principals),
        query_url=f"grpc://{world.stack.address}",
        query_token="ops-token",
    )
    with pytest.raises(SettingsError, match="--query-url"):  # restricted, nobody to ask
        start_gateway(GatewaySettings(
            address="127.0.0.1:0", kafka=world.stack.bootstrap, topic=s.topic,
            auth_principals=str(world.principals)))  # fmt: skip
    gateway = start_gateway(settings)
    try:
        suffix = uuid.uuid4().hex[:6]
        via: dict[str, Caller] = {}
        channel = open_channel(ChannelOptions(gateway.address))
        for name in ("alice", "bob"):
            metadata = (("authorization", f"Bearer {name}-token"),)
            via[name] = Caller(name, write_pb2_grpc.WriteServiceStub(channel), None, metadata)
        eid = _experiment(via["alice"], f"remote-{suffix}")
        run = _run(via["alice"], eid, "r")  # the creator rule, through the remote lookup
        _log(via["alice"], run, "lr")  # the run's experiment, looked up remotely
        _log(via["bob"], run, "bob", eid=eid)
        assert "'bob' lacks MANAGE" in _denied(
            via["bob"].w, "DeleteExperiment", write_pb2.ExperimentRef(experiment_id=eid)
        )
        via["alice"].w("DeleteExperiment", write_pb2.ExperimentRef(experiment_id=eid))
        reader = world["ops"]
        reader.token = via["alice"].token.merge(via["bob"].token)
        found = reader.q("GetExperiment", query_pb2.GetExperimentRequest(experiment_id=eid))
        assert (found.experiment.created_by, found.experiment.lifecycle_stage) == (
            "alice",
            "deleted",
        )
        channel.close()
    finally:
        gateway.stop()


def test_mlflow_clients_see_mlflow_s_permission_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MLflow plugin carries its process's token; a denied call is MLflow's
    PERMISSION_DENIED.  (MLflow caches one store per URI, so each principal gets a store
    of its own here.)"""
    pytest.importorskip("mlflow")
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException

    from runstream.integrations.mlflow.tracking.store import RunstreamStore

    uri = f"runstream://{world.stack.address}"
    monkeypatch.setenv("RUNSTREAM_TOKEN", "alice-token")
    alice = RunstreamStore(uri)
    monkeypatch.setenv("RUNSTREAM_TOKEN", "bob-token")
    bob = RunstreamStore(uri)
    eid = alice.create_experiment(f"mlflow-{uuid.uuid4().hex[:6]}")
    run = alice.create_run(eid, "alice", 0, [], "r")
    # Read-your-writes is per client: bob's store holds no token of alice's write (and
    # alice's get_run of her new run may answer from its creation without waiting), so
    # bob finds the run once ingest applied it.
    deadline = time.monotonic() + 60
    while True:
        try:
            bob.get_run(run.info.run_id)
            break
        except MlflowException as exc:
            assert exc.error_code == "RESOURCE_DOES_NOT_EXIST", exc.message
            assert time.monotonic() < deadline, "alice's run was not applied in 60 s"
            time.sleep(0.05)
    bob.log_metric(run.info.run_id, Metric("loss", 0.5, 1, 0))  # EDIT by default: may write
    with pytest.raises(MlflowException) as info:
        bob.delete_experiment(eid)
    assert info.value.error_code == "PERMISSION_DENIED"
    assert "'bob' lacks MANAGE" in info.value.message
    alice.delete_experiment(eid)
    assert alice.get_experiment(eid).lifecycle_stage == "deleted"


def test_the_model_half_follows_the_same_rules(world: World) -> None:
    """Logged models and a run's datasets follow their experiment; the registry, which
    belongs to no experiment, follows each principal's default permission (admins
    MANAGE): bob (EDIT) registers, reader and alice (READ) only read, the outsider
    (NO_PERMISSIONS) cannot even read it; deleting needs MANAGE."""
    alice, bob, reader, outsider, ops = (
        world[n] for n in ("alice", "bob", "reader", "outsider", "ops")
    )
    suffix = uuid.uuid4().hex[:6]
    mine = _experiment(alice, f"alices-models-{suffix}")
    run = _run(alice, mine, "fit")
    model = alice.w(
        "CreateLoggedModel",
        write_pb2.CreateLoggedModelRequest(
            experiment_id=mine, name="m", artifact_location="file:///m", source_run_id=run
        ),
    ).model_id
    assert "lacks EDIT" in _denied(
        reader.w,
        "FinalizeLoggedModel",
        write_pb2.FinalizeLoggedModelRequest(model_id=model, experiment_id=mine, status="READY"),
    )
    data = common_pb2.DatasetInput(
        dataset=common_pb2.Dataset(name="d", digest="g", source_type="code", source="{}")
    )
    _denied(reader.w, "LogInputs", write_pb2.LogInputsRequest(run_id=run, datasets=[data]))
    alice.w("LogInputs", write_pb2.LogInputsRequest(run_id=run, datasets=[data]))
    for other in (reader, outsider):  # read what alice wrote, once ingest applied it
        other.token = other.token.merge(alice.token)
    got = reader.q("GetLoggedModel", query_pb2.GetLoggedModelRequest(model_id=model))
    assert got.model.experiment_id == mine
    _denied(outsider.q, "GetLoggedModel", query_pb2.GetLoggedModelRequest(model_id=model))
    _denied(
        outsider.q, "SearchLoggedModels", query_pb2.SearchLoggedModelsRequest(experiment_ids=[mine])
    )
    _denied(
        bob.w, "DeleteLoggedModel", write_pb2.LoggedModelRef(model_id=model, experiment_id=mine)
    )

    name = f"registry-{suffix}"
    create = write_pb2.CreateRegisteredModelRequest(name=name)
    assert "on the model registry" in _denied(alice.w, "CreateRegisteredModel", create)
    _denied(reader.w, "CreateRegisteredModel", create)
    created = bob.w("CreateRegisteredModel", create)
    version = bob.w(
        "CreateModelVersion", write_pb2.CreateModelVersionRequest(name=name, source="s")
    )
    outcome = bob.q("GetWriteOutcome", query_pb2.GetWriteOutcomeRequest(event_id=version.event_id))
    assert outcome.version == 1 and created.event_id
    for other in (reader, outsider):
        other.token = other.token.merge(bob.token)
    assert (
        reader.q("GetRegisteredModel", query_pb2.GetRegisteredModelRequest(name=name)).model.name
        == name
    )
    _denied(outsider.q, "GetRegisteredModel", query_pb2.GetRegisteredModelRequest(name=name))
    _denied(outsider.q, "SearchModelVersions", query_pb2.SearchModelVersionsRequest())
    assert "lacks MANAGE" in _denied(
        bob.w, "DeleteRegisteredModel", write_pb2.RegisteredModelRef(name=name)
    )
    ops.w("DeleteRegisteredModel", write_pb2.RegisteredModelRef(name=name))
