"""Reads of the model half: the registry (models, versions, aliases, searches, write
outcomes), logged models, and a run's datasets and model links."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from runstream.proto.vocabulary import MODEL_VERSION_STAGES, RESERVED_ALIAS, canonical_stage

from .entities import Page
from .errors import InvalidRequestError, NotFoundError, clip
from .keyset import decode_token, encode_token, fingerprint
from .model_entities import (
    DatasetFilter,
    DatasetSummary,
    LoggedModel,
    LoggedModelOrder,
    ModelMetric,
    ModelVersion,
    RegisteredModel,
    RunModelIO,
    WriteOutcome,
    run_io_from_rows,
)
from .model_filter import (
    parse_logged_model_filter,
    parse_logged_model_order_by,
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
)
from .model_sql import (
    LOGGED_MODEL_COLUMNS,
    VERSION_COLUMNS,
    alias_sql,
    dataset_summaries_sql,
    logged_model_parts,
    logged_model_search,
    logged_models_by_id,
    model_version_search,
    model_versions_sql,
    outcome_sql,
    registered_model_search,
    registered_models_by_name,
    registry_parts,
    run_io_sql,
    version_details_sql,
)
from .ports import Row, SqlPort
from .run_reader import check_max_results

MODELS_DEFAULT, MODELS_MAX = 100, 1000  # MLflow's limits for registered models
VERSIONS_DEFAULT, VERSIONS_MAX = 10_000, 200_000  # ... for model versions
LOGGED_DEFAULT, LOGGED_MAX = 100, 50_000  # ... for logged models


def _required(value: str, what: str) -> str:
    if not value:
        raise InvalidRequestError(f"'{what}' is required")
    return value


def _version(row: Row, tags: dict[str, str], aliases: Sequence[str] = ()) -> ModelVersion:
    values = dict(zip(VERSION_COLUMNS, row, strict=False))
    return ModelVersion(
        name=values["name"],
        version=int(values["model_version"]),
        creation_timestamp=int(values["creation_time"]),
        last_updated_timestamp=int(values["last_updated_time"]),
        description=values["description"],
        user_id=values["user_id"],
        current_stage=values["current_stage"],
        source=values["source"],
        storage_location=values["storage_location"],
        run_id=values["run_id"],
        run_link=values["run_link"],
        status=values["status"],
        status_message=values["status_message"],
        model_id=values["model_id"],
        tags=tags,
        aliases=tuple(aliases),
    )


class ModelReader:
    def __init__(
        self, store: SqlPort, *, max_clauses: int | None = None, max_order_keys: int | None = None
    ) -> None:
        self._store = store
        self._max_clauses = max_clauses
        self._max_order_keys = max_order_keys

    # -- registered models ---------------------------------------------------------------

    def _models(self, rows: Sequence[Row]) -> list[RegisteredModel]:
        if not rows:
            return []
        names = [r[0] for r in rows]
        parts = self._store.rows_many(registry_parts(names))
        tags: dict[str, dict[str, str]] = {}
        for name, key, value in parts["tags"]:
            tags.setdefault(name, {})[key] = value
        aliases: dict[str, list[tuple[str, int]]] = {}
        for name, alias, number in parts["aliases"]:
            aliases.setdefault(name, []).append((alias, int(number)))
        version_tags: dict[tuple[str, int], dict[str, str]] = {}
        for name, number, key, value in parts["version_tags"]:
            version_tags.setdefault((name, int(number)), {})[key] = value
        latest: dict[str, list[ModelVersion]] = {}
        for row in parts["latest"]:
            key = (row[0], int(row[1]))
            latest.setdefault(row[0], []).append(_version(row, version_tags.get(key, {})))
        return [
            RegisteredModel(
                name=r[0],
                creation_timestamp=int(r[1]),
                last_updated_timestamp=int(r[2]),
                description=r[3],
                latest_versions=tuple(latest.get(r[0], ())),
                tags=tags.get(r[0], {}),
                aliases=tuple(aliases.get(r[0], ())),
            )
            for r in rows
        ]

    def registered_model(self, name: str) -> RegisteredModel:
        found = self._models(self._store.rows(registered_models_by_name([_required(name, "name")])))
        if not found:
            raise NotFoundError(f"Registered Model with name={clip(name)} not found")
        return found[0]

    def search_registered_models(
        self, filter_string: str, max_results: int, order_by: Sequence[str], page_token: str
    ) -> Page[RegisteredModel]:
        n = check_max_results(max_results, MODELS_DEFAULT, MODELS_MAX)
        conditions = parse_registered_model_filter(filter_string, self._max_clauses)
        order = parse_registered_model_order_by(order_by, self._max_order_keys)
        fp = fingerprint("registered_models", repr(conditions), repr(order))
        probe = registered_model_search(conditions, order, n + 1, None)
        after = decode_token(page_token, fp, probe.columns) if page_token else None
        rows = self._store.rows(registered_model_search(conditions, order, n + 1, after).sql)
        token = encode_token(fp, probe.columns, rows[n - 1][4:]) if len(rows) > n else ""
        return Page(self._models([r[:4] for r in rows[:n]]), token)

    # -- model versions ------------------------------------------------------------------

    def _versions(self, rows: Sequence[Row], with_aliases: bool = True) -> list[ModelVersion]:
        if not rows:
            return []
        parts = self._store.rows_many(version_details_sql(sorted({r[0] for r in rows})))
        tags: dict[tuple[str, int], dict[str, str]] = {}
        for name, number, key, value in parts["tags"]:
            tags.setdefault((name, int(number)), {})[key] = value
        aliases: dict[tuple[str, int], list[str]] = {}
        if with_aliases:
            for name, alias, number in parts["aliases"]:
                aliases.setdefault((name, int(number)), []).append(alias)
        out = []
        for row in rows:
            key = (row[0], int(row[1]))
            out.append(_version(row, tags.get(key, {}), aliases.get(key, ())))
        return out

    def _check_model(self, name: str) -> None:
        if not self._store.rows(registered_models_by_name([name])):
            raise NotFoundError(f"Registered Model with name={clip(name)} not found")

    def model_version(self, name: str, version: int) -> ModelVersion:
        _required(name, "name")
        found = self._versions(self._store.rows(model_versions_sql(name, [version])))
        if not found:
            raise NotFoundError(f"Model Version (name={clip(name)}, version={version}) not found")
        return found[0]

    def model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        _required(name, "name")
        _required(alias, "alias")
        self._check_model(name)
        if alias.lower() == RESERVED_ALIAS:
            versions = self._store.rows(model_versions_sql(name))
            if not versions:
                raise NotFoundError(f"Latest version not found for model {clip(name)}.")
            return self._versions([versions[-1]])[0]
        found = self._store.rows(alias_sql(name, alias))
        if not found:
            raise InvalidRequestError(f"Registered model alias {clip(alias)} not found.")
        return self.model_version(name, int(found[0][0]))

    def latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        _required(name, "name")
        wanted = set()
        for stage in stages or MODEL_VERSION_STAGES:
            canonical = canonical_stage(stage)
            if canonical is None:
                raise InvalidRequestError(
                    f"Invalid Model Version stage: {clip(stage)}. Value must be one of "
                    f"{', '.join(MODEL_VERSION_STAGES)}."
                )
            wanted.add(canonical)
        model = self.registered_model(name)
        picked = [v for v in model.latest_versions if v.current_stage in wanted]
        aliases: dict[int, list[str]] = {}
        for alias, number in model.aliases:
            aliases.setdefault(number, []).append(alias)
        return [replace(v, aliases=tuple(aliases.get(v.version, ()))) for v in picked]

    def search_model_versions(
        self, filter_string: str, max_results: int, order_by: Sequence[str], page_token: str
    ) -> Page[ModelVersion]:
        n = check_max_results(max_results, VERSIONS_DEFAULT, VERSIONS_MAX)
        conditions = parse_model_version_filter(filter_string, self._max_clauses)
        order = parse_model_version_order_by(order_by, self._max_order_keys)
        fp = fingerprint("model_versions", repr(conditions), repr(order))
        probe = model_version_search(conditions, order, n + 1, None)
        after = decode_token(page_token, fp, probe.columns) if page_token else None
        rows = self._store.rows(model_version_search(conditions, order, n + 1, after).sql)
        width = len(VERSION_COLUMNS)
        token = encode_token(fp, probe.columns, rows[n - 1][width:]) if len(rows) > n else ""
        return Page(self._versions([r[:width] for r in rows[:n]]), token)

    # -- outcomes ------------------------------------------------------------------------

    def write_outcome(self, event_id: str) -> WriteOutcome:
        rows = self._store.rows(outcome_sql(_required(event_id, "event_id")))
        if not rows:
            raise NotFoundError(
                f"No outcome for write {clip(event_id)}: not a registry write, or not applied yet "
                "(pass its write token to wait for it)"
            )
        code, message, name, version = rows[0]
        outcome = WriteOutcome(code, message, name, int(version))
        if code or not name:
            return outcome
        models = self._models(self._store.rows(registered_models_by_name([name])))
        model_version = None
        if version:
            found = self._versions(self._store.rows(model_versions_sql(name, [int(version)])))
            model_version = found[0] if found else None
        return WriteOutcome(
            code, message, name, int(version), models[0] if models else None, model_version
        )

    # -- logged models -------------------------------------------------------------------

    def _logged(self, rows: Sequence[Row]) -> list[LoggedModel]:
        if not rows:
            return []
        parts = self._store.rows_many(logged_model_parts([r[0] for r in rows]))
        tags: dict[str, dict[str, str]] = {}
        for model_id, key, value in parts["tags"]:
            tags.setdefault(model_id, {})[key] = value
        params: dict[str, dict[str, str]] = {}
        for model_id, key, value in parts["params"]:
            params.setdefault(model_id, {})[key] = value
        metrics: dict[str, list[ModelMetric]] = {}
        for key, value, ts, step, run_id, model_id, dname, ddigest in parts["metrics"]:
            metrics.setdefault(model_id, []).append(
                ModelMetric(key, float(value), int(ts), int(step), run_id, model_id, dname, ddigest)
            )
        out = []
        for row in rows:
            v = dict(zip(LOGGED_MODEL_COLUMNS, row, strict=False))
            out.append(
                LoggedModel(
                    model_id=v["model_id"],
                    experiment_id=v["experiment_id"],
                    name=v["name"],
                    artifact_location=v["artifact_location"],
                    creation_timestamp=int(v["creation_timestamp"]),
                    last_updated_timestamp=int(v["last_updated_timestamp"]),
                    status=v["status"],
                    status_message=v["status_message"],
                    lifecycle_stage=v["lifecycle_stage"],
                    model_type=v["model_type"],
                    source_run_id=v["source_run_id"],
                    tags=tags.get(v["model_id"], {}),
                    params=params.get(v["model_id"], {}),
                    metrics=tuple(metrics.get(v["model_id"], ())),
                )
            )
        return out

    def logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        found = self._logged(
            self._store.rows(logged_models_by_id([_required(model_id, "model_id")]))
        )
        if not found or (found[0].lifecycle_stage == "deleted" and not allow_deleted):
            raise NotFoundError(f"Logged model with ID '{clip(model_id)}' not found.")
        return found[0]

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str,
        datasets: Sequence[DatasetFilter],
        max_results: int,
        order_by: Sequence[LoggedModelOrder],
        page_token: str,
    ) -> Page[LoggedModel]:
        n = check_max_results(max_results, LOGGED_DEFAULT, LOGGED_MAX)
        if any(not d.name for d in datasets):
            raise InvalidRequestError("`dataset_name` in the `datasets` clause must be specified.")
        conditions = parse_logged_model_filter(filter_string, self._max_clauses)
        order = parse_logged_model_order_by(order_by, self._max_order_keys)
        ids = sorted(set(experiment_ids))
        fp = fingerprint("logged_models", ids, repr(conditions), repr(datasets), repr(order))
        probe = logged_model_search(ids, conditions, datasets, order, n + 1, None)
        after = decode_token(page_token, fp, probe.columns) if page_token else None
        rows = self._store.rows(
            logged_model_search(ids, conditions, datasets, order, n + 1, after).sql
        )
        width = len(LOGGED_MODEL_COLUMNS)
        token = encode_token(fp, probe.columns, rows[n - 1][width:]) if len(rows) > n else ""
        return Page(self._logged([r[:width] for r in rows[:n]]), token)

    # -- datasets and model links of runs -------------------------------------------------

    def run_io(
        self, experiment_ids: Sequence[str], run_ids: Sequence[str]
    ) -> dict[str, RunModelIO]:
        if not run_ids:
            return {}
        parts = self._store.rows_many(run_io_sql(experiment_ids, run_ids))
        return run_io_from_rows(parts["datasets"], parts["links"])

    def dataset_summaries(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        return [
            DatasetSummary(str(e), n, d, c or "")
            for e, n, d, c in self._store.rows(dataset_summaries_sql(experiment_ids))
        ]
