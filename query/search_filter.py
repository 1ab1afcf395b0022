"""The meaning of MLflow's search strings: which entity, key, comparator and value go
together, for runs and for experiments, with MLflow's aliases.

The rules follow MLflow's ``SearchUtils`` / ``SearchExperimentsUtils`` and the SQL store's
checks (``_get_sqlalchemy_filter_clauses``, ``_get_orderby_clauses``): what MLflow refuses
is refused here, with the position of the offending term.  Deliberately stricter: MLflow
(through sqlparse) also accepts comparisons with no AND between them and stray leading,
trailing or doubled ANDs; those are refused as malformed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .errors import InvalidFilterError, clip
from .filter_scanner import RawComparison, RawIdentifier, RawValue, scan_filter, scan_order_by


class Entity(StrEnum):
    METRIC = "metric"
    PARAM = "param"
    TAG = "tag"
    ATTRIBUTE = "attribute"
    DATASET = "dataset"


Value = float | int | str | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Condition:
    entity: Entity
    key: str  # canonical: aliases such as ``created`` already translated
    comparator: str  # upper case: = != < <= > >= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL
    value: Value


@dataclass(frozen=True, slots=True)
class OrderKey:
    entity: Entity
    key: str
    ascending: bool


_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
_KV_OPS = _STRING_OPS | {"IS NULL", "IS NOT NULL"}
_LIST_OPS = _STRING_OPS | {"IN", "NOT IN"}


@dataclass(frozen=True)
class _Dialect:
    name: str
    entities: dict[str, Entity]
    string_attributes: frozenset[str]
    numeric_attributes: frozenset[str]
    list_attributes: frozenset[str]
    aliases: dict[str, str]
    orderable: frozenset[str]
    integer_only: bool  # numeric attribute values must be integers (experiments)


_RUNS = _Dialect(
    name="runs",
    entities={
        "metric": Entity.METRIC,
        "metrics": Entity.METRIC,
        "parameter": Entity.PARAM,
        "parameters": Entity.PARAM,
        "param": Entity.PARAM,
        "params": Entity.PARAM,
        "tag": Entity.TAG,
        "tags": Entity.TAG,
        "attribute": Entity.ATTRIBUTE,
        "attributes": Entity.ATTRIBUTE,
        "attr": Entity.ATTRIBUTE,
        "run": Entity.ATTRIBUTE,
        "dataset": Entity.DATASET,
        "datasets": Entity.DATASET,
    },
    string_attributes=frozenset(
        {
            "run_id",
            "run_name",
            "user_id",
            "status",
            "artifact_uri",
            "run name",
            "Run name",
            "Run Name",
        }
    ),
    numeric_attributes=frozenset({"start_time", "end_time", "created", "Created"}),
    list_attributes=frozenset({"run_id"}),
    aliases={
        "created": "start_time",
        "Created": "start_time",
        "run name": "run_name",
        "Run name": "run_name",
        "Run Name": "run_name",
    },
    orderable=frozenset(
        {
            "artifact_uri",
            "end_time",
            "run_id",
            "run_name",
            "start_time",
            "status",
            "user_id",
            "created",
            "Created",
        }
    ),
    integer_only=False,
)

_EXPERIMENTS = _Dialect(
    name="experiments",
    entities={"attribute": Entity.ATTRIBUTE, "tag": Entity.TAG, "tags": Entity.TAG},
    string_attributes=frozenset({"name", "experiment_id"}),
    numeric_attributes=frozenset({"creation_time", "last_update_time"}),
    list_attributes=frozenset({"experiment_id"}),
    aliases={},
    orderable=frozenset({"name", "experiment_id", "creation_time", "last_update_time"}),
    integer_only=True,
)

_DATASET_KEYS = frozenset({"name", "digest", "context"})


def _error(message: str, position: int, what: str = "filter") -> InvalidFilterError:
    return InvalidFilterError(
        f"Invalid {what} at position {position + 1}: {message}", position=position
    )


def _entity(d: _Dialect, ident: RawIdentifier, what: str) -> Entity:
    if ident.entity is None:
        return Entity.ATTRIBUTE
    entity = d.entities.get(ident.entity)
    if entity is None:
        valid = ", ".join(sorted(d.entities))
        raise _error(
            f"expected an entity type ({valid}), found {clip(ident.entity)!r}",
            ident.position,
            what,
        )
    return entity


def _attribute_key(d: _Dialect, ident: RawIdentifier, valid: frozenset[str], what: str) -> str:
    if ident.key not in valid:
        raise _error(
            f"expected an attribute ({', '.join(sorted(valid))}), found {clip(ident.key)!r}",
            ident.position,
            what,
        )
    return d.aliases.get(ident.key, ident.key)


def _check_op(term: RawComparison, allowed: frozenset[str], subject: str) -> None:
    if term.comparator not in allowed:
        order = (
            "=",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "LIKE",
            "ILIKE",
            "IN",
            "NOT IN",
            "IS NULL",
            "IS NOT NULL",
        )
        names = ", ".join(op for op in order if op in allowed)
        raise _error(
            f"{subject} takes one of {names}; found {term.comparator}", term.comparator_position
        )


def _string(value: RawValue, subject: str) -> str:
    if value.kind != "string":
        raise _error(f"{subject} takes a quoted string (e.g. 'my-value')", value.position)
    return value.text


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT64_DIGITS = 19


def _number(value: RawValue, subject: str, integer_only: bool) -> float | int:
    """An integer (within Int64: the columns' range) or a float (as text, never via int)."""
    if value.kind != "number":
        raise _error(f"{subject} takes a number", value.position)
    if value.is_integer:
        digits = value.text.lstrip("-").lstrip("0") or "0"
        if len(digits) <= _INT64_DIGITS:
            number = -int(digits) if value.text.startswith("-") else int(digits)
            if INT64_MIN <= number <= INT64_MAX:
                return number
        raise _error(
            f"{subject} takes a number between {INT64_MIN} and {INT64_MAX}; "
            f"found {clip(value.text, 40)}",
            value.position,
        )
    if integer_only:
        raise _error(f"{subject} takes an integer (milliseconds since the epoch)", value.position)
    return float(value.text)


def _condition(d: _Dialect, term: RawComparison) -> Condition:
    ident, value = term.identifier, term.value
    entity = _entity(d, ident, "filter")
    if entity is Entity.ATTRIBUTE:
        key = _attribute_key(d, ident, d.string_attributes | d.numeric_attributes, "filter")
        subject = f"attribute {clip(ident.key)!r}"
        if ident.key in d.numeric_attributes:
            _check_op(term, _NUMERIC_OPS, subject)
            return Condition(entity, key, term.comparator, _number(value, subject, d.integer_only))
        _check_op(term, _LIST_OPS, subject)
        if value.kind == "list" or term.comparator in ("IN", "NOT IN"):
            if ident.key not in d.list_attributes:
                raise _error(
                    f"only {', '.join(sorted(d.list_attributes))} can be compared "
                    "with a list of quoted strings",
                    value.position,
                )
            if value.kind != "list" or term.comparator not in ("IN", "NOT IN"):
                raise _error(
                    f"{subject} takes a parenthesised list of quoted strings with IN "
                    "and NOT IN, and a quoted string otherwise",
                    value.position,
                )
            return Condition(entity, key, term.comparator, value.items)
        return Condition(entity, key, term.comparator, _string(value, subject))
    subject = f"{entity.value} {clip(ident.key)!r}"
    if entity is Entity.METRIC:
        _check_op(term, _NUMERIC_OPS, subject)
        if value.kind != "number":
            raise _error(f"{subject} takes a number", value.position)
        # any magnitude is a double (beyond the largest: +-inf, which compares as MLflow's)
        return Condition(entity, ident.key, term.comparator, float(value.text))
    if entity is Entity.DATASET:
        if ident.key not in _DATASET_KEYS:
            raise _error(
                f"expected a dataset key (context, digest, name), found {clip(ident.key)!r}",
                ident.position,
            )
        _check_op(term, _LIST_OPS, subject)
        if term.comparator in ("IN", "NOT IN"):
            if value.kind != "list":
                raise _error(
                    f"{subject} takes a parenthesised list with IN and NOT IN", value.position
                )
            return Condition(entity, ident.key, term.comparator, value.items)
        return Condition(entity, ident.key, term.comparator, _string(value, subject))
    # params and tags
    _check_op(term, _KV_OPS, subject)
    if term.comparator in ("IS NULL", "IS NOT NULL"):
        return Condition(entity, ident.key, term.comparator, None)
    return Condition(entity, ident.key, term.comparator, _string(value, subject))


def parse_run_filter(text: str, max_clauses: int | None = None) -> tuple[Condition, ...]:
    """MLflow's run search filter, e.g. ``metrics.loss < 0.5 and params.lr = '0.01'``;
    at most ``max_clauses`` comparisons."""
    return tuple(_condition(_RUNS, term) for term in scan_filter(text, max_terms=max_clauses))


def parse_experiment_filter(text: str, max_clauses: int | None = None) -> tuple[Condition, ...]:
    """MLflow's experiment search filter (name, experiment_id, creation_time,
    last_update_time, tags); at most ``max_clauses`` comparisons."""
    return tuple(
        _condition(_EXPERIMENTS, term) for term in scan_filter(text, max_terms=max_clauses)
    )


def _check_order_count(clauses: Sequence[str], max_keys: int | None) -> None:
    if max_keys is not None and len(clauses) > max_keys:
        raise InvalidFilterError(
            f"order_by has {len(clauses)} clauses; this service allows at most {max_keys}"
        )


def _order_key(d: _Dialect, clause: str) -> OrderKey:
    raw = scan_order_by(clause)
    ident = raw.identifier
    what = "order_by clause"
    entity = _entity(d, ident, what)
    if entity is Entity.ATTRIBUTE:
        return OrderKey(entity, _attribute_key(d, ident, d.orderable, what), raw.ascending)
    if entity is Entity.DATASET or d is _EXPERIMENTS:
        raise _error(f"cannot order by {clip(ident.entity or '')}.<key>", ident.position, what)
    return OrderKey(entity, ident.key, raw.ascending)


def parse_run_order_by(clauses: Sequence[str], max_keys: int | None = None) -> tuple[OrderKey, ...]:
    """The user's order keys (without the implicit start_time DESC, run_id tail)."""
    _check_order_count(clauses, max_keys)
    keys: list[OrderKey] = []
    seen: set[tuple[Entity, str]] = set()
    for clause in clauses:
        key = _order_key(_RUNS, clause)
        if (key.entity, key.key) in seen:
            raise InvalidFilterError(f"order_by contains duplicate fields: {clip(str(clauses))}")
        seen.add((key.entity, key.key))
        keys.append(key)
    return tuple(keys)


def parse_experiment_order_by(
    clauses: Sequence[str], max_keys: int | None = None
) -> tuple[OrderKey, ...]:
    """Order keys with MLflow's default (creation_time DESC, experiment_id ASC) and its
    tie-break (experiment_id DESC when not named)."""
    _check_order_count(clauses, max_keys)
    keys = [_order_key(_EXPERIMENTS, c) for c in clauses] or [
        OrderKey(Entity.ATTRIBUTE, "creation_time", False),
        OrderKey(Entity.ATTRIBUTE, "experiment_id", True),
    ]
    if not any(k.key == "experiment_id" for k in keys):
        keys.append(OrderKey(Entity.ATTRIBUTE, "experiment_id", False))
    return tuple(keys)


def parse_group_by(text: str) -> tuple[Entity, str]:
    """``params.<key>`` or ``tags.<key>`` (MLflow's identifiers and quoting)."""
    raw = scan_order_by(text)
    entity = _entity(_RUNS, raw.identifier, "group_by")
    if entity not in (Entity.PARAM, Entity.TAG) or not raw.ascending:
        raise _error("expected params.<key> or tags.<key>", raw.identifier.position, "group_by")
    return entity, raw.identifier.key
