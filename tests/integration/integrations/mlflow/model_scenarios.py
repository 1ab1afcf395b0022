"""The model half of MLflow driven through its real client, as transcripts to compare
(see :mod:`.scenarios`): logged models in two flavors, loading by ``runs:/``,
``models:/name/N`` and ``models:/name@alias``, the registry (models, versions, tags,
aliases, stages, searches, renames, deletes, errors), datasets of runs and their filters.

Normalised besides ids and times: logged-model ids (M1, M2, ...), artifact locations
(relative to the scenario's root), and what MLflow's SQL store leaves out that runstream
fills in (aliases in model-version search results, docs/mlflow.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus

from tests.integration.integrations.mlflow.scenarios import Recorder, Transcript, tracking_uri


class ModelRecorder(Recorder):
    def __init__(self, prefix: str, root: Path) -> None:
        super().__init__(prefix, exact_times=False)
        self.root = root.as_uri()
        self._models: dict[str, str] = {}

    def model_id(self, value: str | None) -> str | None:
        if value is None:
            return None
        if value not in self._models:
            self._models[value] = f"M{len(self._models) + 1}"
        return self._models[value]

    def text(self, value: str | None) -> str | None:
        """Ids, model ids, the root and the prefix replaced by symbols."""
        if value is None:
            return None
        out = value.replace(self.root, "<root>").replace(str(Path(self.root[7:])), "<root>")
        out = re.sub(r"m-[0-9a-f]{32}", lambda m: str(self.model_id(m.group(0))), out)
        out = re.sub(r"\b[0-9a-f]{32}\b", lambda m: self.ids.known(m.group(0)), out)
        out = re.sub(r"/\d{6,}/", lambda m: f"/{self.ids.known(m.group(0)[1:-1])}/", out)
        return self.name(out)

    def version(self, v: Any, aliases: bool = True) -> dict[str, Any]:
        return {
            "name": self.name(v.name),
            "version": int(v.version),
            "stage": v.current_stage,
            "description": v.description,
            "source": self.text(v.source),
            "run_id": self.ids.known(v.run_id) if v.run_id else v.run_id,
            "status": v.status,
            "tags": dict(sorted(v.tags.items())),
            "aliases": sorted(v.aliases) if aliases else None,
            "user_id": v.user_id,
            "run_link": v.run_link,
            "has_times": v.creation_timestamp is not None and v.last_updated_timestamp is not None,
        }

    def registered(self, m: Any) -> dict[str, Any]:
        return {
            "name": self.name(m.name),
            "description": m.description,
            "tags": dict(sorted(m.tags.items())),
            "aliases": dict(sorted(m.aliases.items())),
            "latest": sorted((int(v.version), v.current_stage) for v in m.latest_versions or []),
            "times": (m.creation_timestamp is not None, m.last_updated_timestamp is not None),
        }

    def logged(self, m: Any) -> dict[str, Any]:
        return {
            "id": self.model_id(m.model_id),
            "experiment": self.ids.known(m.experiment_id),
            "name": m.name,
            "location": self.text(m.artifact_location),
            "status": str(m.status),
            "type": m.model_type,
            "run": self.ids.known(m.source_run_id) if m.source_run_id else None,
            "params": dict(sorted((m.params or {}).items())),
            "tag_keys": sorted(k for k in (m.tags or {}) if not k.startswith("mlflow.source")),
            "metrics": sorted(
                (x.key, round(x.value, 6), x.step, x.dataset_name, x.dataset_digest)
                for x in m.metrics or []
            ),
        }

    def inputs(self, run: Any) -> dict[str, Any]:
        return {
            "datasets": sorted(
                (
                    d.dataset.name,
                    d.dataset.digest,
                    d.dataset.source_type,
                    sorted((t.key, t.value) for t in d.tags),
                )
                for d in run.inputs.dataset_inputs
            ),
            "model_outputs": [
                (self.model_id(o.model_id), o.step) for o in (run.outputs.model_outputs or [])
            ],
        }


class _Constant(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """The second flavor: a pyfunc model of our own."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return np.asarray(model_input).sum(axis=1) * 0 + 7


