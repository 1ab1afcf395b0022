"""Copy logged models (MLflow 3) between two stores: name, type, source run, status,
artifact location (the URI is kept, nothing is copied), params, tags and metrics (every
point, with the run and dataset it was computed for).

Ids are kept where the target lets a model be created with a given id (runstream, and
MLflow's SQL stores); elsewhere the target's id is recorded in the summary's
``model_ids`` and printed. Nothing the target already holds is sent again: a model is
found by its id, params and tags are compared by key and value, metric points as
multisets. A model's timestamps are those of the copy; deleted models are not copied
(MLflow's searches do not return them).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mlflow.entities import LoggedModel, LoggedModelStatus, Metric
from mlflow.exceptions import MlflowException

from .report import Summary, progress
from .target import Target, point_key


def _metric_key(m: Metric) -> tuple[Any, ...]:
    return (m.key, *point_key(float(m.value), int(m.step or 0), int(m.timestamp)), m.run_id or "",
            m.dataset_name or "", m.dataset_digest or "")  # fmt: skip


class LoggedModelCopier:
    def __init__(self, source: Any, target: Target, summary: Summary, dry_run: bool) -> None:
        self.source = source  # a :class:`~.source.Source`
        self.target = target
        self.summary = summary
        self.dry_run = dry_run

    def run(self, experiments: dict[str, str], run_experiments: dict[str, str]) -> None:
        """``experiments``: source experiment id -> target id; ``run_experiments``: run
        id -> its experiment's target id (a model's metrics are written to their run)."""
        models = [
            (target_id, model)
            for source_id, target_id in experiments.items()
            for model in self.source.logged_models(source_id)
        ]
        for target_id, model in progress(models, "logged models", len(models), "model"):
            try:
                self._model(target_id, model, run_experiments)
            except MlflowException as exc:
                self.summary.problem("logged model", model.model_id, exc.message)

    def _model(self, experiment_id: str, model: LoggedModel, runs: dict[str, str]) -> None:
        t, dry = self.target, self.dry_run
        held = t.logged_model(model.model_id) if experiment_id else None
        params, tags = dict(model.params or {}), dict(model.tags or {})
        if held is None:
            self.summary.wrote("logged model")
            self.summary.wrote("model param", len(params))
            self.summary.wrote("model tag", len(tags))
            if dry:
                self.summary.wrote("model metric", len(model.metrics or []))
                return
            model_id = t.create_logged_model(experiment_id, model)
            if model_id != model.model_id:
                self.summary.model_ids[model.model_id] = model_id
            held_status, held_metrics = LoggedModelStatus.PENDING, []
        else:
            self.summary.found("logged model")
            model_id = held.model_id
            had_params, had_tags = held.params or {}, held.tags or {}
            params = {k: v for k, v in params.items() if had_params.get(k) != v}
            tags = {k: v for k, v in tags.items() if had_tags.get(k) != v}
            self.summary.wrote("model param", len(params))
            self.summary.found("model param", len(model.params or {}) - len(params))
            self.summary.wrote("model tag", len(tags))
            self.summary.found("model tag", len(model.tags or {}) - len(tags))
            if params and not dry:
                t.log_logged_model_params(experiment_id, model_id, params)
            if tags and not dry:
                t.set_logged_model_tags(experiment_id, model_id, tags)
            held_status, held_metrics = held.status, list(held.metrics or [])
        if LoggedModelStatus(held_status) != LoggedModelStatus(model.status):
            self.summary.wrote("model status")
            if not dry:
                t.finalize_logged_model(experiment_id, model_id, LoggedModelStatus(model.status))
        have = Counter(_metric_key(m) for m in held_metrics)
        new: list[Metric] = []
        for m in model.metrics or []:
            key = _metric_key(m)
            if have[key] > 0:
                have[key] -= 1
                self.summary.found("model metric")
            else:
                new.append(m)
        self.summary.wrote("model metric", len(new))
        by_run: dict[str, list[Metric]] = {}
        for m in new:
            by_run.setdefault(m.run_id or "", []).append(
                Metric(m.key, m.value, m.timestamp, m.step, model_id=model_id, run_id=m.run_id,
                       dataset_name=m.dataset_name, dataset_digest=m.dataset_digest)
            )  # fmt: skip
        for run_id, metrics in by_run.items():
            if not dry:
                t.log_model_metrics(runs.get(run_id, experiment_id), run_id, metrics)
