"""The ports of the read side: run parameterized SQL and get rows back; ask the log (Kafka)
where each partition ends."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from .sql_text import Sql

Row = tuple[Any, ...]
Column = npt.NDArray[Any]


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


@runtime_checkable
class ColumnsPort(Protocol):
    """A store that answers a SELECT as numpy columns (no Python object per row): what
    long series read through.  Optional: a store without it is read row by row."""

    def columns(self, sql: Sql, dtypes: Mapping[str, Any]) -> dict[str, Column]:
        """Run one SELECT; one array per column named in ``dtypes`` (of that dtype)."""
        ...


def columns_of(store: SqlPort, sql: Sql, dtypes: Mapping[str, Any]) -> dict[str, Column]:
    """``store.columns`` when the store has it, else its rows turned into columns."""
    if isinstance(store, ColumnsPort):
        return store.columns(sql, dtypes)
    rows = store.rows(sql)
    return {
        name: np.array([r[i] for r in rows], dtype=dtype)
        for i, (name, dtype) in enumerate(dtypes.items())
    }


class LogEndPort(Protocol):
    def end_offsets(self, topic: str, partitions: Collection[int]) -> dict[int, int]:
        """Per partition of ``topic`` among ``partitions``: the offset the next record will
        get.  Partitions the topic does not have are left out (a topic that does not exist
        has none).  Raises :class:`~.errors.LogUnavailableError` when the log cannot be
        asked (within a few seconds)."""
        ...

    def close(self) -> None: ...