def model_lifecycle(uri: str, prefix: str, root: Path) -> Transcript:
    from sklearn.linear_model import LogisticRegression

    rec = ModelRecorder(prefix, root)
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0], [5.0, 0.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    name = f"{prefix}iris"
    with tracking_uri(uri):
        client = MlflowClient()
        exp = client.create_experiment(f"{prefix}models", artifact_location=(root / "art").as_uri())
        mlflow.set_experiment(experiment_id=exp)
        rec.ids(exp, "E")
        # -- logged models in two flavors, with a dataset and a metric per model --------
        with mlflow.start_run(run_name="sk") as sk_run:
            rec.ids(sk_run.info.run_id, "R")
            dataset = mlflow.data.from_numpy(X, targets=y, name="toy", digest="d1")
            mlflow.log_input(dataset, context="training")
            model = LogisticRegression(max_iter=100).fit(X, y)
            sk_info = mlflow.sklearn.log_model(model, name="model", params={"C": 1.0})
            mlflow.log_metric("acc", 0.75, step=1, model_id=sk_info.model_id, dataset=dataset)
            mlflow.log_metric("acc", 0.5, step=2, model_id=sk_info.model_id, dataset=dataset)
        with mlflow.start_run(run_name="py") as py_run:
            rec.ids(py_run.info.run_id, "R")
            eval_set = mlflow.data.from_numpy(X[:2], name="held-out", digest="d2")
            mlflow.log_input(eval_set, context="eval")
            py_info = mlflow.pyfunc.log_model(name="model", python_model=_Constant())
            mlflow.log_metric("acc", 0.9, step=1, model_id=py_info.model_id, dataset=eval_set)
        rec.add("model info", (rec.model_id(sk_info.model_id), sorted(sk_info.flavors)))
        rec.add("pyfunc info", (rec.model_id(py_info.model_id), sorted(py_info.flavors)))
        rec.add("run inputs", rec.inputs(client.get_run(sk_run.info.run_id)))
        rec.add("run inputs py", rec.inputs(client.get_run(py_run.info.run_id)))
        rec.add("logged", rec.logged(client.get_logged_model(sk_info.model_id)))
        rec.add(
            "load runs:/",
            mlflow.sklearn.load_model(f"runs:/{sk_run.info.run_id}/model").predict(X).tolist(),
        )
        rec.add(
            "load runs:/ pyfunc",
            mlflow.pyfunc.load_model(f"runs:/{py_run.info.run_id}/model").predict(X).tolist(),
        )

        def logged_search(label: str, **kw: Any) -> None:
            found = client.search_logged_models(experiment_ids=[exp], **kw)
            rec.add(label, [rec.model_id(m.model_id) for m in found])

        logged_search("logged all")
        logged_search("logged by metric", filter_string="metrics.acc > 0.6")
        logged_search("logged by param", filter_string="params.C = '1.0'")
        logged_search("logged by name", filter_string="name = 'model' AND source_run_id LIKE '%'")
        # (status = 'READY' matches nothing on MLflow's SQL store, which compares the string
        # with an integer column; runstream compares statuses: docs/mlflow.md)
        logged_search("logged on dataset", datasets=[{"dataset_name": "held-out"}])
        logged_search(
            "logged by latest acc",
            order_by=[{"field_name": "metrics.acc", "ascending": False}],
        )
        client.finalize_logged_model(sk_info.model_id, LoggedModelStatus.READY)  # again: fine
        rec.add("finalized twice", str(client.get_logged_model(sk_info.model_id).status))
        client.set_logged_model_tags(sk_info.model_id, {"stage": "candidate"})
        rec.add("logged tags", client.get_logged_model(sk_info.model_id).tags.get("stage"))
        rec.error("logged missing", lambda: client.get_logged_model("m-" + "0" * 32))

        def runs(label: str, filter_string: str) -> None:
            found = client.search_runs([exp], filter_string, order_by=["attributes.run_name"])
            rec.add(label, [r.info.run_name for r in found])

        runs("runs by dataset", "datasets.name = 'toy'")
        runs("runs by context", "datasets.context IN ('eval', 'test')")
        runs("runs by digest", "datasets.digest LIKE 'd%'")

        # -- the registry ------------------------------------------------------------
        rec.add(
            "create", rec.registered(client.create_registered_model(name, {"team": "a"}, "first"))
        )
        rec.error("create again", lambda: client.create_registered_model(name))
        rec.error("empty name", lambda: client.create_registered_model(""))
        rec.error("slash in name", lambda: client.create_registered_model("a/b"))
        rec.add("update", rec.registered(client.update_registered_model(name, "second")))
        client.set_registered_model_tag(name, "k", "v")
        client.delete_registered_model_tag(name, "team")
        rec.add("tags", rec.registered(client.get_registered_model(name)))
        v1 = mlflow.register_model(f"runs:/{sk_run.info.run_id}/model", name)
        rec.add("register v1", rec.version(v1))
        v2 = mlflow.register_model(f"models:/{py_info.model_id}", name, tags={"kind": "py"})
        rec.add("register v2", rec.version(v2))
        v3 = client.create_model_version(name, (root / "elsewhere").as_uri(), description="raw")
        rec.add("create v3", rec.version(v3))
        rec.error("version of missing", lambda: client.create_model_version(f"{prefix}nope", "s"))
        rec.add("get v1", rec.version(client.get_model_version(name, "1")))
        rec.add("download v1", rec.text(client.get_model_version_download_uri(name, 1)))
        rec.add(
            "load by version", mlflow.pyfunc.load_model(f"models:/{name}/1").predict(X).tolist()
        )
        client.set_registered_model_alias(name, "champion", 2)
        rec.add("by alias", rec.version(client.get_model_version_by_alias(name, "champion")))
        rec.add(
            "load by alias",
            mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(X).tolist(),
        )
        rec.add("latest alias", int(client.get_model_version_by_alias(name, "latest").version))
        rec.error("alias missing version", lambda: client.set_registered_model_alias(name, "x", 99))
        rec.error("alias reserved", lambda: client.set_registered_model_alias(name, "latest", 1))
        rec.error("alias unknown", lambda: client.get_model_version_by_alias(name, "nope"))
        rec.error("get missing version", lambda: client.get_model_version(name, "42"))
        client.transition_model_version_stage(name, 1, "staging")
        client.transition_model_version_stage(name, 2, "Production")
        moved = client.transition_model_version_stage(name, 3, "production", True)
        rec.add("transitioned", rec.version(moved))
        rec.error("unknown stage", lambda: client.transition_model_version_stage(name, 1, "live"))
        rec.error(
            "archive from None",
            lambda: client.transition_model_version_stage(name, 1, "None", True),
        )
        rec.add(
            "latest versions",
            sorted((int(v.version), v.current_stage) for v in client.get_latest_versions(name)),
        )
        rec.add(
            "latest production",
            [int(v.version) for v in client.get_latest_versions(name, ["Production"])],
        )
        client.set_model_version_tag(name, "1", "ok", "yes")
        client.delete_model_version_tag(name, "2", "kind")
        client.update_model_version(name, "1", description="best")
        rec.add("v1 after", rec.version(client.get_model_version(name, "1")))
        rec.add("v2 after", rec.version(client.get_model_version(name, "2")))
        rec.add("model after", rec.registered(client.get_registered_model(name)))

        def rm_search(label: str, filter_string: str, **kw: Any) -> None:
            pages, token = [], None
            for _ in range(10):
                page = client.search_registered_models(filter_string, page_token=token, **kw)
                pages.append([rec.name(m.name) for m in page])
                token = page.token
                if not token:
                    break
            rec.add(label, pages)

        client.create_registered_model(f"{prefix}other", {"team": "b"})
        client.create_registered_model(f"{prefix}zeta")
        rm_search("rm search", f"name LIKE '{prefix}%'")
        rm_search("rm by tag", f"name LIKE '{prefix}%' AND tags.team = 'b'")
        rm_search("rm desc pages", f"name LIKE '{prefix}%'", order_by=["name DESC"], max_results=2)
        rm_search("rm in", f"name IN ('{prefix}zeta', '{prefix}iris')")
        rec.error("rm bad filter", lambda: client.search_registered_models("version = 1"))
        rec.error("rm bad order", lambda: client.search_registered_models(order_by=["foo"]))

        def mv_search(label: str, filter_string: str, **kw: Any) -> None:
            found = client.search_model_versions(filter_string, **kw)
            rec.add(label, [(rec.name(v.name), int(v.version), v.current_stage) for v in found])

        mv_search("mv by name", f"name = '{name}'", order_by=["version_number ASC"])
        mv_search("mv by run", f"run_id = '{sk_run.info.run_id}'")
        mv_search("mv by number", f"name = '{name}' AND version_number > 1")
        mv_search("mv by tag", f"name = '{name}' AND tags.ok = 'yes'")
        mv_search("mv by source", f"name = '{name}' AND source_path LIKE 'models:/%'")
        rec.add(
            "mv full",
            [
                rec.version(v, aliases=False)
                for v in client.search_model_versions(f"name = '{name}'")
            ],
        )
        rec.error("mv bad filter", lambda: client.search_model_versions("version_number = 1.5"))
        # -- rename, delete, re-create ---------------------------------------------
        client.rename_registered_model(name, f"{prefix}iris2")
        rec.add("renamed", rec.registered(client.get_registered_model(f"{prefix}iris2")))
        rec.error("old name", lambda: client.get_registered_model(name))
        rec.error(
            "rename to taken",
            lambda: client.rename_registered_model(f"{prefix}iris2", f"{prefix}zeta"),
        )
        rec.add("versions moved", rec.version(client.get_model_version(f"{prefix}iris2", 2)))
        client.delete_model_version(f"{prefix}iris2", 3)
        rec.error("deleted version", lambda: client.get_model_version(f"{prefix}iris2", 3))
        v4 = client.create_model_version(f"{prefix}iris2", "s3://b/4")
        rec.add("number after delete", int(v4.version))
        client.delete_registered_model(f"{prefix}iris2")
        rec.error("deleted model", lambda: client.get_registered_model(f"{prefix}iris2"))
        client.create_registered_model(f"{prefix}iris2")
        rec.add(
            "starts again", int(client.create_model_version(f"{prefix}iris2", "s3://b/1").version)
        )
        # -- an experiment tag deleted ----------------------------------------------
        client.set_experiment_tag(exp, "drop", "me")
        client.delete_experiment_tag(exp, "drop")
        rec.add("experiment tags", dict(client.get_experiment(exp).tags))
        rec.error("delete missing tag", lambda: client.delete_experiment_tag(exp, "drop"))
    return rec.out
