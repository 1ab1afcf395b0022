"""MLflow's input rules, shared by the SDK and the gateway (one module, one behaviour).

The rules follow ``mlflow/utils/validation.py``: keys at most 250 characters, made of
``[/\\w.\\- :]``, unchanged by ``posixpath.normpath`` (no ``..`` parts, no leading ``/``);
param values at most 6,000 characters, tag values 8,000; metric values are numbers (NaN and
±inf are valid; bools and strings are not); steps and timestamps are integers.

Batch limits: MLflow's for the row form of ``LogBatch`` (1,000 metrics, 100 params, 100
tags, 1,000 items in all); our own for columnar points (:data:`MAX_COLUMN_POINTS_PER_BATCH`).

Every error names the field at fault (``key``, ``metrics[3].value``, ``params['lr']``...).
"""

from __future__ import annotations

import numbers
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from runstream.proto.errors import echo
from runstream.proto.events import MAX_KEYS_PER_METRICS_EVENT
from runstream.proto.vocabulary import RUN_STATUSES

from .errors import FieldProblem, ValidationError

MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VAL_LENGTH = 5000
MAX_RUN_NAME_LENGTH = 250
MAX_ID_LENGTH = 256

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
#: Our own limit: columnar points in one LogBatch request (about 2.6 MB packed).
MAX_COLUMN_POINTS_PER_BATCH = 100_000
#: Distinct keys in one columnar batch (key_index is uint16).
MAX_COLUMN_KEYS_PER_BATCH = MAX_KEYS_PER_METRICS_EVENT


_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

# Keys already found valid: log_metric in a training loop checks the same few keys
# millions of times.  Bounded; cleared when full.
_valid_keys: set[str] = set()
_VALID_KEYS_MAX = 65_536


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (None if it can): every string runstream keeps must be
    valid UTF-8 (Avro, protobuf and ClickHouse all say so), so a lone surrogate such as
    ``"\\ud800"`` (which Python strings may hold) is refused where it is given."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"holds a lone surrogate {text[exc.start]!r} at character {exc.start}, "
            "which is not valid UTF-8"
        )
    return None


def check_text(value: object, field: str) -> str:
    """A string that is valid UTF-8 (any length), or :class:`ValidationError`."""
    if not isinstance(value, str):
        raise ValidationError.of(field, f"must be a string, got {type(value).__name__}")
    if (problem := text_problem(value)) is not None:
        raise ValidationError.of(field, problem)
    return value


def key_problem(key: object) -> str | None:
    """Why ``key`` is not a valid metric, param or tag name (None if it is)."""
    if not isinstance(key, str):
        return f"must be a string, got {type(key).__name__}"
    if key == "":
        return "must not be empty"
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        return f"is {len(key)} characters long; at most {MAX_ENTITY_KEY_LENGTH} are allowed"
    if (problem := text_problem(key)) is not None:
        return problem
    if not _KEY_RE.match(key):
        return (
            f"{echo(key)} has characters outside alphanumerics, underscores (_), dashes (-), "
            "periods (.), spaces ( ), colons (:) and slashes (/)"
        )
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or norm.startswith("/"):
        return (
            f"{echo(key)} would resolve to {echo(norm)} as a path: no '..' or '.' parts, "
            "no leading or repeated '/'"
        )
    return None


