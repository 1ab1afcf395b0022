"""Fixtures for the query service against real chDB: tables from ingest's migrations in
a fresh database of the session's chDB directory, rows written directly (no Kafka)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runstream.query import QueryService, QuerySettings, open_query_service
from tests.integration.query.rows import Writer, create_tables


@pytest.fixture
def writer(chdb_dsn: str, fresh_database: str) -> Iterator[Writer]:
    client = create_tables(chdb_dsn, fresh_database)
    yield Writer(client)
    client.close()


@pytest.fixture
def settings(chdb_dsn: str, fresh_database: str) -> QuerySettings:
    return QuerySettings(clickhouse=chdb_dsn, database=fresh_database, pool_size=2)


@pytest.fixture
def service(writer: Writer, settings: QuerySettings) -> Iterator[QueryService]:
    svc = open_query_service(settings)
    yield svc
    svc.close()
