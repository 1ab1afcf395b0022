"""The ClickHouse adapter: clickhouse-connect clients (embedded chDB or a server over HTTP)
behind the :class:`~runstream.query.ports.SqlPort` port.

A small pool of clients lets requests run in parallel (chDB serialises the calls of one
client, but several clients on one data directory in one process run concurrently).
Server-side parameter binding only: the SQL text carries ``{name:Type}`` placeholders.
Every query carries the per-query ``limits`` (ClickHouse settings: time, memory, size); a
query that hits one, or that cannot get a client within the time limit, is a
:class:`QueryLimitError` (RESOURCE_EXHAUSTED), never an internal error.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import clickhouse_connect
import numpy as np
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, OperationalError

from runstream.proto.engine import chdb_options, prepare_allocator

from .errors import QueryLimitError, StoreError, StoreUnavailableError
from .ports import Column, Row
from .sql_text import Sql

logger = logging.getLogger(__name__)

_NOT_READY = ("UNKNOWN_TABLE", "UNKNOWN_DATABASE", "Code: 60.", "Code: 81.")
_CODE = re.compile(r"Code: (\d+)\.")
# ClickHouse error codes of a per-query limit (what the request costs, not a bug)
_LIMITS = {  # code -> (what happened, the setting that bounds it)
    159: ("the query took longer than the per-query time limit", "max_execution_time"),
    160: ("the query would take longer than the per-query time limit", "max_execution_time"),
    241: ("the query needs more memory than the per-query limit", "max_memory_usage"),
    167: ("the request compiles to a query nested too deeply", ""),  # TOO_DEEP_AST
    168: ("the request compiles to too large a query", ""),  # TOO_BIG_AST
    306: ("the request compiles to a query nested too deeply", ""),  # TOO_DEEP_RECURSION
}
_NARROW = "; narrow the request (fewer runs, clauses, keys or points)"


def _connect(dsn: str, database: str | None) -> Any:
    kwargs: dict[str, Any] = {"dsn": dsn}
    if database:
        kwargs["database"] = database
    if dsn.startswith("chdb:"):  # the engine's memory, cache and allocator settings
        prepare_allocator()
        kwargs["chdb_options"] = chdb_options()
    else:
        kwargs["autogenerate_session_id"] = False  # concurrent queries on one client
    return clickhouse_connect.get_client(**kwargs)


class ClickHouseStore:
    """``SqlPort`` over clickhouse-connect; ``dsn`` is ``chdb:///DIR`` or ``http://host:8123``."""

    def __init__(
        self,
        dsn: str,
        database: str,
        pool_size: int = 4,
        limits: Mapping[str, Any] | None = None,
    ) -> None:
        self.dsn = dsn
        self.database = database
        self.limits = dict(limits or {})
        wait = self.limits.get("max_execution_time")
        self._acquire_timeout = float(wait) if wait else None
        self._pool_size = max(1, pool_size)
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        self._executor = ThreadPoolExecutor(
            max_workers=self._pool_size, thread_name_prefix="query-store"
        )
        try:
            bootstrap = _connect(dsn, None)
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {_identifier(database)}")
            bootstrap.close()
        except ClickHouseError as exc:
            self._executor.shutdown(wait=False)
            raise StoreUnavailableError(f"cannot open ClickHouse at {_safe(dsn)}") from exc
        self._release(self._acquire())  # fail early if the database cannot be used

    def _acquire(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._closed:
                raise StoreUnavailableError("query store is closed")
            if len(self._all) < self._pool_size:
                client = _connect(self.dsn, self.database)
                self._all.append(client)
                return client
        try:
            return self._idle.get(timeout=self._acquire_timeout)
        except queue.Empty:
            raise QueryLimitError(
                f"all {self._pool_size} ClickHouse clients stayed busy for "
                f"{self._acquire_timeout:g} s; retry later"
            ) from None

    def _release(self, client: Any) -> None:
        self._idle.put(client)

    def rows(self, sql: Sql) -> list[Row]:
        client = self._acquire()
        try:
            settings = {**self.limits, **sql.settings}
            result = client.query(sql.text, parameters=sql.params, settings=settings or None)
            return list(result.result_rows)
        except (DatabaseError, OperationalError) as exc:
            raise _translate(exc, sql, self.limits) from exc
        finally:
            self._release(client)

    def columns(self, sql: Sql, dtypes: Mapping[str, Any]) -> dict[str, Column]:
        """One SELECT as numpy columns (clickhouse-connect's numpy reader: no Python
        object per row)."""
        client = self._acquire()
        try:
            settings = {**self.limits, **sql.settings}
            found = client.query_np(sql.text, parameters=sql.params, settings=settings or None)
        except (DatabaseError, OperationalError) as exc:
            raise _translate(exc, sql, self.limits) from exc
        finally:
            self._release(client)
        if not len(found):  # an empty answer carries no column names
            return {name: np.empty(0, dtype=dtype) for name, dtype in dtypes.items()}
        if found.dtype.names is None:  # columns of one type come as one 2-d array
            grid = found.reshape(len(found), -1)
            return {
                name: np.ascontiguousarray(grid[:, i], dtype=d)
                for i, (name, d) in enumerate(dtypes.items())
            }
        return {name: np.ascontiguousarray(found[name], dtype=d) for name, d in dtypes.items()}

    def rows_many(self, statements: Mapping[str, Sql]) -> dict[str, list[Row]]:
        if len(statements) <= 1:
            return {name: self.rows(sql) for name, sql in statements.items()}
        futures = {name: self._executor.submit(self.rows, sql) for name, sql in statements.items()}
        return {name: f.result() for name, f in futures.items()}

    def command(self, text: str) -> None:
        client = self._acquire()
        try:
            client.command(text)
        except (DatabaseError, OperationalError) as exc:
            raise _translate(exc, None, self.limits) from exc
        finally:
            self._release(client)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients, self._all = self._all, []
        self._executor.shutdown(wait=True)
        for client in clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                logger.debug("closing a ClickHouse client failed", exc_info=True)


def _translate(exc: Exception, sql: Sql | None, limits: Mapping[str, Any]) -> Exception:
    text = str(exc)
    if isinstance(exc, OperationalError):
        return StoreUnavailableError("ClickHouse is unavailable")
    if any(marker in text for marker in _NOT_READY):
        return StoreUnavailableError("the runstream tables do not exist yet (is ingest running?)")
    code = _CODE.search(text)
    if code is not None and int(code.group(1)) in _LIMITS:
        logger.info("a query hit a per-query limit: %s", text[:300])
        what, setting = _LIMITS[int(code.group(1))]
        if setting in limits:
            what += f" ({setting} {limits[setting]})"
        return QueryLimitError(what + _NARROW)
    if "Max query size exceeded" in text:  # SYNTAX_ERROR (62), raised before parsing
        size = limits.get("max_query_size", "")
        return QueryLimitError(
            f"the request compiles to a query larger than the limit (max_query_size {size})"
            + _NARROW
        )
    logger.error("ClickHouse refused a query: %s\nSQL: %s", text, sql.text if sql else "")
    return StoreError("query failed (see server log)")


def _identifier(name: str) -> str:
    """The database name from settings, as a quoted identifier (never user input)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _safe(dsn: str) -> str:
    """A DSN without credentials, for messages."""
    scheme, sep, rest = dsn.partition("://")
    return scheme + sep + rest.rpartition("@")[2] if sep else dsn