def check_key(key: object, field: str = "key") -> str:
    """A valid metric/param/tag name, or :class:`ValidationError` naming ``field``."""
    if type(key) is str and key in _valid_keys:
        return key
    problem = key_problem(key)
    if problem is not None:
        raise ValidationError.of(field, problem)
    if len(_valid_keys) >= _VALID_KEYS_MAX:
        _valid_keys.clear()
    _valid_keys.add(key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def metric_value_problem(value: object) -> str | None:
    if isinstance(value, bool | np.bool_):
        return "must be a number, got a bool"
    if not isinstance(value, numbers.Number):
        return f"must be a number (NaN and ±inf are allowed), got {type(value).__name__}"
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return f"must be a real number, got {echo(value)}"
    return None


def check_metric_value(value: object, field: str = "value") -> float:
    if type(value) is float:
        return value
    problem = metric_value_problem(value)
    if problem is not None:
        raise ValidationError.of(field, problem)
    return float(value)  # type: ignore[arg-type]


def int_problem(value: object, *, non_negative: bool = False) -> str | None:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        return f"must be an integer, got {type(value).__name__}"
    number = int(value)
    if not _INT64_MIN <= number <= _INT64_MAX:
        return f"{number} does not fit a 64-bit integer"
    if non_negative and number < 0:
        return f"must not be negative, got {number}"
    return None


def check_step(step: object, field: str = "step") -> int:
    if type(step) is int and _INT64_MIN <= step <= _INT64_MAX:
        return step
    problem = int_problem(step)
    if problem is not None:
        raise ValidationError.of(field, problem)
    return int(step)  # type: ignore[call-overload]


def check_timestamp(timestamp: object, field: str = "timestamp") -> int:
    if type(timestamp) is int and 0 <= timestamp <= _INT64_MAX:
        return timestamp
    problem = int_problem(timestamp, non_negative=True)
    if problem is not None:
        raise ValidationError.of(field, problem)
    return int(timestamp)  # type: ignore[call-overload]


def _text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def value_problem(value: object, limit: int) -> str | None:
    """Why a param or tag value cannot be stored (None if it can); values become strings."""
    if value is None:
        return "must not be None"
    text = _text(value)
    if len(text) > limit:
        return f"is {len(text)} characters long; at most {limit} are allowed"
    return text_problem(text)


def param_problems(key: object, value: object, field: str) -> list[FieldProblem]:
    return tag_problems(key, value, field, MAX_PARAM_VAL_LENGTH)


def tag_problems(
    key: object, value: object, field: str, limit: int = MAX_TAG_VAL_LENGTH
) -> list[FieldProblem]:
    problems = []
    if (p := key_problem(key)) is not None:
        problems.append(FieldProblem(f"{field}.key", p))
    if (p := value_problem(value, limit)) is not None:
        problems.append(FieldProblem(f"{field}.value", p))
    return problems


@dataclass(frozen=True, slots=True)
class Checked:
    """The accepted (key, value) pairs of a batch, and the problems of the refused ones."""

    keys: tuple[str, ...]
    values: tuple[str, ...]
    problems: tuple[FieldProblem, ...]


def check_params(params: Iterable[tuple[object, object]], field: str = "params") -> Checked:
    """Params as (key, value) pairs: values become strings; duplicate keys are refused."""
    keys: list[str] = []
    values: list[str] = []
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for i, (key, value) in enumerate(params):
        where = f"{field}[{i}]"
        found = param_problems(key, value, where)
        if not found and key in seen:
            found = [FieldProblem(f"{where}.key", f"duplicate param key {echo(key)} in one batch")]
        if found:
            problems += found
            continue
        seen.add(key)  # type: ignore[arg-type]
        keys.append(key)  # type: ignore[arg-type]
        values.append(_text(value))
    return Checked(tuple(keys), tuple(values), tuple(problems))


def check_tags(
    tags: Iterable[tuple[object, object]], field: str = "tags", limit: int = MAX_TAG_VAL_LENGTH
) -> Checked:
    keys: list[str] = []
    values: list[str] = []
    problems: list[FieldProblem] = []
    for i, (key, value) in enumerate(tags):
        found = tag_problems(key, value, f"{field}[{i}]", limit)
        if found:
            problems += found
            continue
        keys.append(key)  # type: ignore[arg-type]
        values.append(_text(value))
    return Checked(tuple(keys), tuple(values), tuple(problems))


def check_tag_map(tags: Mapping[str, object] | None, field: str = "tags") -> dict[str, str]:
    """All-or-nothing check of a tag dict (run and experiment creation)."""
    if not tags:
        return {}
    checked = check_tags(tags.items(), field)
    if checked.problems:
        raise ValidationError(checked.problems)
    return dict(zip(checked.keys, checked.values, strict=True))


def check_experiment_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError.of(field, f"must be a non-empty string, got {echo(name)}")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise ValidationError.of(
            field,
            f"is {len(name)} characters long; at most {MAX_EXPERIMENT_NAME_LENGTH} are allowed",
        )
    return check_text(name, field)


def check_run_name(name: object, field: str = "run_name") -> str:
    if not isinstance(name, str):
        raise ValidationError.of(field, f"must be a string, got {type(name).__name__}")
    if len(name) > MAX_RUN_NAME_LENGTH:
        raise ValidationError.of(
            field, f"is {len(name)} characters long; at most {MAX_RUN_NAME_LENGTH} are allowed"
        )
    return check_text(name, field)


def check_id(value: object, field: str) -> str:
    """A run or experiment id: an alphanumeric first character, then ``[\\w-]``, ≤256."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValidationError.of(
            field,
            f"{echo(value)} is not a valid id (an alphanumeric, then up to 255 alphanumerics, "
            "underscores or dashes)",
        )
    return value


def check_status(status: object, field: str = "status") -> str:
    if status not in RUN_STATUSES:
        raise ValidationError.of(
            field, f"must be one of {', '.join(RUN_STATUSES)}; got {echo(status)}"
        )
    return status


def check_batch_limits(
    metrics: int, params: int, tags: int, column_points: int = 0, field: str = ""
) -> None:
    """A LogBatch's size limits: MLflow's for rows, ours for columnar points."""
    prefix = f"{field}." if field else ""
    limits = (
        ("metrics", metrics, MAX_METRICS_PER_BATCH),
        ("params", params, MAX_PARAMS_TAGS_PER_BATCH),
        ("tags", tags, MAX_PARAMS_TAGS_PER_BATCH),
        ("metric_columns", column_points, MAX_COLUMN_POINTS_PER_BATCH),
    )
    problems = [
        FieldProblem(f"{prefix}{name}", f"a batch may hold at most {limit} {name}; got {count}")
        for name, count, limit in limits
        if count > limit
    ]
    total = metrics + params + tags
    if total > MAX_ENTITIES_PER_BATCH:
        problems.append(
            FieldProblem(
                f"{prefix}metrics, params and tags",
                f"a batch may hold at most {MAX_ENTITIES_PER_BATCH} in all; got {total}",
            )
        )
    if problems:
        raise ValidationError(problems)


# -- columns ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class CheckedColumns:
    """Accepted columnar points (same layout as ``MetricsLogged``) and refused ones."""

    keys: tuple[str, ...]
    key_index: npt.NDArray[np.uint16]
    values: npt.NDArray[np.float64]
    steps: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    problems: tuple[FieldProblem, ...]
    refused: int

    def __len__(self) -> int:
        return int(self.values.shape[0])


def _column(
    data: object, dtype: type[np.generic], name: str, kinds: str, field: str
) -> npt.NDArray[Any]:
    array = np.asarray(data)
    if array.ndim != 1:
        raise ValidationError.of(f"{field}.{name}", f"must be one-dimensional, got {array.ndim}-d")
    if array.size and array.dtype.kind not in kinds:
        raise ValidationError.of(
            f"{field}.{name}",
            f"must hold {'numbers' if 'f' in kinds else 'integers'}, got dtype {array.dtype}",
        )
    if (
        array.dtype.kind == "u"
        and array.dtype.itemsize == 8
        and array.size
        and (int(array.max()) > _INT64_MAX)
    ):
        raise ValidationError.of(f"{field}.{name}", "a value does not fit a 64-bit integer")
    return np.array(array, dtype=dtype, copy=True)


def check_columns(
    keys: tuple[str, ...] | list[str],
    key_index: object,
    values: object,
    steps: object,
    timestamps: object,
    field: str = "metric_columns",
) -> CheckedColumns:
    """Check columnar points; points with a bad key or a negative timestamp are refused
    (named in ``problems``), the others accepted.  Shape and dtype errors refuse all."""
    keys = tuple(keys)
    if len(keys) > MAX_COLUMN_KEYS_PER_BATCH:
        raise ValidationError.of(
            f"{field}.keys", f"at most {MAX_COLUMN_KEYS_PER_BATCH} distinct keys; got {len(keys)}"
        )
    vals = _column(values, np.float64, "values", "fiu", field)
    n = vals.shape[0]
    index = _column(key_index, np.int64, "key_index", "iu", field)
    stps = _column(steps, np.int64, "steps", "iu", field)
    stamps = _column(timestamps, np.int64, "timestamps", "iu", field)
    for name, col in (("key_index", index), ("steps", stps), ("timestamps", stamps)):
        if col.shape[0] != n:
            raise ValidationError.of(
                f"{field}.{name}", f"has {col.shape[0]} entries but values has {n}"
            )
    problems: list[FieldProblem] = []
    ok = np.ones(n, dtype=bool)
    if n:
        out_of_range = (index < 0) | (index >= len(keys))
        if out_of_range.any():
            first = int(np.argmax(out_of_range))
            problems.append(
                FieldProblem(
                    f"{field}.key_index[{first}]",
                    f"{int(index[first])} is not an index into keys ({len(keys)} keys); "
                    f"{int(out_of_range.sum())} point(s) refused",
                )
            )
            ok &= ~out_of_range
        for i, key in enumerate(keys):
            if (p := key_problem(key)) is not None:
                bad = index == i
                problems.append(
                    FieldProblem(f"{field}.keys[{i}]", f"{p}; {int(bad.sum())} point(s) refused")
                )
                ok &= ~bad
        negative = stamps < 0
        if negative.any():
            first = int(np.argmax(negative))
            problems.append(
                FieldProblem(
                    f"{field}.timestamps[{first}]",
                    f"must not be negative, got {int(stamps[first])}; "
                    f"{int(negative.sum())} point(s) refused",
                )
            )
            ok &= ~negative
    refused = 0
    if problems:
        refused = int(n - ok.sum())
        index, vals, stps, stamps = index[ok], vals[ok], stps[ok], stamps[ok]
    return CheckedColumns(
        keys, index.astype(np.uint16), vals, stps, stamps, tuple(problems), refused
    )
