"""The meaning of MLflow's search strings for the model half: registered models, model
versions (``SearchModelUtils``, ``SearchModelVersionUtils`` and the registry's SQL store)
and logged models (``search_logged_model_utils`` and the tracking SQL store).

The syntax is the run filter's (``filter_scanner``: comparisons joined by AND, quoting,
lists); what differs is which entities, keys and comparators each search allows, all
refused here with the position of the offending term, as INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InvalidFilterError, clip
from .filter_scanner import RawComparison, RawValue, scan_filter, scan_order_by
from .model_entities import LoggedModelOrder

_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
_LIST_OPS = _STRING_OPS | {"IN", "NOT IN"}

Value = str | float | int | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelCondition:
    entity: str  # "attribute" | "tag" | "param" | "metric"
    key: str  # attributes: the column name
    comparator: str
    value: Value


@dataclass(frozen=True, slots=True)
class ModelOrderKey:
    key: str  # a column name, or "metrics.<key>" for logged models
    ascending: bool
    dataset_name: str | None = None
    dataset_digest: str | None = None


def _error(message: str, position: int, what: str = "filter") -> InvalidFilterError:
    return InvalidFilterError(
        f"Invalid {what} at position {position + 1}: {message}", position=position
    )


def _op(term: RawComparison, allowed: frozenset[str], subject: str) -> None:
    if term.comparator not in allowed:
        order = ("=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN")
        names = ", ".join(op for op in order if op in allowed)
        raise _error(
            f"{subject} takes one of {names}; found {term.comparator}", term.comparator_position
        )


def _string_or_list(term: RawComparison, subject: str, list_ok: bool) -> Value:
    value: RawValue = term.value
    if term.comparator in ("IN", "NOT IN"):
        if not list_ok:
            raise _error(f"{subject} cannot be compared with a list", value.position)
        if value.kind != "list":
            raise _error(f"{subject} takes a parenthesised list with IN and NOT IN", value.position)
        return value.items
    if value.kind != "string":
        raise _error(f"{subject} takes a quoted string (e.g. 'my-value')", value.position)
    return value.text


def _number(term: RawComparison, subject: str, integer: bool) -> float | int:
    value = term.value
    if value.kind == "string" and integer:  # MLflow's registry casts a quoted number
        try:
            return int(value.text)
        except ValueError:
            pass
    if value.kind != "number":
        raise _error(f"{subject} takes a number", value.position)
    if integer:
        if not value.is_integer:
            raise _error(f"{subject} takes an integer", value.position)
        return int(value.text)
    return float(value.text)


# -- registered models and model versions --------------------------------------------------

_REGISTRY_ENTITIES = {"attribute": "attribute", "tag": "tag", "tags": "tag"}
_VERSION_STRING_ATTRS = {"name": "name", "run_id": "run_id", "source_path": "source"}
_VERSION_LIST_ATTRS = frozenset({"name", "run_id"})


def _registry_condition(term: RawComparison, versions: bool) -> ModelCondition:
    ident = term.identifier
    entity = "attribute" if ident.entity is None else _REGISTRY_ENTITIES.get(ident.entity)
    if entity is None:
        raise _error(
            f"expected an entity type (attribute, tag, tags), found {clip(ident.entity or '')!r}",
            ident.position,
        )
    if entity == "tag":
        subject = f"tag {clip(ident.key)!r}"
        _op(term, _STRING_OPS, subject)
        return ModelCondition(
            "tag", ident.key, term.comparator, _string_or_list(term, subject, False)
        )
    subject = f"attribute {clip(ident.key)!r}"
    if versions and ident.key == "version_number":
        _op(term, _NUMERIC_OPS, subject)
        return ModelCondition(
            "attribute", "model_version", term.comparator, _number(term, subject, True)
        )
    valid = _VERSION_STRING_ATTRS if versions else {"name": "name"}
    column = valid.get(ident.key)
    if column is None:
        keys = sorted(valid) + (["version_number"] if versions else [])
        raise _error(
            f"expected an attribute ({', '.join(keys)}), found {clip(ident.key)!r}", ident.position
        )
    list_ok = ident.key in _VERSION_LIST_ATTRS if versions else True
    _op(term, _LIST_OPS if list_ok else _STRING_OPS, subject)
    return ModelCondition(
        "attribute", column, term.comparator, _string_or_list(term, subject, list_ok)
    )


def parse_registered_model_filter(
    text: str, max_clauses: int | None = None
) -> tuple[ModelCondition, ...]:
    """``name`` (= != LIKE ILIKE IN NOT IN) and ``tags.<key>`` (= != LIKE ILIKE); at most
    ``max_clauses`` comparisons."""
    terms = scan_filter(text, max_terms=max_clauses)
    return tuple(_registry_condition(t, versions=False) for t in terms)


def parse_model_version_filter(
    text: str, max_clauses: int | None = None
) -> tuple[ModelCondition, ...]:
    """``name``, ``run_id`` (also IN, NOT IN), ``source_path``, ``version_number`` and
    ``tags.<key>``; at most ``max_clauses`` comparisons."""
    terms = scan_filter(text, max_terms=max_clauses)
    return tuple(_registry_condition(t, versions=True) for t in terms)


def check_order_count(count: int, max_keys: int | None) -> None:
    if max_keys is not None and count > max_keys:
        raise InvalidFilterError(
            f"order_by has {count} clauses; this service allows at most {max_keys}"
        )


_MODEL_ORDER = {
    "name": "name",
    "timestamp": "last_updated_time",
    "last_updated_timestamp": "last_updated_time",
}
_VERSION_ORDER = {
    "name": "name",
    "version_number": "model_version",
    "creation_timestamp": "creation_time",
    "last_updated_timestamp": "last_updated_time",
}


def _registry_order(
    clauses: Sequence[str], valid: dict[str, str], prefixes: frozenset[str]
) -> list[ModelOrderKey]:
    keys: list[ModelOrderKey] = []
    for clause in clauses:
        raw = scan_order_by(clause)
        ident = raw.identifier
        column = valid.get(ident.key) if ident.entity is None or ident.entity in prefixes else None
        if column is None:
            raise _error(
                f"expected one of {', '.join(sorted(valid))}, found {clip(clause.strip())!r}",
                ident.position,
                "order_by clause",
            )
        if any(k.key == column for k in keys):
            raise InvalidFilterError(
                f"`order_by` contains duplicate fields: {clip(str(list(clauses)))}"
            )
        keys.append(ModelOrderKey(column, raw.ascending))
    return keys


def parse_registered_model_order_by(
    clauses: Sequence[str], max_keys: int | None = None
) -> tuple[ModelOrderKey, ...]:
    """MLflow's keys (``name``, ``timestamp`` = ``last_updated_timestamp``), then name."""
    check_order_count(len(clauses), max_keys)
    keys = _registry_order(clauses, _MODEL_ORDER, frozenset())
    if not any(k.key == "name" for k in keys):
        keys.append(ModelOrderKey("name", True))
    return tuple(keys)


