"""Compile searches of the model half to parameterized ClickHouse SQL (pure).

Registry tables are read with FINAL (the latest row per key; deleted rows vanish).  A
tag, param or metric condition is a semi-join (``key IN (SELECT ...)``) on the table of
that entity; attribute conditions compare columns.  Semantics follow MLflow's SQL stores:
``LIKE`` is case-sensitive, ``ILIKE`` is not; prompts (``mlflow.prompt.is_prompt =
'true'``) are left out unless the filter asks for them; a logged model matches a metric
condition if any of its points does; ordering by a logged model's metric uses its latest
point (timestamp, then step, newest first) and puts models without one last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .keyset import SortColumn, after_condition
from .model_entities import DatasetFilter
from .model_filter import ModelCondition, ModelOrderKey
from .sql_text import Binder, Sql, like_pattern

PROMPT_TAG = "mlflow.prompt.is_prompt"

VERSION_COLUMNS = (
    "name", "model_version", "creation_time", "last_updated_time", "description", "user_id",
    "current_stage", "source", "storage_location", "run_id", "run_link", "status",
    "status_message", "model_id",
)  # fmt: skip
LOGGED_MODEL_COLUMNS = (
    "model_id", "experiment_id", "name", "artifact_location", "creation_timestamp",
    "last_updated_timestamp", "status", "status_message", "lifecycle_stage", "model_type",
    "source_run_id",
)  # fmt: skip
_INT_COLUMNS = frozenset(
    {
        "model_version",
        "creation_time",
        "last_updated_time",
        "creation_timestamp",
        "last_updated_timestamp",
    }
)


def compare(b: Binder, column: str, op: str, value: object) -> str:
    if op == "LIKE":
        return f"{column} LIKE {b.bind(like_pattern(str(value)), 'String')}"
    if op == "ILIKE":
        return f"lower({column}) LIKE lower({b.bind(like_pattern(str(value)), 'String')})"
    if op in ("IN", "NOT IN"):
        return f"{column} {op} {b.bind(list(value), 'Array(String)')}"  # type: ignore[call-overload]
    if isinstance(value, float):
        return f"{column} {op} {b.bind(value, 'Float64')}"
    if isinstance(value, int):
        return f"{column} {op} {b.bind(value, 'Int64')}"
    return f"{column} {op} {b.bind(value, 'String')}"


def queries_prompts(conditions: Sequence[ModelCondition]) -> bool:
    """MLflow's rule: the filter asks for prompts when it says is_prompt = 'true' (or
    != 'false'); otherwise prompts are left out and is_prompt conditions are dropped."""
    for c in conditions:
        if c.entity == "tag" and c.key == PROMPT_TAG and isinstance(c.value, str):
            return (c.comparator == "=" and c.value.lower() == "true") or (
                c.comparator == "!=" and c.value.lower() == "false"
            )
    return False


@dataclass(frozen=True)
class Page:
    """A compiled search: the statement and the sort columns its page tokens carry."""

    sql: Sql
    columns: list[SortColumn]


def _sort(
    keys: Sequence[ModelOrderKey], exprs: dict[str, str]
) -> tuple[list[str], list[SortColumn]]:
    select, columns = [], []
    for i, k in enumerate(keys):
        select.append(f"{exprs[k.key]} AS s{i}")
        ch = "Int64" if k.key in _INT_COLUMNS else "String"
        columns.append(SortColumn(f"s{i}", ch, k.ascending))
    return select, columns


def _finish(
    b: Binder,
    select: str,
    source: str,
    where: list[str],
    columns: list[SortColumn],
    limit: int,
    after: list[object] | None,
) -> Sql:
    if after is not None:
        where = [*where, after_condition(columns, after, b)]
    order = ", ".join(f"{c.expr} {'ASC' if c.ascending else 'DESC'}" for c in columns)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return b.sql(
        f"SELECT {select} FROM {source}{clause} ORDER BY {order} LIMIT {b.bind(limit, 'UInt32')}"
    )


# -- registered models ---------------------------------------------------------------------


def registered_model_search(
    conditions: Sequence[ModelCondition],
    order: Sequence[ModelOrderKey],
    limit: int,
    after: list[object] | None,
) -> Page:
    b = Binder()
    where = []
    prompts = queries_prompts(conditions)
    for c in conditions:
        if c.entity == "attribute":
            where.append(compare(b, c.key, c.comparator, c.value))
            continue
        if c.key == PROMPT_TAG and not prompts:
            continue
        test = compare(b, "value", c.comparator, c.value)
        where.append(
            f"name IN (SELECT name FROM registered_model_tags FINAL "
            f"WHERE key = {b.bind(c.key, 'String')} AND {test})"
        )
    if not prompts:
        where.append(
            f"name NOT IN (SELECT name FROM registered_model_tags FINAL "
            f"WHERE key = {b.bind(PROMPT_TAG, 'String')} AND value = 'true')"
        )
    sort, columns = _sort(order, {"name": "name", "last_updated_time": "last_updated_time"})
    select = ", ".join(["name", "creation_time", "last_updated_time", "description", *sort])
    return Page(
        _finish(b, select, "registered_models FINAL", where, columns, limit, after), columns
    )


def registered_models_by_name(names: Sequence[str]) -> Sql:
    b = Binder()
    return b.sql(
        "SELECT name, creation_time, last_updated_time, description FROM registered_models FINAL "
        f"WHERE name IN {b.bind(list(names), 'Array(String)')}"
    )


def registry_parts(names: Sequence[str]) -> dict[str, Sql]:
    """Tags, aliases and the newest version per stage of some models (run concurrently)."""
    out = {}
    texts = {
        "tags": "SELECT name, key, value FROM registered_model_tags FINAL WHERE name IN {n}",
        "aliases": "SELECT name, alias, model_version FROM registered_model_aliases FINAL "
        "WHERE name IN {n} ORDER BY name, alias",
        "latest": f"SELECT {', '.join(VERSION_COLUMNS)} FROM model_versions FINAL "
        "WHERE name IN {n} AND (name, current_stage, model_version) IN "
        "(SELECT name, current_stage, max(model_version) FROM model_versions FINAL "
        "WHERE name IN {n} GROUP BY name, current_stage) ORDER BY name, model_version",
        "version_tags": "SELECT name, model_version, key, value FROM model_version_tags FINAL "
        "WHERE name IN {n}",
    }
    for key, text in texts.items():
        b = Binder()
        out[key] = b.sql(text.replace("{n}", b.bind(list(names), "Array(String)")))
    return out


# -- model versions ------------------------------------------------------------------------


def model_version_search(
    conditions: Sequence[ModelCondition],
    order: Sequence[ModelOrderKey],
    limit: int,
    after: list[object] | None,
) -> Page:
    b = Binder()
    where = []
    prompts = queries_prompts(conditions)
    for c in conditions:
        if c.entity == "attribute":
            where.append(compare(b, c.key, c.comparator, c.value))
            continue
        if c.key == PROMPT_TAG and not prompts:
            continue
        test = compare(b, "value", c.comparator, c.value)
        where.append(
            f"(name, model_version) IN (SELECT name, model_version FROM model_version_tags FINAL "
            f"WHERE key = {b.bind(c.key, 'String')} AND {test})"
        )
    if not prompts:  # as MLflow: a name with a version tagged as a prompt is a prompt
        where.append(
            f"name NOT IN (SELECT name FROM model_version_tags FINAL "
            f"WHERE key = {b.bind(PROMPT_TAG, 'String')} AND value = 'true')"
        )
    exprs = {k: k for k in ("name", "model_version", "creation_time", "last_updated_time")}
    sort, columns = _sort(order, exprs)
    select = ", ".join([*VERSION_COLUMNS, *sort])
    return Page(_finish(b, select, "model_versions FINAL", where, columns, limit, after), columns)


def model_versions_sql(name: str, numbers: Sequence[int] | None = None) -> Sql:
    """Live versions of a model (all, or the given numbers)."""
    b = Binder()
    text = (
        f"SELECT {', '.join(VERSION_COLUMNS)} FROM model_versions FINAL "
        f"WHERE name = {b.bind(name, 'String')}"
    )
    if numbers is not None:
        text += f" AND model_version IN {b.bind(list(numbers), 'Array(Int64)')}"
    return b.sql(text + " ORDER BY model_version")


def version_details_sql(names: Sequence[str]) -> dict[str, Sql]:
    """Tags and aliases of the versions of some models."""
    out = {}
    for key, text in {
        "tags": "SELECT name, model_version, key, value FROM model_version_tags FINAL "
        "WHERE name IN {n}",
        "aliases": "SELECT name, alias, model_version FROM registered_model_aliases FINAL "
        "WHERE name IN {n} ORDER BY alias",
    }.items():
        b = Binder()
        out[key] = b.sql(text.replace("{n}", b.bind(list(names), "Array(String)")))
    return out


def alias_sql(name: str, alias: str) -> Sql:
    b = Binder()
    return b.sql(
        "SELECT model_version FROM registered_model_aliases FINAL "
        f"WHERE name = {b.bind(name, 'String')} AND alias = {b.bind(alias, 'String')}"
    )


def outcome_sql(event_id: str) -> Sql:
    b = Binder()
    return b.sql(
        "SELECT error_code, message, name, model_version FROM write_outcomes FINAL "
        f"WHERE event_id = {b.bind(event_id, 'String')}"
    )


# -- logged models -------------------------------------------------------------------------


def _dataset_match(b: Binder, datasets: Sequence[DatasetFilter]) -> str:
    terms = []
    for d in datasets:
        term = f"dataset_name = {b.bind(d.name, 'String')}"
        if d.digest:
            term += f" AND dataset_digest = {b.bind(d.digest, 'String')}"
        terms.append(f"({term})")
    return "(" + " OR ".join(terms) + ")"


def logged_model_search(
    experiment_ids: Sequence[str],
    conditions: Sequence[ModelCondition],
    datasets: Sequence[DatasetFilter],
    order: Sequence[ModelOrderKey],
    limit: int,
    after: list[object] | None,
) -> Page:
    b = Binder()
    exp = f"experiment_id IN {b.bind(list(experiment_ids), 'Array(String)')}"
    where = ["m.lifecycle_stage != 'deleted'"]
    has_metric = False
    for c in conditions:
        if c.entity == "attribute":
            where.append(compare(b, f"m.{c.key}", c.comparator, c.value))
            continue
        key = b.bind(c.key, "String")
        test = compare(b, "value", c.comparator, c.value)
        if c.entity == "metric":
            has_metric = True
            extra = f" AND {_dataset_match(b, datasets)}" if datasets else ""
            where.append(
                f"m.model_id IN (SELECT model_id FROM logged_model_metrics WHERE {exp} "
                f"AND key = {key} AND {test}{extra})"
            )
        else:
            table = "logged_model_params" if c.entity == "param" else "logged_model_tags"
            where.append(
                f"m.model_id IN (SELECT model_id FROM {table} FINAL WHERE {exp} "
                f"AND key = {key} AND {test})"
            )
    if datasets and not has_metric:  # models with any metric on those datasets
        where.append(
            f"m.model_id IN (SELECT model_id FROM logged_model_metrics WHERE {exp} "
            f"AND {_dataset_match(b, datasets)})"
        )
    joins: list[str] = []
    select: list[str] = []
    columns: list[SortColumn] = []
    for i, k in enumerate(order):
        if k.key.startswith("metrics."):
            cond = [exp, f"key = {b.bind(k.key.split('.', 1)[1], 'String')}"]
            if k.dataset_name:
                cond.append(f"dataset_name = {b.bind(k.dataset_name, 'String')}")
            if k.dataset_digest:
                cond.append(f"dataset_digest = {b.bind(k.dataset_digest, 'String')}")
            joins.append(
                "LEFT JOIN (SELECT model_id, toNullable(argMin(value, (-timestamp, -step, "
                f"run_id))) AS v FROM logged_model_metrics WHERE {' AND '.join(cond)} "
                f"GROUP BY model_id) AS o{i} ON o{i}.model_id = m.model_id"
            )
            select += [f"isNull(o{i}.v) AS s{i}n", f"ifNull(o{i}.v, 0.) AS s{i}"]
            columns += [
                SortColumn(f"s{i}n", "UInt8", True),
                SortColumn(f"s{i}", "Float64", k.ascending),
            ]
        elif k.key == "model_type":  # nullable: nulls last, as MLflow
            select += [f"isNull(m.model_type) AS s{i}n", f"ifNull(m.model_type, '') AS s{i}"]
            columns += [
                SortColumn(f"s{i}n", "UInt8", True),
                SortColumn(f"s{i}", "String", k.ascending),
            ]
        else:
            select.append(f"m.{k.key} AS s{i}")
            ch = "Int64" if k.key in _INT_COLUMNS else "String"
            columns.append(SortColumn(f"s{i}", ch, k.ascending))
    cols = ", ".join(f"m.{c}" for c in LOGGED_MODEL_COLUMNS)
    source = " ".join([f"(SELECT * FROM logged_models FINAL WHERE {exp}) AS m", *joins])
    sql = _finish(b, ", ".join([cols, *select]), source, where, columns, limit, after)
    return Page(sql, columns)


def logged_models_by_id(model_ids: Sequence[str]) -> Sql:
    b = Binder()
    return b.sql(
        f"SELECT {', '.join(LOGGED_MODEL_COLUMNS)} FROM logged_models FINAL "
        f"WHERE model_id IN {b.bind(list(model_ids), 'Array(String)')}"
    )


def logged_model_parts(model_ids: Sequence[str]) -> dict[str, Sql]:
    out = {}
    for key, text in {
        "tags": "SELECT model_id, key, value FROM logged_model_tags FINAL WHERE model_id IN {m}",
        "params": "SELECT model_id, key, value FROM logged_model_params FINAL "
        "WHERE model_id IN {m}",
        "metrics": "SELECT DISTINCT key, value, timestamp, step, run_id, model_id, dataset_name, "
        "dataset_digest FROM logged_model_metrics WHERE model_id IN {m} "
        "ORDER BY model_id, key, timestamp, step, run_id",
    }.items():
        b = Binder()
        out[key] = b.sql(text.replace("{m}", b.bind(list(model_ids), "Array(String)")))
    return out


# -- a run's datasets and model links ------------------------------------------------------

# The first logging of a (run, dataset name, digest) counts, as in MLflow.
RUN_DATASETS = (
    "SELECT run_id, dataset_name, dataset_digest, argMin(source_type, version), "
    "argMin(source, version), argMin(dataset_schema, version), argMin(dataset_profile, version), "
    "argMin(tags, version), min(version) AS first FROM run_inputs "
    "WHERE {exp}run_id IN {ids} GROUP BY run_id, dataset_name, dataset_digest ORDER BY first"
)


def run_io_sql(experiment_ids: Sequence[str], run_ids: Sequence[str]) -> dict[str, Sql]:
    out = {}
    for key, text in {
        "datasets": RUN_DATASETS,
        "links": "SELECT run_id, direction, model_id, step, min(version) AS first "
        "FROM run_model_links WHERE {exp}run_id IN {ids} "
        "GROUP BY run_id, direction, model_id, step ORDER BY first",
    }.items():
        b = Binder()
        exp = (
            f"experiment_id IN {b.bind(list(experiment_ids), 'Array(String)')} AND "
            if experiment_ids
            else ""
        )
        ids = b.bind(list(run_ids), "Array(String)")
        out[key] = b.sql(text.replace("{exp}", exp).replace("{ids}", ids))
    return out


def dataset_summaries_sql(experiment_ids: Sequence[str]) -> Sql:
    b = Binder()
    exp = (
        f"WHERE experiment_id IN {b.bind(list(experiment_ids), 'Array(String)')} "
        if experiment_ids
        else ""
    )
    return b.sql(
        "SELECT DISTINCT experiment_id, dataset_name, dataset_digest, "
        f"tags['mlflow.data.context'] FROM run_inputs {exp}"
        "ORDER BY experiment_id, dataset_name, dataset_digest LIMIT 1000"
    )


def run_dataset_condition(b: Binder, exp: str, key: str, op: str, value: object) -> str:
    """A run search's ``datasets.<name|digest|context>`` condition: the runs with an input
    that satisfies it (``exp``: the search's experiment condition)."""
    column = {
        "name": "dataset_name",
        "digest": "dataset_digest",
        "context": "tags['mlflow.data.context']",
    }[key]
    test = compare(b, column, op, value)
    if key == "context":  # the tag must be there
        test = f"mapContains(tags, 'mlflow.data.context') AND {test}"
    return f"r.run_id IN (SELECT run_id FROM run_inputs WHERE {exp} AND {test})"
