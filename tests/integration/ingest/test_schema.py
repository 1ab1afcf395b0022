"""The schema the migrations create equals the committed golden copy.

Regenerate the golden after changing a migration on purpose::

    RUNSTREAM_UPDATE_GOLDEN=1 pytest tests/integration/ingest/test_schema.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from runstream.ingest.clickhouse_sink import ClickHouseStore
from runstream.ingest.migrations import load_migrations
from runstream.ingest.settings import ClickHouseTarget
from tests.integration.ingest.workload import client

GOLDEN = Path(__file__).with_name("golden_schema.sql")


def created_schema(dsn: str, database: str) -> str:
    c = client(dsn, database)
    try:
        tables = [r[0] for r in c.query("SHOW TABLES").result_rows]
        parts = []
        for table in sorted(tables):
            ddl = c.query(f"SHOW CREATE TABLE `{table}`").result_rows[0][0]
            ddl = re.sub(rf"^CREATE TABLE `?{re.escape(database)}`?\.", "CREATE TABLE ", ddl)
            parts.append(ddl.strip() + "\n;\n")
        return "".join(parts)
    finally:
        c.close()


def test_schema_matches_golden(chdb_dsn: str, fresh_database: str) -> None:
    store = ClickHouseStore(ClickHouseTarget(chdb_dsn, fresh_database))
    try:
        shipped = [(m.version, m.name) for m in load_migrations()]
        assert [v for v, _ in shipped] == [1, 2, 3, 4, 5, 6, 8, 10, 11, 12]
        assert store.migrate() == [v for v, _ in shipped]
        assert store.migrate() == []  # idempotent
        versions = store.rows("SELECT version, name FROM schema_migrations FINAL ORDER BY version")
        assert versions == shipped
        assert shipped[-1] == (12, "page_projection_blocks")
    finally:
        store.close()
    schema = created_schema(chdb_dsn, fresh_database)
    assert fresh_database not in schema
    if os.environ.get("RUNSTREAM_UPDATE_GOLDEN"):
        GOLDEN.write_text(schema)
    assert GOLDEN.exists(), "no golden schema: run with RUNSTREAM_UPDATE_GOLDEN=1 to write it"
    assert schema == GOLDEN.read_text(), (
        "the created schema differs from tests/integration/ingest/golden_schema.sql; if the "
        "change is intended, regenerate it with RUNSTREAM_UPDATE_GOLDEN=1"
    )