DEFAULT_VERSION_ORDER = ("last_updated_timestamp DESC", "name ASC", "version_number DESC")


def parse_model_version_order_by(
    clauses: Sequence[str], max_keys: int | None = None
) -> tuple[ModelOrderKey, ...]:
    """MLflow's default order when none is given; then name ASC, version DESC."""
    check_order_count(len(clauses), max_keys)
    keys = _registry_order(
        clauses or DEFAULT_VERSION_ORDER, _VERSION_ORDER, frozenset({"attribute"})
    )
    if not any(k.key == "name" for k in keys):
        keys.append(ModelOrderKey("name", True))
    if not any(k.key == "model_version" for k in keys):
        keys.append(ModelOrderKey("model_version", False))
    return tuple(keys)


# -- logged models --------------------------------------------------------------------------

_LOGGED_ENTITIES = {
    "attributes": "attribute",
    "metrics": "metric",
    "params": "param",
    "tags": "tag",
}
_LOGGED_STRING_ATTRS = frozenset({"name", "model_id", "model_type", "status", "source_run_id"})
_LOGGED_NUMERIC_ATTRS = {
    "creation_timestamp": "creation_timestamp",
    "creation_time": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
    "last_updated_time": "last_updated_timestamp",
}


def _logged_condition(term: RawComparison) -> ModelCondition:
    ident = term.identifier
    entity = "attribute" if ident.entity is None else _LOGGED_ENTITIES.get(ident.entity)
    if entity is None:
        raise _error(
            "expected an entity type (attributes, metrics, params, tags), found "
            f"{clip(ident.entity or '')!r}",
            ident.position,
        )
    subject = f"{entity} {clip(ident.key)!r}"
    if entity == "metric":
        _op(term, _NUMERIC_OPS, subject)
        return ModelCondition("metric", ident.key, term.comparator, _number(term, subject, False))
    if entity == "attribute":
        column = _LOGGED_NUMERIC_ATTRS.get(ident.key)
        if column is not None:
            _op(term, _NUMERIC_OPS, subject)
            return ModelCondition(
                "attribute", column, term.comparator, _number(term, subject, False)
            )
        if ident.key not in _LOGGED_STRING_ATTRS:
            valid = sorted(_LOGGED_STRING_ATTRS | set(_LOGGED_NUMERIC_ATTRS))
            raise _error(
                f"expected an attribute ({', '.join(valid)}), found {clip(ident.key)!r}",
                ident.position,
            )
    _op(term, _LIST_OPS, subject)
    key = ident.key
    return ModelCondition(entity, key, term.comparator, _string_or_list(term, subject, True))


