"""Logged models and a run's inputs and outputs: events -> rows.  Pure: no I/O.

* Logged-model events (key ``logged-model:<id>``) merge into the model's state, like run
  events into a run's: ``version`` is the offset of the last event applied, an event at or
  below it is skipped; an event for a model never created is poison, as is a second
  ``LoggedModelCreated`` or one whose experiment header is not the model's.
* ``InputsLogged``, ``OutputsLogged`` and ``ModelMetricsLogged`` belong to a run (its key,
  its partition): the caller checks the run and passes its experiment.  Inputs keep the
  first logging of each (dataset name, digest) per run, as MLflow does (the tables keep
  every logging; reads take the first).
"""

from __future__ import annotations

from dataclasses import replace

from runstream.proto import events as ev
from runstream.proto.vocabulary import (
    ACTIVE,
    DELETED,
    LOGGED_MODEL_PENDING,
    LOGGED_MODEL_STATUSES,
)

from .batch import TableData
from .model_state import LOGGED_MODEL_COLUMNS, LoggedModelState, ModelCache
from .records import PoisonReason, Refused
from .registry_projection import table_rows

LOGGED_MODEL_TAG_COLUMNS = ("experiment_id", "model_id", "key", "value", "version", "is_deleted")
LOGGED_MODEL_PARAM_COLUMNS = ("experiment_id", "model_id", "key", "value", "version")
LOGGED_MODEL_METRIC_COLUMNS = (
    "experiment_id", "model_id", "key", "timestamp", "step", "run_id", "value",
    "dataset_name", "dataset_digest",
)  # fmt: skip
RUN_INPUT_COLUMNS = (
    "experiment_id", "run_id", "dataset_name", "dataset_digest", "source_type", "source",
    "dataset_schema", "dataset_profile", "tags", "version",
)  # fmt: skip
RUN_MODEL_LINK_COLUMNS = ("experiment_id", "run_id", "direction", "model_id", "step", "version")
RUN_IO_PAYLOADS: tuple[type, ...] = (ev.InputsLogged, ev.OutputsLogged, ev.ModelMetricsLogged)


