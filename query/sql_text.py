"""Parameterized SQL: text from fixed fragments, every value in the parameters dict.

:class:`Binder` hands out placeholders (``{p0:String}``); nothing a user sends is ever
formatted into the text.  The ClickHouse types a placeholder may carry are fixed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TYPES = frozenset(
    {
        "String",
        "Float64",
        "Int64",
        "Int128",
        "UInt8",
        "UInt32",
        "UInt64",
        "Array(String)",
        "Array(Int64)",
        "Array(Int128)",
        "Array(Int32)",
        "Array(Float64)",
    }
)


@dataclass(frozen=True)
class Sql:
    text: str
    params: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


class Binder:
    """Collects parameters for one statement and returns their placeholders."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def bind(self, value: Any, ch_type: str) -> str:
        if ch_type not in TYPES:
            raise ValueError(f"unsupported placeholder type {ch_type}")
        name = f"p{len(self.params)}"
        self.params[name] = value
        return "{" + name + ":" + ch_type + "}"

    def sql(self, text: str, settings: dict[str, Any] | None = None) -> Sql:
        return Sql(text, dict(self.params), dict(settings or {}))


def like_pattern(pattern: str) -> str:
    """An MLflow (SQL standard, no escape character) LIKE pattern for ClickHouse, where a
    backslash escapes: backslashes become literal."""
    return pattern.replace("\\", "\\\\")