def parse_logged_model_filter(
    text: str, max_clauses: int | None = None
) -> tuple[ModelCondition, ...]:
    """Attributes, ``metrics.<key>`` (any point of the model), ``params.<key>``,
    ``tags.<key>``; at most ``max_clauses`` comparisons."""
    return tuple(_logged_condition(t) for t in scan_filter(text, max_terms=max_clauses))


_LOGGED_ORDER_ATTRS = {
    **{k: k for k in _LOGGED_STRING_ATTRS},
    **_LOGGED_NUMERIC_ATTRS,
}


def parse_logged_model_order_by(
    order: Sequence[LoggedModelOrder], max_keys: int | None = None
) -> tuple[ModelOrderKey, ...]:
    """Attributes or ``metrics.<key>`` (the latest point, optionally on a dataset); then
    creation_timestamp DESC, model_id ASC."""
    check_order_count(len(order), max_keys)
    keys: list[ModelOrderKey] = []
    for o in order:
        name = o.field_name.strip()
        if not name:
            raise InvalidFilterError("`field_name` in the `order_by` clause must be specified.")
        if o.dataset_digest and not o.dataset_name:
            raise InvalidFilterError(
                "`dataset_digest` can only be specified if `dataset_name` is also specified."
            )
        if "." in name:
            entity, key = name.split(".", 1)
            if entity != "metrics":
                raise InvalidFilterError(
                    f"Invalid order by field name: {clip(entity)}, "
                    "only `metrics.<name>` is allowed."
                )
            keys.append(
                ModelOrderKey(f"metrics.{key}", o.ascending, o.dataset_name, o.dataset_digest)
            )
            continue
        column = _LOGGED_ORDER_ATTRS.get(name)
        if column is None:
            raise InvalidFilterError(f"Invalid order by field name: {clip(name)}.")
        keys.append(ModelOrderKey(column, o.ascending))
    if not any(k.key == "creation_timestamp" for k in keys):
        keys.append(ModelOrderKey("creation_timestamp", False))
    if not any(k.key == "model_id" for k in keys):
        keys.append(ModelOrderKey("model_id", True))
    return tuple(keys)
