"""Point contexts: the dimensions a metric point may carry (rank, node, device, and free
string key-values), shared by the SDK, the gateway, ingest and the query service.

A context is a small mapping of string keys to string values.  In memory it is a
:data:`Context`: the pairs sorted by key, so equal contexts are equal tuples (and hash
alike).  In ClickHouse it is one ``LowCardinality(String)``: :func:`canonical` (compact JSON,
keys sorted; ``''`` for the empty context), so a series is one dictionary code and an
analyst can still read a dimension with ``JSONExtractString(context, 'rank')``.

The rules (:func:`context_problems`): at most :data:`MAX_CONTEXT_PAIRS` pairs; keys
non-empty, at most :data:`MAX_CONTEXT_KEY_LENGTH` characters of ``[A-Za-z0-9_.-]``; values
strings of 1 to :data:`MAX_CONTEXT_VALUE_LENGTH` characters, valid UTF-8; ``rank`` (and
``local_rank``) a non-negative integer, given as an ``int`` or a string of digits and kept as
its decimal string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TypeAlias

Context: TypeAlias = tuple[tuple[str, str], ...]
EMPTY_CONTEXT: Context = ()

MAX_CONTEXT_PAIRS = 8
MAX_CONTEXT_KEY_LENGTH = 64
MAX_CONTEXT_VALUE_LENGTH = 256
RANK_KEYS = frozenset({"rank", "local_rank"})
# The dimensions with a meaning of their own (any other key is free).
RANK, LOCAL_RANK, NODE, NODE_RANK, DEVICE = "rank", "local_rank", "node", "node_rank", "device"

_CONTEXT_KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_MAX_RANK = 2**31 - 1

Problem: TypeAlias = tuple[str, str]  # (field, what is wrong)


def _clip(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _utf8_problem(text: str) -> str | None:
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds a lone surrogate at character {exc.start}, which is not valid UTF-8"
    return None


def _key_problem(key: object) -> str | None:
    if not isinstance(key, str):
        return f"a key must be a string, got {type(key).__name__}"
    if key == "":
        return "a key must not be empty"
    if len(key) > MAX_CONTEXT_KEY_LENGTH:
        return f"key is {len(key)} characters long; at most {MAX_CONTEXT_KEY_LENGTH} are allowed"
    if not _CONTEXT_KEY_RE.match(key):
        return f"key {_clip(key)} has characters outside letters, digits, '_', '.' and '-'"
    return None


def _value(key: str, value: object) -> tuple[str | None, str | None]:
    """(the stored string, None) or (None, what is wrong)."""
    if key in RANK_KEYS:
        if type(value) is int:
            if 0 <= value <= _MAX_RANK:
                return str(value), None
            return None, f"must be a non-negative integer (at most {_MAX_RANK}), got {value}"
        if (
            isinstance(value, str)
            and value.isascii()
            and value.isdigit()
            and int(value) <= _MAX_RANK
        ):
            return str(int(value)), None
        shown = _clip(value) if isinstance(value, str) else type(value).__name__
        return None, f"must be a non-negative integer, got {shown}"
    if not isinstance(value, str):
        return None, f"must be a string, got {type(value).__name__}"
    if value == "":
        return None, "must not be empty"
    if len(value) > MAX_CONTEXT_VALUE_LENGTH:
        return None, (
            f"is {len(value)} characters long; at most {MAX_CONTEXT_VALUE_LENGTH} are allowed"
        )
    if (problem := _utf8_problem(value)) is not None:
        return None, problem
    return value, None


def context_problems(
    context: Mapping[str, object] | Context | None, field: str = "context"
) -> tuple[Context, list[Problem]]:
    """The checked :data:`Context` and the problems found (a context with any problem is
    refused whole: the returned context is then empty)."""
    if context is None:
        return EMPTY_CONTEXT, []
    if isinstance(context, tuple):
        items: list[tuple[object, object]] = list(context)
    elif isinstance(context, Mapping):
        items = list(context.items())
    else:
        return EMPTY_CONTEXT, [(field, f"must be a mapping, got {type(context).__name__}")]
    problems: list[Problem] = []
    if len(items) > MAX_CONTEXT_PAIRS:
        problems.append((field, f"has {len(items)} pairs; at most {MAX_CONTEXT_PAIRS} are allowed"))
    pairs: dict[str, str] = {}
    for key, value in items:
        if (p := _key_problem(key)) is not None:
            problems.append((field, p))
            continue
        assert isinstance(key, str)
        stored, p = _value(key, value)
        if p is not None:
            problems.append((f"{field}.{key}", p))
        elif stored is not None:
            pairs[key] = stored
    if problems:
        return EMPTY_CONTEXT, problems
    return tuple(sorted(pairs.items())), []


def merge(base: Context, extra: Context) -> Context:
    """``base`` with ``extra``'s pairs on top (``extra`` wins on a shared key)."""
    if not base:
        return extra
    if not extra:
        return base
    merged = dict(base)
    merged.update(extra)
    return tuple(sorted(merged.items()))


def canonical(context: Context) -> str:
    """The stored form: compact JSON with sorted keys; ``''`` for the empty context."""
    if not context:
        return ""
    return json.dumps(dict(context), separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def from_canonical(text: str) -> Context:
    """The inverse of :func:`canonical`."""
    if not text:
        return EMPTY_CONTEXT
    loaded = json.loads(text)
    return tuple(sorted((str(k), str(v)) for k, v in loaded.items()))
