"""An MLflow store built with MLflow's own client, and what the same client calls answer
on any store (the snapshot two stores are compared by)."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Param,
    ViewType,
)

from runstream.proto.vocabulary import IMPORT_TAG_PREFIX

T0 = 1_700_000_000_000
STATUSES = ("FINISHED", "FAILED", "KILLED", "RUNNING")
SQL_INFINITY = 1.7976931348623157e308


@dataclass
class Built:
    experiments: list[str]
    model: str
    run_ids: list[str] = field(default_factory=list)
    long_param_run: str = ""
    orphan_run: str = ""
    infinite_run: str = ""
    logged_models: list[str] = field(default_factory=list)


def history_length(i: int, points: int) -> int:
    """Every tenth run has a ``points``-long ``loss`` history, the others 10 points (MLflow's
    SQL store takes about a second per 1,000 points: the test stays short)."""
    return points if i % 10 == 0 else 10


def build(uri: str, prefix: str, runs: int, points: int, registry: bool = True) -> Built:
    """Two experiments (one with its own artifact location), ``runs`` runs alternating
    between them: statuses, nested and deleted runs, params, tags, ``loss`` histories
    (:func:`history_length`), a dataset, an infinite value; a registered model with two
    versions, an alias and a stage."""
    c = MlflowClient(tracking_uri=uri, registry_uri=uri)
    names = [f"{prefix}a", f"{prefix}b"]
    exps = [
        c.create_experiment(names[0], artifact_location="s3://bucket/a", tags={"team": "cv"}),
        c.create_experiment(names[1], tags={"team": "nlp", "owner": "ana"}),
    ]
    built = Built(names, f"{prefix}clf")
    parents: dict[str, str] = {}
    for i in range(runs):
        exp = exps[i % 2]
        tags = {"i": str(i), "group": f"g{i % 3}"}
        if i % 10 in (2, 4) and exp in parents:
            tags["mlflow.parentRunId"] = parents[exp]
        start = T0 + i * 10_000
        rid = c.create_run(exp, start_time=start, run_name=f"r{i:03d}", tags=tags).info.run_id
        if i % 10 == 0:
            parents[exp] = rid
        built.run_ids.append(rid)
        params = [Param("lr", str(0.01 * (i % 5))), Param("depth", str(i % 7)), Param("i", str(i))]
        n = history_length(i, points)
        history = [Metric("loss", 1.0 / (s + 1) + i, start + s, s) for s in range(n)]
        history.append(Metric("acc", (i % 10) / 10, start, 0))
        for k in range(0, len(history), 1000):
            c.log_batch(rid, metrics=history[k : k + 1000], params=params if k == 0 else [])
        status = STATUSES[i % 4]
        if status != "RUNNING":
            c.set_terminated(rid, status, end_time=start + 5_000)
        if i % 25 == 7:
            c.delete_run(rid)
    first = built.run_ids[0]
    dataset = Dataset("iris", "d41d8cd9", "local", '{"uri": "file:///data/iris.csv"}',
                      '{"mlflow_colspec": []}', '{"num_rows": 150}')  # fmt: skip
    c.log_inputs(first, [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])])
    built.infinite_run = built.run_ids[2]
    c.log_metric(built.infinite_run, "gain", math.inf, timestamp=T0, step=0)
    add_logged_models(c, exps, built)
    if registry:
        c.create_registered_model(built.model, tags={"task": "cls"}, description="a classifier")
        for n, rid in enumerate(built.run_ids[:2], start=1):
            c.create_model_version(
                built.model, f"runs:/{rid}/model", run_id=rid, tags={"n": str(n)},
                description=f"version {n}",
            )  # fmt: skip
        c.set_registered_model_alias(built.model, "champion", "2")
        c.transition_model_version_stage(built.model, "1", "Staging")
    return built


#: The metric points of logged models (:func:`add_logged_models`), all on the first run.
MODEL_METRIC_POINTS = 3


def add_logged_models(c: MlflowClient, exps: list[str], built: Built) -> None:
    """MLflow 3 logged models: one READY, from the first run (its output), with params,
    tags and metrics computed on a dataset; one FAILED; one PENDING in the other
    experiment, consumed by the second run."""
    first, second = built.run_ids[0], built.run_ids[1]
    ready = c.create_logged_model(
        exps[0], "net", first, {"flavor": "pytorch"}, {"lr": "0.01"}, model_type="agent"
    ).model_id
    c.log_model_params(ready, {"layers": "4"})
    c.set_logged_model_tags(ready, {"stage": "tuned"})
    c.log_batch(first, metrics=[
        Metric("val_acc", 0.5 + s / 10, T0 + s, s, model_id=ready, dataset_name="iris",
               dataset_digest="d41d8cd9", run_id=first)
        for s in range(MODEL_METRIC_POINTS)
    ])  # fmt: skip
    c.finalize_logged_model(ready, "READY")
    c.log_outputs(first, [LoggedModelOutput(ready, 2)])
    failed = c.create_logged_model(exps[0], "broken", first).model_id
    c.finalize_logged_model(failed, "FAILED")
    pending = c.create_logged_model(exps[1], "draft", params={"k": "v"}).model_id
    c.log_inputs(second, models=[LoggedModelInput(pending)])
    built.logged_models = [ready, failed, pending]


def add_odd_items(path: str, built: Built, orphan_experiment: str) -> None:
    """What MLflow's client refuses but a store can hold: a param longer than the limit,
    a run whose experiment is gone (written in SQL, as an old or damaged store has them)."""
    db = sqlite3.connect(path)
    try:
        built.long_param_run = built.run_ids[4]
        db.execute(
            "UPDATE params SET value = ? WHERE run_uuid = ? AND key = 'i'",
            ("x" * 7000, built.long_param_run),
        )
        built.orphan_run = db.execute(
            "SELECT run_uuid FROM runs WHERE experiment_id = ?", (orphan_experiment,)
        ).fetchone()[0]
        db.execute("UPDATE runs SET experiment_id = 987654 WHERE run_uuid = ?", (built.orphan_run,))
        db.commit()
    finally:
        db.close()


def _value(v: float) -> Any:
    if math.isnan(v):
        return "nan"
    return math.copysign(math.inf, v) if abs(v) == SQL_INFINITY else v


def snapshot(uri: str, names: list[str], model: str | None) -> dict[str, Any]:
    """The same MLflow client calls on any store; ids of experiments replaced by names."""
    c = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exps = {e.name: e for e in c.search_experiments(view_type=ViewType.ALL) if e.name in names}
    by_id = {e.experiment_id: name for name, e in exps.items()}
    out: dict[str, Any] = {
        "experiments": {
            name: (
                e.artifact_location,
                e.lifecycle_stage,
                {k: v for k, v in e.tags.items() if not k.startswith(IMPORT_TAG_PREFIX)},
            )
            for name, e in exps.items()
        }
    }
    ids = sorted(by_id)
    runs = c.search_runs(ids, run_view_type=ViewType.ALL, max_results=1000)
    out["runs"] = {
        r.info.run_id: (
            by_id[r.info.experiment_id],
            r.info.run_name,
            r.info.status,
            r.info.start_time,
            r.info.end_time,
            r.info.lifecycle_stage,
            r.info.user_id,
            r.data.params,
            r.data.tags,
            {k: _value(v) for k, v in r.data.metrics.items()},
        )  # fmt: skip
        for r in runs
    }
    out["ordered"] = [
        r.info.run_id
        for r in c.search_runs(
            ids,
            "metrics.acc >= 0.5 and params.depth != '3' and tags.group = 'g1'",
            ViewType.ACTIVE_ONLY,
            order_by=["metrics.loss DESC", "attributes.start_time"],
        )
    ]
    out["histories"] = {
        (r.info.run_id, k): sorted(
            (m.step, m.timestamp, _value(m.value)) for m in c.get_metric_history(r.info.run_id, k)
        )
        for r in runs
        for k in r.data.metrics
    }
    out["datasets"] = {
        r.info.run_id: sorted(
            (
                d.dataset.name,
                d.dataset.digest,
                d.dataset.source_type,
                d.dataset.source,
                d.dataset.schema,
                d.dataset.profile,
                tuple((t.key, t.value) for t in d.tags),
            )
            for d in r.inputs.dataset_inputs
        )  # fmt: skip
        for r in runs
        if r.inputs and r.inputs.dataset_inputs
    }

    def logged(m: Any) -> tuple[Any, ...]:
        metrics = sorted(
            (x.key, x.value, x.step, x.timestamp, x.run_id, x.dataset_name, x.dataset_digest)
            for x in m.metrics or []
        )
        return (by_id[m.experiment_id], m.name, m.artifact_location, str(m.status),
                m.source_run_id, m.model_type, m.tags, m.params, metrics)  # fmt: skip

    models = c.search_logged_models(ids, max_results=100)
    out["logged models"] = {m.model_id: logged(m) for m in models}
    out["logged model"] = {m.model_id: logged(c.get_logged_model(m.model_id)) for m in models}
    out["model io"] = {
        r.info.run_id: (
            sorted(m.model_id for m in r.inputs.model_inputs or []),
            sorted((m.model_id, m.step) for m in r.outputs.model_outputs or []),
        )
        for r in (c.get_run(r.info.run_id) for r in runs if r.info.run_name in ("r000", "r001"))
    }
    if model:
        rm = c.get_registered_model(model)
        out["model"] = (rm.name, rm.description, rm.tags, rm.aliases)
        out["versions"] = sorted(
            (int(v.version), v.source, v.run_id, v.current_stage, v.tags, v.description)
            for v in c.search_model_versions(f"name='{model}'")
        )
        out["alias"] = c.get_model_version_by_alias(model, "champion").version
        out["staging"] = [v.version for v in c.get_latest_versions(model, ["Staging"])]
    return out
