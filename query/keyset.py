"""Keyset pagination: opaque page tokens that hold the last row's sort key.

A token is bound to its query by a fingerprint of everything that shapes the result
(experiments, filter, order, view), so a token used with another query is refused.  The
next page is "rows strictly after this key in the sort order"; rows that arrive while a
client pages land in their place and are seen by later pages if they sort after the
cursor, and never shift what was already returned (no duplicates, no gaps).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidPageTokenError
from .sql_text import Binder

TOKEN_VERSION = 1
MAX_TOKEN_CHARS = 256 * 1024  # a token holds one row's sort key: string values included
_RANGES = {
    "UInt8": (0, 2**8 - 1),
    "UInt32": (0, 2**32 - 1),
    "Int64": (-(2**63), 2**63 - 1),
    "UInt64": (0, 2**64 - 1),
}


@dataclass(frozen=True, slots=True)
class SortColumn:
    """A sort expression (fixed SQL fragment or SELECT alias) and its type and direction."""

    expr: str
    ch_type: str  # "UInt8" | "Int64" | "Float64" | "String"
    ascending: bool


def fingerprint(*parts: Any) -> str:
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _encode_value(value: Any, ch_type: str) -> Any:
    if ch_type == "Float64":
        return float(value).hex()
    if ch_type == "String":
        return str(value)
    return int(value)


def _decode_value(raw: Any, ch_type: str) -> Any:
    """One sort value, checked against its column's type (anything else: ValueError)."""
    if ch_type == "Float64":
        if not isinstance(raw, str):
            raise ValueError("float")
        value = float.fromhex(raw)  # OverflowError past the largest double
        if math.isnan(value):
            raise ValueError("nan")
        return value
    if ch_type == "String":
        if not isinstance(raw, str):
            raise ValueError("string")
        raw.encode("utf-8")  # UnicodeEncodeError (a ValueError) for a lone surrogate
        return raw
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ValueError("int")
    low, high = _RANGES[ch_type]
    if not low <= raw <= high:
        raise ValueError(f"{ch_type} out of range")
    return raw


def encode_token(fp: str, columns: Sequence[SortColumn], values: Sequence[Any]) -> str:
    body = [
        TOKEN_VERSION,
        fp,
        [_encode_value(v, c.ch_type) for c, v in zip(columns, values, strict=True)],
    ]
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, fp: str, columns: Sequence[SortColumn]) -> list[Any]:
    """The sort key a token holds; :class:`InvalidPageTokenError` for anything this server
    did not issue for this query (any shape, depth or size)."""
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidPageTokenError(f"invalid page token (longer than {MAX_TOKEN_CHARS})")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = json.loads(raw)
        if not isinstance(body, list) or len(body) != 3:
            raise ValueError("shape")
        version, token_fp, encoded = body
        if type(version) is not int or version != TOKEN_VERSION or not isinstance(encoded, list):
            raise ValueError("version")
        if not isinstance(token_fp, str):
            raise ValueError("fingerprint")
        if len(encoded) != len(columns):
            raise ValueError("length")
        values = [_decode_value(v, c.ch_type) for v, c in zip(encoded, columns, strict=True)]
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # binascii.Error, JSONDecodeError and UnicodeError are ValueErrors
        raise InvalidPageTokenError("invalid page token") from exc
    if token_fp != fp:
        raise InvalidPageTokenError(
            "page token belongs to another query (filter, order, experiments or view changed)"
        )
    return values


def after_condition(columns: Sequence[SortColumn], values: Sequence[Any], b: Binder) -> str:
    """``(c0 > v0) OR (c0 = v0 AND c1 < v1) OR ...``: rows strictly after ``values``."""
    disjuncts = []
    for i, col in enumerate(columns):
        terms = []
        for prev, value in zip(columns[:i], values[:i], strict=True):
            terms.append(f"{prev.expr} = {b.bind(_checked(value), prev.ch_type)}")
        op = ">" if col.ascending else "<"
        terms.append(f"{col.expr} {op} {b.bind(_checked(values[i]), col.ch_type)}")
        disjuncts.append("(" + " AND ".join(terms) + ")")
    return "(" + " OR ".join(disjuncts) + ")"


def _checked(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        raise InvalidPageTokenError("invalid page token")
    return value