class LoggedModelProjector:
    """One batch's logged-model and run input/output events."""

    def __init__(self, cache: ModelCache) -> None:
        self._cache = cache
        self._models: dict[str, LoggedModelState] = {}
        self._tags: dict[tuple[str, str], tuple[object, ...]] = {}
        self._params: dict[tuple[str, str], tuple[object, ...]] = {}
        self._metrics: list[tuple[object, ...]] = []
        self._inputs: list[tuple[object, ...]] = []
        self._links: dict[tuple[str, str, str, int], tuple[object, ...]] = {}
        self.skipped = 0

    def _get(self, model_id: str) -> LoggedModelState | None:
        return self._models.get(model_id) or self._cache.logged_models.get(model_id)

    # -- logged models ---------------------------------------------------------------------

    def apply(self, offset: int, event: ev.RunEvent) -> None:
        p = event.payload
        model_id: str = p.model_id  # type: ignore[union-attr]
        if not model_id:
            raise Refused(PoisonReason.INVALID_EVENT, "logged-model event without a model id")
        current = self._get(model_id)
        if current is not None and offset <= current.version:
            self.skipped += 1
            return
        ts = event.client_ts
        if isinstance(p, ev.LoggedModelCreated):
            if current is not None:
                raise Refused(PoisonReason.LOGGED_MODEL_EXISTS, f"logged model {model_id} exists")
            if not event.experiment_id:
                raise Refused(
                    PoisonReason.INVALID_EVENT, "LoggedModelCreated without an experiment id"
                )
            state = LoggedModelState(
                model_id, event.experiment_id, p.name, p.artifact_location, ts, ts,
                LOGGED_MODEL_PENDING, "", ACTIVE, p.model_type, p.source_run_id, offset,
            )  # fmt: skip
            self._models[model_id] = state
            self._set_tags(state, p.tags, offset)
            self._set_params(state, p.params, offset)
            return
        if current is None:
            raise Refused(
                PoisonReason.LOGGED_MODEL_NOT_FOUND, f"logged model {model_id} was never created"
            )
        if event.experiment_id and event.experiment_id != current.experiment_id:
            raise Refused(
                PoisonReason.EXPERIMENT_MISMATCH,
                f"event names experiment {event.experiment_id!r}, logged model {model_id} "
                f"belongs to experiment {current.experiment_id!r}",
            )
        updated = replace(current, version=offset)
        if isinstance(p, ev.LoggedModelFinalized):
            if p.status not in LOGGED_MODEL_STATUSES:
                raise Refused(PoisonReason.INVALID_EVENT, f"unknown model status {p.status!r}")
            updated = replace(updated, status=p.status, last_updated_timestamp=ts)
        elif isinstance(p, ev.LoggedModelDeleted):
            updated = replace(updated, lifecycle_stage=DELETED, last_updated_timestamp=ts)
        elif isinstance(p, ev.LoggedModelTagsSet):
            self._set_tags(current, p.tags, offset)
        elif isinstance(p, ev.LoggedModelTagDeleted):
            key = (model_id, p.key)
            self._tags[key] = (current.experiment_id, model_id, p.key, "", offset, 1)
        elif isinstance(p, ev.LoggedModelParamsLogged):
            self._set_params(current, p.params, offset)
        self._models[model_id] = updated

    def _set_tags(self, model: LoggedModelState, tags: dict[str, str], offset: int) -> None:
        for k, v in tags.items():
            self._tags[(model.model_id, k)] = (model.experiment_id, model.model_id, k, v, offset, 0)

    def _set_params(self, model: LoggedModelState, params: dict[str, str], offset: int) -> None:
        for k, v in params.items():
            self._params[(model.model_id, k)] = (model.experiment_id, model.model_id, k, v, offset)

    # -- a run's inputs, outputs, model metrics --------------------------------------------

    def apply_run_io(
        self, offset: int, run_id: str, experiment_id: str, payload: ev.Payload
    ) -> None:
        if isinstance(payload, ev.ModelMetricsLogged):
            for point in payload.points:
                if not point.model_id or not point.key:
                    raise Refused(
                        PoisonReason.INVALID_EVENT, "a model metric without a model id or key"
                    )
            self._metrics.extend(
                (
                    experiment_id,
                    pt.model_id,
                    pt.key,
                    pt.timestamp,
                    pt.step,
                    run_id,
                    pt.value,
                    pt.dataset_name,
                    pt.dataset_digest,
                )  # fmt: skip
                for pt in payload.points
            )
        elif isinstance(payload, ev.InputsLogged):
            seen: set[tuple[str, str]] = set()
            for d in payload.datasets:
                if (d.name, d.digest) in seen:
                    continue  # the first of a (name, digest) counts, as in MLflow
                seen.add((d.name, d.digest))
                self._inputs.append(
                    (
                        experiment_id,
                        run_id,
                        d.name,
                        d.digest,
                        d.source_type,
                        d.source,
                        d.schema,
                        d.profile,
                        dict(d.tags),
                        offset,
                    )  # fmt: skip
                )
            for model_id in payload.model_ids:
                self._link(experiment_id, run_id, "input", model_id, 0, offset)
        elif isinstance(payload, ev.OutputsLogged):
            if len(payload.model_ids) != len(payload.steps):
                raise Refused(
                    PoisonReason.INVALID_EVENT,
                    f"{len(payload.model_ids)} model ids but {len(payload.steps)} steps",
                )
            for model_id, step in zip(payload.model_ids, payload.steps, strict=True):
                self._link(experiment_id, run_id, "output", model_id, step, offset)

    def _link(
        self, experiment_id: str, run_id: str, direction: str, model_id: str, step: int, offset: int
    ) -> None:
        key = (run_id, direction, model_id, step)
        if key not in self._links:  # the first counts
            self._links[key] = (experiment_id, run_id, direction, model_id, step, offset)

    # -- output --------------------------------------------------------------------------

    def tables(self) -> list[TableData]:
        return [
            table_rows("logged_model_metrics", LOGGED_MODEL_METRIC_COLUMNS, self._metrics),
            table_rows("run_inputs", RUN_INPUT_COLUMNS, self._inputs),
            table_rows("run_model_links", RUN_MODEL_LINK_COLUMNS, self._links.values()),
            table_rows("logged_model_params", LOGGED_MODEL_PARAM_COLUMNS, self._params.values()),
            table_rows("logged_model_tags", LOGGED_MODEL_TAG_COLUMNS, self._tags.values()),
            table_rows(
                "logged_models", LOGGED_MODEL_COLUMNS, (m.row() for m in self._models.values())
            ),
        ]

    def delta(self) -> dict[str, LoggedModelState]:
        return dict(self._models)
