"""Differential test: the same runs logged into MLflow's SQLite store and into runstream's
tables; SearchRuns with MLflow's filters and order_by, paginated through both, must return
identical run lists (run ids are shared: runstream's rows reuse MLflow's ids)."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runstream.query import QueryService, QuerySettings, RunSelection, ViewType, open_query_service
from tests.integration.query.rows import Writer, create_tables

mlflow = pytest.importorskip("mlflow")

INF = float("inf")
NAN = float("nan")


@dataclass
class RunSpec:
    exp: int
    name: str
    user: str
    start: int
    status: str = "RUNNING"
    end: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    delete_tags: list[str] = field(default_factory=list)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)  # k, v, step, ts
    deleted: bool = False


def _specs() -> list[RunSpec]:
    rng = random.Random(20261101)
    users = ["alice", "bob", "carol"]
    statuses = ["RUNNING", "FINISHED", "FINISHED", "FAILED", "KILLED", "SCHEDULED"]
    lrs = ["0.1", "0.01", "0.001"]
    notes = ["plain", "ünïcode", "C:\\tmp\\x", "50%_off", "it's", "Mixed Case", "mixed case"]
    acc_choices = [0.5, 0.25, 0.75, 0.9, NAN, None, 0.1, 1.0]
    big_choices = [INF, -INF, 1e308, 5.0, None, -2.5]
    specs = []
    for i in range(75):
        spec = RunSpec(
            exp=0 if i < 60 else 1,
            name="dup" if i % 11 == 0 else f"run-{i}",
            user=users[i % 3],
            start=1000 + rng.randint(0, 20),
        )
        spec.status = statuses[i % len(statuses)]
        if spec.status not in ("RUNNING", "SCHEDULED"):
            spec.end = 2000 + rng.randint(0, 30)
        if i % 7 != 3:
            spec.params["lr"] = lrs[rng.randrange(3)]
        spec.params["optimizer"] = rng.choice(["adam", "sgd", "Adam"])
        spec.params["note"] = notes[i % len(notes)]
        if i % 4 == 0:
            spec.params["batch size"] = rng.choice(["32", "64"])
        if i % 3:
            spec.tags["team"] = rng.choice(["vision", "nlp", "Vision"])
        if i % 10 == 5:
            spec.tags["temp"] = "x"
            spec.delete_tags.append("temp")
        if i % 9 == 4:
            spec.tags["team"] = "gone"
            spec.delete_tags.append("team")
        base = rng.random()
        for step in range(5):
            spec.metrics.append(("loss", round(base / (step + 1), 6), step, 10_000 + step))
        acc = acc_choices[i % len(acc_choices)]
        if acc is not None:
            spec.metrics.append(("acc", acc, 0, 10_000))
        big = big_choices[i % len(big_choices)]
        if big is not None:
            spec.metrics.append(("big", big, 1, 10_001))
        if i % 5 == 0:
            spec.metrics.append(("val loss", round(rng.random() * 2, 4), 3, 10_003))
        # many values at one step: latest is max timestamp, then max value
        spec.metrics += [
            ("multi", 3.0, 7, 10_007),
            ("multi", float(i % 4), 7, 10_008),
            ("multi", float(i % 3), 7, 10_008),
        ]
        spec.deleted = i % 13 == 6
        specs.append(spec)
    return specs


@dataclass
class World:
    client: Any
    service: QueryService
    experiment_ids: list[str]
    run_ids: list[str]


def _log_to_mlflow(client: Any, specs: list[RunSpec]) -> tuple[list[str], list[str]]:
    from mlflow.entities import Metric, Param, RunStatus, RunTag

    store = client._tracking_client.store
    exp_ids = [client.create_experiment("diff-a"), client.create_experiment("diff-b")]
    run_ids = []
    for spec in specs:
        run = store.create_run(
            exp_ids[spec.exp],
            spec.user,
            spec.start,
            [RunTag(k, v) for k, v in spec.tags.items()],
            spec.name,
        )
        rid = run.info.run_id
        run_ids.append(rid)
        client.log_batch(
            rid,
            metrics=[Metric(k, v, ts, step) for k, v, step, ts in spec.metrics],
            params=[Param(k, v) for k, v in spec.params.items()],
        )
        for key in spec.delete_tags:
            client.delete_tag(rid, key)
        if spec.status != "RUNNING" or spec.end is not None:
            store.update_run_info(rid, RunStatus.from_string(spec.status), spec.end, None)
        if spec.deleted:
            client.delete_run(rid)
    return exp_ids, run_ids


def _copy_to_runstream(
    client: Any, w: Writer, specs: list[RunSpec], exp_ids: list[str], run_ids: list[str]
) -> None:
    for exp_id in exp_ids:
        e = client.get_experiment(exp_id)
        w.experiment(
            exp_id,
            e.name,
            artifact_location=e.artifact_location,
            creation_time=e.creation_time,
            last_update_time=e.last_update_time,
        )
    for spec, rid in zip(specs, run_ids, strict=True):
        got = client.get_run(rid)
        info = got.info
        exp = exp_ids[spec.exp]
        w.run(
            rid,
            exp,
            run_name=info.run_name,
            user_id=info.user_id,
            status="RUNNING",
            start_time=info.start_time,
            artifact_uri=info.artifact_uri,
        )
        w.params(exp, rid, got.data.params)
        w.tags(exp, rid, {**spec.tags, **got.data.tags})
        for key in spec.delete_tags:
            w.delete_tag(exp, rid, key)
        w.metrics(exp, rid, spec.metrics)
        w.run(rid, exp, status=info.status, end_time=info.end_time)
        if info.lifecycle_stage == "deleted":
            w.run(rid, exp, lifecycle_stage="deleted", deleted_time=3000)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, chdb_dsn: str) -> Iterator[World]:
    from mlflow import MlflowClient

    tmp: Path = tmp_path_factory.mktemp("mlflow")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    specs = _specs()
    exp_ids, run_ids = _log_to_mlflow(client, specs)
    database = f"t_diff_{uuid.uuid4().hex[:8]}"
    ch = create_tables(chdb_dsn, database)
    _copy_to_runstream(client, Writer(ch), specs, exp_ids, run_ids)
    ch.close()
    service = open_query_service(QuerySettings(clickhouse=chdb_dsn, database=database, pool_size=2))
    yield World(client, service, exp_ids, run_ids)
    service.close()


def _mlflow_pages(
    w: World, filter_string: str, order_by: list[str], view: ViewType, page_size: int
) -> list[list[str]]:

    pages, token = [], None
    while True:
        got = w.client.search_runs(
            w.experiment_ids, filter_string, int(view), page_size, order_by, token
        )
        pages.append([r.info.run_id for r in got])
        token = got.token
        if not token:
            return pages


def _runstream_pages(
    w: World, filter_string: str, order_by: list[str], view: ViewType, page_size: int
) -> list[list[str]]:
    pages, token = [], ""
    selection = RunSelection(tuple(w.experiment_ids), filter_string, view)
    while True:
        page = w.service.search_runs(selection, order_by, page_size, token)
        pages.append([r.info.run_id for r in page.items])
        token = page.next_page_token
        if not token:
            return pages


ACTIVE, DELETED, ALL = ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL

CASES: list[tuple[str, list[str], ViewType]] = [
    ("", [], ACTIVE),
    ("", [], ALL),
    ("", [], DELETED),
    ("metrics.loss < 0.2", [], ACTIVE),
    ("metrics.loss < 0.5 and params.lr = '0.01'", ["metrics.loss DESC"], ACTIVE),
    ("params.optimizer = 'adam'", ["params.lr ASC"], ACTIVE),
    ("params.optimizer != 'adam'", ["start_time ASC"], ACTIVE),
    ("params.lr LIKE '0.0%'", ["params.lr DESC", "metrics.loss"], ACTIVE),
    ("params.note LIKE 'C:\\%'", [], ALL),
    ("params.note LIKE '%\\_%'", [], ALL),
    ("params.note LIKE '50%'", [], ALL),
    ('params.note = "it\'s"', [], ALL),
    ("params.note ILIKE 'MIXED%'", ["params.note"], ACTIVE),
    ("params.optimizer ILIKE 'ADA_'", [], ACTIVE),
    ("params.optimizer LIKE 'ada_'", [], ACTIVE),
    ("tags.team = 'vision'", ["tags.team DESC"], ACTIVE),
    ("tags.team IS NULL", [], ACTIVE),
    ("tags.team IS NOT NULL", ["tags.team"], ACTIVE),
    ("tags.temp IS NULL and params.lr IS NOT NULL", ["metrics.acc"], ALL),
    ("params.lr IS NULL", [], ALL),
    ("attributes.status = 'FINISHED'", ["metrics.acc DESC"], ACTIVE),
    ("attributes.status != 'RUNNING'", ["attributes.end_time DESC"], ACTIVE),
    ("attributes.run_name LIKE 'run-1%'", ["attributes.run_name"], ACTIVE),
    ("run_name = 'dup'", [], ALL),
    ("attributes.start_time >= 1010", ["start_time DESC"], ACTIVE),
    ("created < 1008", ["created"], ACTIVE),
    ("attributes.end_time > 2010", [], ACTIVE),
    ("attributes.user_id = 'alice'", ["user_id DESC", "metrics.loss ASC"], ACTIVE),
    ("attributes.artifact_uri LIKE '%artifacts'", [], ACTIVE),
    ("metrics.acc != 0.5", ["metrics.acc"], ACTIVE),
    ("metrics.acc > 0.5", ["metrics.acc DESC"], ACTIVE),
    ("metrics.acc = 0.5", [], ALL),
    ("metrics.acc >= -1e400", ["metrics.acc ASC"], ACTIVE),
    ("metrics.big > 1e300", ["metrics.big DESC"], ACTIVE),
    ("metrics.big <= 1.7976931348623157e308", ["metrics.big"], ACTIVE),
    ("metrics.big < 0", ["metrics.big DESC"], ACTIVE),
    ("metrics.multi = 3", [], ACTIVE),
    ("metrics.multi >= 2", ["metrics.multi DESC"], ACTIVE),
    (
        "metrics.loss <= 0.2 and metrics.acc > 0.1 and params.optimizer = 'sgd'",
        ["metrics.loss", "params.lr DESC"],
        ACTIVE,
    ),
    ("datasets.name = 'x'", [], ACTIVE),
    ("tags.`mlflow.runName` LIKE 'run-%'", ["tags.`mlflow.runName` DESC"], ACTIVE),
    ("metrics.`val loss` < 1", ["metrics.`val loss`"], ACTIVE),
    ("params.\"batch size\" = '32'", ['metrics."val loss" DESC'], ACTIVE),
    ("", ["metrics.acc"], ACTIVE),
    ("", ["metrics.acc DESC"], ACTIVE),
    ("", ["metrics.big DESC", "run_id"], ALL),
    ("", ["params.optimizer DESC", "metrics.loss ASC"], ACTIVE),
    ("", ["attributes.status", "attributes.user_id DESC"], ACTIVE),
    ("", ["end_time"], ALL),
    ("", ["run_id DESC"], ACTIVE),
    ("", ["tags.team", "params.lr DESC"], ALL),
    ("params.lr = '0.01' and params.lr != '0.1'", ["metrics.`val loss` DESC"], ACTIVE),
    ("metrics.loss > 0 and attributes.status = 'FINISHED'", ["metrics.loss"], ALL),
    (
        "run.user_id != 'bob' and param.optimizer = 'sgd' and tag.team != 'nlp'",
        ["attr.start_time"],
        ACTIVE,
    ),
    ("metric.acc < 1 and attribute.status = 'FAILED'", ["Created DESC"], DELETED),
]


def test_at_least_30_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(
    ("filter_string", "order_by", "view"), CASES, ids=[f"{i:02d}" for i in range(len(CASES))]
)
def test_search_runs_matches_mlflow(
    world: World, filter_string: str, order_by: list[str], view: ViewType
) -> None:
    expected = _mlflow_pages(world, filter_string, order_by, view, 7)
    got = _runstream_pages(world, filter_string, order_by, view, 7)
    assert got == expected
    whole = _runstream_pages(world, filter_string, order_by, view, 1000)
    assert whole == [sum(expected, [])]


def test_run_ids_in_list(world: World) -> None:
    some = world.run_ids[::9]
    quoted = ", ".join(f"'{r}'" for r in some)
    for f in (f"attributes.run_id IN ({quoted})", f"run_id NOT IN ({quoted})"):
        assert _runstream_pages(world, f, ["metrics.loss"], ALL, 5) == _mlflow_pages(
            world, f, ["metrics.loss"], ALL, 5
        )


def _same_metric(ours: float, theirs: float) -> bool:
    if math.isnan(ours):
        return math.isnan(theirs)
    if math.isinf(ours):  # MLflow's SQL store keeps +-inf as +-max double
        return theirs == math.copysign(1.7976931348623157e308, ours)
    return ours == theirs


def test_run_contents_match_mlflow(world: World) -> None:
    for rid in world.run_ids:
        theirs = world.client.get_run(rid)
        ours = world.service.get_run(rid)
        assert ours.params == theirs.data.params
        assert ours.tags == theirs.data.tags
        assert ours.info.status == theirs.info.status
        assert ours.info.end_time == theirs.info.end_time
        assert ours.info.lifecycle_stage == theirs.info.lifecycle_stage
        latest = {m.key: m.value for m in ours.metrics}
        assert latest.keys() == theirs.data.metrics.keys()
        for key, value in latest.items():
            assert _same_metric(value, theirs.data.metrics[key]), (rid, key)


def test_cases_are_not_trivial(world: World) -> None:
    """Most cases select a proper, non-empty subset, so equality says something."""
    sizes = [len(sum(_mlflow_pages(world, f, o, v, 1000), [])) for f, o, v in CASES]
    total = len(sum(_mlflow_pages(world, "", [], ALL, 1000), []))
    assert sum(1 for n in sizes if 0 < n < total) >= 30


# -- experiments ----------------------------------------------------------------------
EXPERIMENT_CASES: list[tuple[str, list[str], ViewType]] = [
    ("", [], ACTIVE),
    ("", [], ALL),
    ("", ["name"], ALL),
    ("", ["name DESC"], DELETED),
    ("name LIKE 'diff-%'", ["creation_time DESC"], ACTIVE),
    ("name ILIKE 'EXP%'", ["last_update_time"], ALL),
    ("name != 'exp-3'", ["experiment_id DESC"], ACTIVE),
    ("tags.owner = 'ann'", [], ALL),
    ("tags.owner IS NULL", ["name"], ACTIVE),
    ("tags.owner IS NOT NULL and tags.stage LIKE 'p%'", [], ALL),
    ("attribute.creation_time >= 0", ["attribute.name ASC"], ALL),
    ("experiment_id IN ('1', '3', '5')", [], ALL),
]


@pytest.fixture(scope="module")
def experiment_world(world: World, chdb_dsn: str) -> Iterator[World]:
    """More experiments (with tags, one deleted) on top of the runs' two."""
    client = world.client
    for i in range(6):
        tags = {"owner": "ann" if i % 2 else "bob"} if i % 3 else {}
        if i % 4 == 1:
            tags["stage"] = "prod"
        client.create_experiment(f"exp-{i}", tags=tags)
    client.delete_experiment(client.get_experiment_by_name("exp-4").experiment_id)
    database = f"t_diffexp_{uuid.uuid4().hex[:8]}"
    ch = create_tables(chdb_dsn, database)
    w = Writer(ch)
    for e in client.search_experiments(view_type=3, max_results=1000):
        w.experiment(
            e.experiment_id,
            e.name,
            artifact_location=e.artifact_location,
            lifecycle_stage=e.lifecycle_stage,
            creation_time=e.creation_time,
            last_update_time=e.last_update_time,
            tags=e.tags,
        )
    ch.close()
    service = open_query_service(
        QuerySettings(clickhouse=chdb_dsn, database=database, pool_size=1, create_views=False)
    )
    yield World(client, service, world.experiment_ids, world.run_ids)
    service.close()


@pytest.mark.parametrize(
    ("filter_string", "order_by", "view"),
    EXPERIMENT_CASES,
    ids=[f"{i:02d}" for i in range(len(EXPERIMENT_CASES))],
)
def test_search_experiments_matches_mlflow(
    experiment_world: World, filter_string: str, order_by: list[str], view: ViewType
) -> None:
    w = experiment_world
    expected, token = [], None
    while True:
        got = w.client.search_experiments(int(view), 3, filter_string, order_by, token)
        expected.append([e.experiment_id for e in got])
        token = got.token
        if not token:
            break
    ours, page_token = [], ""
    while True:
        page = w.service.search_experiments(filter_string, 3, order_by, page_token, view)
        ours.append([e.experiment_id for e in page.items])
        page_token = page.next_page_token
        if not page_token:
            break
    assert ours == expected
