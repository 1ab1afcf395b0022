"""The one port the read side needs: run parameterized SQL and get rows back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .sql_text import Sql

Row = tuple[Any, ...]


class SqlPort(Protocol):
    def rows(self, sql: Sql) -> list[Row]:
        """Run one SELECT; rows as tuples (NaN and +-inf as Python floats)."""
        ...

    def rows_many(self, statements: Mapping[str, Sql]) -> dict[str, list[Row]]:
        """Run several independent SELECTs, concurrently where the store allows."""
        ...

    def command(self, text: str) -> None:
        """Run one statement without parameters (DDL of our own views)."""
        ...

    def close(self) -> None: ...
