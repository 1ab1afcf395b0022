"""Scenarios driven through the real MLflow client, each returning a normalised transcript.

A scenario runs the same calls against any tracking URI (MLflow's SQLite store, runstream,
or ``mlflow server`` over either) and records every answer.  Normalising replaces what
legitimately differs between backends: ids (mapped to E1, R1, ... in first-seen order),
wall-clock times the backend picks, artifact locations, and the experiment-name prefix
that keeps tests apart on a shared stack.  Two transcripts are then compared for equality.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

# SQLite stores +-inf as the largest double (a documented MLflow behaviour).
_MAX_DOUBLE = 1.7976931348623157e308

Transcript = list[Any]


class Ids:
    """Backend ids -> stable symbols, in first-seen order."""

    def __init__(self) -> None:
        self._symbols: dict[str, str] = {"0": "E0"}
        self._counts = {"E": 0, "R": 0}

    def __call__(self, value: str | None, kind: str) -> str | None:
        if value is None:
            return None
        if value not in self._symbols:
            self._counts[kind] += 1
            self._symbols[value] = f"{kind}{self._counts[kind]}"
        return self._symbols[value]

    def known(self, value: str) -> str:
        return self._symbols.get(value, value)


def number(value: float) -> Any:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value) or abs(value) >= _MAX_DOUBLE:
        return "inf" if value > 0 else "-inf"
    return value


class Recorder:
    def __init__(self, prefix: str, exact_times: bool = True) -> None:
        self.prefix = prefix
        self.exact_times = exact_times
        self.ids = Ids()
        self.out: Transcript = []

    def name(self, name: str) -> str:
        return name.replace(self.prefix, "<p>")

    def experiment(self, e: Any) -> dict[str, Any] | None:
        if e is None:
            return None
        return {
            "id": self.ids(e.experiment_id, "E"),
            "name": self.name(e.name),
            "stage": e.lifecycle_stage,
            "tags": dict(sorted(e.tags.items())),
            # runstream's tables seed "Default" without a creation time.
            "has_creation_time": e.creation_time is not None or e.experiment_id == "0",
        }

    def run(self, r: Any) -> dict[str, Any]:
        info = r.info
        tags = {
            k: self.ids.known(v) if k == "mlflow.parentRunId" else v for k, v in r.data.tags.items()
        }
        return {
            "id": self.ids(info.run_id, "R"),
            "experiment": self.ids(info.experiment_id, "E"),
            "name": info.run_name,
            "status": info.status,
            "stage": info.lifecycle_stage,
            "user": info.user_id,
            "start": info.start_time if self.exact_times else info.start_time is not None,
            "end": info.end_time if self.exact_times else info.end_time is not None,
            "params": dict(sorted(r.data.params.items())),
            "metrics": {k: number(v) for k, v in sorted(r.data.metrics.items())},
            "tags": dict(sorted(tags.items())),
        }

    def history(self, metrics: list[Any], ordered: bool = True) -> list[tuple[Any, ...]]:
        points = [(m.key, number(m.value), m.step, m.timestamp) for m in metrics]
        return points if ordered else sorted(points, key=repr)

    def add(self, label: str, value: Any) -> None:
        self.out.append((label, value))

    def error(self, label: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except MlflowException as exc:
            self.add(label, ("error", exc.error_code))
        else:
            self.add(label, "no error")


def _tick() -> None:
    """Backends stamp creation times in ms; keep creations apart so order is defined."""
    time.sleep(0.005)


def experiments(uri: str, prefix: str) -> Transcript:
    client = MlflowClient(tracking_uri=uri)
    rec = Recorder(prefix)
    a = client.create_experiment(f"{prefix}a", tags={"team": "x"})
    _tick()
    b = client.create_experiment(f"{prefix}b")
    _tick()
    c = client.create_experiment(f"{prefix}c", tags={"team": "y"})
    _tick()
    rec.add("get a", rec.experiment(client.get_experiment(a)))
    rec.add("by name b", rec.experiment(client.get_experiment_by_name(f"{prefix}b")))
    rec.add("by name missing", rec.experiment(client.get_experiment_by_name(f"{prefix}zz")))
    rec.add("default", rec.experiment(client.get_experiment("0")))
    rec.error("duplicate", lambda: client.create_experiment(f"{prefix}a"))
    rec.error("empty name", lambda: client.create_experiment(""))
    client.set_experiment_tag(a, "k", "v")
    client.set_experiment_tag(a, "team", "z")
    rec.add("tagged", rec.experiment(client.get_experiment(a)))
    client.rename_experiment(b, f"{prefix}b2")
    rec.add("renamed", rec.experiment(client.get_experiment(b)))
    rec.add("old name", rec.experiment(client.get_experiment_by_name(f"{prefix}b")))
    rec.error("rename to taken", lambda: client.rename_experiment(b, f"{prefix}a"))
    client.delete_experiment(c)
    rec.add("deleted", rec.experiment(client.get_experiment(c)))
    rec.add("deleted by name", rec.experiment(client.get_experiment_by_name(f"{prefix}c")))
    rec.error("delete again", lambda: client.delete_experiment(c))
    rec.error("rename deleted", lambda: client.rename_experiment(c, f"{prefix}c2"))
    rec.error("tag deleted", lambda: client.set_experiment_tag(c, "k", "v"))
    rec.error("create run in deleted", lambda: client.create_run(c))
    rec.error("restore active", lambda: client.restore_experiment(a))

    def search(label: str, **kwargs: Any) -> None:
        flt = kwargs.pop("filter_string", None)
        full = f"name LIKE '{prefix}%'" + (f" AND {flt}" if flt else "")
        names = [rec.name(e.name) for e in client.search_experiments(filter_string=full, **kwargs)]
        rec.add(label, names)

    search("active")
    search("deleted only", view_type=ViewType.DELETED_ONLY)
    search("all", view_type=ViewType.ALL)
    search("by tag", filter_string="tags.team = 'z'")
    search("tag like", filter_string="tags.team LIKE '%'", view_type=ViewType.ALL)
    search("name order", order_by=["name DESC"])
    search("name ilike", filter_string=f"name ILIKE '{prefix.upper()}B%'")
    client.restore_experiment(c)
    rec.add("restored", rec.experiment(client.get_experiment(c)))
    search("after restore", order_by=["name ASC"])
    search("creation order", order_by=["creation_time ASC"])
    pages: list[list[str]] = []
    token = None
    while True:
        page = client.search_experiments(
            filter_string=f"name LIKE '{prefix}%'",
            max_results=2,
            order_by=["name ASC"],
            page_token=token,
        )
        pages.append([rec.name(e.name) for e in page])
        token = page.token
        if not token:
            break
    rec.add("pages", pages)
    rec.error("not found", lambda: client.get_experiment("987654321"))
    return rec.out


def _points() -> list[Metric]:
    points = [Metric("loss", 1.0 / (s + 1), 1000 + s, s) for s in range(20)]
    points += [Metric("acc", 0.1 * s, 2000 + s, s) for s in range(10)]
    points += [Metric("acc", 0.95, 2100, 9)]  # two values at one step
    points += [Metric("odd", v, 3000 + i, i) for i, v in enumerate([math.nan, math.inf, -1.5])]
    points += [Metric("neg", -math.inf, 4000, 0)]
    points += [Metric("loss", 1.0, 1000, 0)]  # identical point: collapses
    return points


def runs(uri: str, prefix: str) -> Transcript:
    client = MlflowClient(tracking_uri=uri)
    rec = Recorder(prefix)
    exp = client.create_experiment(f"{prefix}runs")
    run = client.create_run(exp, start_time=1000, tags={"a": "1"}, run_name="first")
    rid = run.info.run_id
    rec.add("created", rec.run(run))
    rec.add("get new", rec.run(client.get_run(rid)))
    client.log_param(rid, "lr", "0.1")
    client.log_param(rid, "lr", "0.1")
    rec.error("param change", lambda: client.log_param(rid, "lr", "0.2"))
    rec.error(
        "param change in batch",
        lambda: client.log_batch(rid, params=[Param("lr", "0.3"), Param("new", "1")]),
    )
    client.log_batch(
        rid,
        metrics=_points(),
        params=[Param("layers", "3"), Param("opt", "adam")],
        tags=[RunTag("phase", "train"), RunTag("a", "2")],
    )
    client.log_metric(rid, "single", 7.0, timestamp=5000, step=2)
    client.set_tag(rid, "note", "hello")
    client.set_tag(rid, "drop", "me")
    client.delete_tag(rid, "drop")
    rec.error("delete missing tag", lambda: client.delete_tag(rid, "drop"))
    rec.error("bad metric name", lambda: client.log_metric(rid, "bad!", 1.0))
    rec.error("bad tag name", lambda: client.set_tag(rid, "../x", "v"))
    rec.add("logged", rec.run(client.get_run(rid)))
    for key in ("loss", "acc", "odd", "neg", "single", "missing"):
        rec.add(f"history {key}", rec.history(client.get_metric_history(rid, key)))
    client.update_run(rid, status="SCHEDULED")
    rec.add("scheduled", rec.run(client.get_run(rid)))
    client.update_run(rid, name="renamed")
    rec.add("renamed", rec.run(client.get_run(rid)))
    client.set_tag(rid, "mlflow.runName", "renamed-by-tag")
    rec.add("renamed by tag", rec.run(client.get_run(rid)))
    client.set_terminated(rid, "FAILED", end_time=9000)
    rec.add("failed", rec.run(client.get_run(rid)))
    child = client.create_run(
        exp, start_time=1500, tags={"mlflow.parentRunId": rid}, run_name="child"
    )
    client.set_terminated(child.info.run_id, "KILLED", end_time=9500)
    rec.add("child", rec.run(client.get_run(child.info.run_id)))
    client.delete_run(rid)
    rec.add("deleted", rec.run(client.get_run(rid)))
    rec.error("log to deleted", lambda: client.log_metric(rid, "loss", 0.0))
    rec.error("tag deleted", lambda: client.set_tag(rid, "x", "y"))
    rec.error("terminate deleted", lambda: client.set_terminated(rid, "FINISHED"))
    client.restore_run(rid)
    rec.add("restored", rec.run(client.get_run(rid)))
    client.log_metric(rid, "after", 1.0, timestamp=10000, step=0)
    rec.add("logged after restore", rec.run(client.get_run(rid)))
    rec.error("missing run", lambda: client.get_run("0123456789abcdef0123456789abcdef"))
    rec.error(
        "conflicting names",
        lambda: client.create_run(exp, run_name="x", tags={"mlflow.runName": "y"}),
    )
    client.delete_experiment(exp)
    rec.add("run of deleted experiment", rec.run(client.get_run(child.info.run_id)))
    rec.add(
        "search deleted experiment",
        [r.info.run_name for r in client.search_runs([exp], run_view_type=ViewType.ALL)],
    )
    client.restore_experiment(exp)
    rec.add(
        "search restored experiment",
        sorted(r.info.run_name for r in client.search_runs([exp])),
    )
    return rec.out


# name, start, status, params, metrics {key: [(value, step)]}, tags
_SEARCH_RUNS: list[tuple[str, int, str, dict[str, str], dict[str, Any], dict[str, str]]] = [
    ("r1", 1001, "FINISHED", {"model": "a", "depth": "3"},
     {"acc": [(0.5, 0), (0.7, 1)]}, {"t": "x1"}),
    ("r2", 1002, "FINISHED", {"model": "b", "depth": "5"},
     {"acc": [(0.9, 0)], "loss": [(0.2, 0)]}, {"t": "x2"}),
    ("r3", 1003, "FAILED", {"model": "a", "depth": "7"},
     {"acc": [(0.3, 0)], "loss": [(0.9, 0)]}, {"t": "y"}),
    ("r4", 1004, "RUNNING", {"model": "b"}, {"loss": [(0.5, 0), (0.1, 5)]}, {}),
    ("r5", 1005, "KILLED", {"model": "c", "depth": "3"},
     {"acc": [(0.7, 3), (0.2, 1)]}, {"t": "x3"}),
    ("r6", 1006, "FINISHED", {"model": "a"}, {"acc": [(0.7, 0)]}, {"t": "z"}),
    ("r7", 1007, "FINISHED", {}, {}, {"t": "x1", "other": "1"}),
]  # fmt: skip


def search_runs(uri: str, prefix: str) -> Transcript:
    client = MlflowClient(tracking_uri=uri)
    rec = Recorder(prefix)
    exp = client.create_experiment(f"{prefix}search")
    exp2 = client.create_experiment(f"{prefix}search2")
    ids: dict[str, str] = {}
    for name, start, status, params, metrics, tags in _SEARCH_RUNS:
        run = client.create_run(exp, start_time=start, run_name=name, tags=tags)
        rid = ids[name] = run.info.run_id
        client.log_batch(
            rid,
            metrics=[
                Metric(k, v, start + i, step)
                for k, series in metrics.items()
                for i, (v, step) in enumerate(series)
            ],
            params=[Param(k, v) for k, v in params.items()],
        )
        if status != "RUNNING":
            client.set_terminated(rid, status, end_time=start + 100)
    other = client.create_run(exp2, start_time=999, run_name="elsewhere")
    client.log_metric(other.info.run_id, "acc", 0.99, timestamp=999, step=0)
    child = client.create_run(
        exp, start_time=1010, run_name="kid", tags={"mlflow.parentRunId": ids["r2"]}
    )
    client.delete_run(ids["r6"])

    def names(label: str, experiment_ids: list[str] | None = None, **kwargs: Any) -> None:
        found = client.search_runs(experiment_ids or [exp], **kwargs)
        rec.add(label, [r.info.run_name for r in found])

    names("default order")
    names("acc > 0.5", filter_string="metrics.acc > 0.5")
    names("acc = 0.7", filter_string="metrics.acc = 0.7")
    names("loss <= 0.2", filter_string="metrics.loss <= 0.2")
    names("model a", filter_string="params.model = 'a'")
    names("model != a", filter_string="params.model != 'a'")
    rec.error("param IN", lambda: client.search_runs([exp], "params.depth IN ('3', '7')"))
    names("tag like", filter_string="tags.t LIKE 'x%'")
    names("tag ilike", filter_string="tags.t ILIKE 'X%'")
    names("status", filter_string="attributes.status = 'FINISHED'")
    rec.error("status IN", lambda: client.search_runs([exp], "status IN ('FAILED', 'KILLED')"))
    names("run name", filter_string="attributes.run_name = 'r3'")
    names("run name like", filter_string="run_name LIKE 'r%'")
    names("start_time", filter_string="attributes.start_time >= 1004")
    names("and", filter_string="metrics.acc > 0.2 AND params.model = 'a'")
    names("tag exists", filter_string="tags.other = '1'")
    names("param missing", filter_string="params.depth != '3'")
    names("children", filter_string=f"tags.mlflow.parentRunId = '{ids['r2']}'")
    names("run id", filter_string=f"attributes.run_id = '{ids['r3']}'")
    names("run id in", filter_string=f"attributes.run_id IN ('{ids['r3']}', '{ids['r5']}')")
    names("acc desc", order_by=["metrics.acc DESC"])
    names("acc asc", order_by=["metrics.acc ASC"])
    names("loss asc", order_by=["metrics.loss ASC", "attributes.start_time DESC"])
    names("model then start", order_by=["params.model ASC", "attributes.start_time DESC"])
    names("tag order", order_by=["tags.t DESC"])
    names("start asc", order_by=["attributes.start_time ASC"])
    names("name desc", order_by=["attributes.run_name DESC"])
    names("status order", order_by=["attributes.status ASC", "attributes.run_name ASC"])
    names("end time", order_by=["attributes.end_time DESC", "attributes.run_name ASC"])
    names("deleted only", run_view_type=ViewType.DELETED_ONLY)
    names("all", run_view_type=ViewType.ALL, order_by=["attributes.run_name ASC"])
    names("two experiments", [exp, exp2], filter_string="metrics.acc > 0.6")
    names("max 2", max_results=2)
    pages: list[list[str]] = []
    token = None
    while True:
        page = client.search_runs(
            [exp], max_results=3, order_by=["attributes.start_time ASC"], page_token=token
        )
        pages.append([r.info.run_name for r in page])
        token = page.token
        if not token:
            break
    rec.add("pages", pages)
    found = client.search_runs([exp], filter_string="attributes.run_name = 'r2'")
    rec.add("r2 as found", [rec.run(r) for r in found])
    rec.add("child", [rec.run(r) for r in client.search_runs([exp], "run_name = 'kid'")])
    assert child.info.run_id
    return rec.out


@contextmanager
def tracking_uri(uri: str) -> Iterator[None]:
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)


def fluent(uri: str, prefix: str) -> Transcript:
    rec = Recorder(prefix, exact_times=False)
    with tracking_uri(uri):
        experiment = mlflow.set_experiment(f"{prefix}fluent")
        rec.add("experiment", rec.experiment(experiment))
        rec.add("same again", rec.experiment(mlflow.set_experiment(f"{prefix}fluent")))
        with mlflow.start_run(run_name="parent", tags={"kind": "sweep"}) as parent:
            mlflow.log_param("seed", 7)
            mlflow.log_params({"lr": 0.01, "opt": "sgd"})
            for step in range(5):
                mlflow.log_metric("loss", 1.0 - step * 0.1, step=step, timestamp=1000 + step)
            mlflow.log_metrics({"acc": 0.8, "f1": 0.7}, step=4, timestamp=2000)
            mlflow.set_tag("stage", "dev")
            mlflow.set_tags({"x": "1", "y": "2"})
            mlflow.delete_tag("y")
            for i in range(2):
                with mlflow.start_run(run_name=f"child{i}", nested=True):
                    mlflow.log_param("fold", i)
                    mlflow.log_metric("loss", 0.5 + i, step=0, timestamp=3000)
            with mlflow.start_run(run_name="child-failed", nested=True):
                mlflow.end_run(status="FAILED")
            rec.add("active", mlflow.active_run() is not None)
        rec.add("parent", rec.run(mlflow.get_run(parent.info.run_id)))
        found = mlflow.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
            order_by=["attributes.run_name ASC"],
            output_format="list",
        )
        rec.add("children", [rec.run(r) for r in found])
        frame = mlflow.search_runs([experiment.experiment_id], order_by=["attributes.run_name ASC"])
        rec.add("frame columns", sorted(c for c in frame.columns if not c.endswith("_time")))
        rec.add("frame names", list(frame["tags.mlflow.runName"]))
        rec.add(
            "frame loss",
            [number(v) if v == v else None for v in frame["metrics.loss"]],
        )
        run = mlflow.start_run(run_name="killed")
        mlflow.log_metric("m", 1.0, step=0, timestamp=1)
        mlflow.end_run(status="KILLED")
        rec.add("killed", rec.run(mlflow.get_run(run.info.run_id)))
        client = MlflowClient()
        rec.add(
            "history",
            rec.history(client.get_metric_history(parent.info.run_id, "loss")),
        )
        rec.error("param change", lambda: _log_param_again(parent.info.run_id))
        mlflow.delete_experiment(experiment.experiment_id)
        rec.error("set deleted experiment", lambda: mlflow.set_experiment(f"{prefix}fluent"))
    return rec.out


def _log_param_again(run_id: str) -> None:
    with mlflow.start_run(run_id=run_id):
        mlflow.log_param("seed", 8)


def long_history(uri: str, prefix: str) -> Transcript:
    client = MlflowClient(tracking_uri=uri)
    rec = Recorder(prefix)
    exp = client.create_experiment(f"{prefix}long")
    rid = client.create_run(exp, start_time=1, run_name="long").info.run_id
    for start in range(0, 3000, 1000):
        client.log_batch(
            rid,
            metrics=[
                Metric("x", float(s) ** 0.5, 10_000 + s, s) for s in range(start, start + 1000)
            ],
        )
    history = client.get_metric_history(rid, "x")
    rec.add("count", len(history))
    rec.add("points", rec.history(history))
    rec.add("latest", rec.run(client.get_run(rid))["metrics"])
    return rec.out
