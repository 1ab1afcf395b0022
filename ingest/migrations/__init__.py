"""Versioned DDL: ``migrations/sql/NNNN_name.sql`` applied in order, each once per database.

A file holds statements separated by a line with only ``;``.  Every statement must be
idempotent (``IF NOT EXISTS``, settings that can be set twice): two workers starting at
once may both apply a migration.  ``schema_migrations`` records what was applied, with a
checksum of the file; a changed file that was already applied is reported, not re-run.
The same files give the DDL of a ClickHouse cluster (:mod:`.cluster`, ``runstream
migrations print --cluster NAME``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from ..errors import MigrationError
from ..settings import DEFAULT_DATABASE

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

SCHEMA_MIGRATIONS_DDL = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree
ORDER BY version"""


class SqlRunner(Protocol):
    """Runs SQL in the target database."""

    def command(self, sql: str) -> None: ...

    def rows(self, sql: str) -> list[tuple[object, ...]]: ...


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


def split_statements(text: str) -> tuple[str, ...]:
    """Statements of a migration file, without comment-only chunks."""
    chunks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip() == ";":
            chunks.append([])
        else:
            chunks[-1].append(line)
    statements = []
    for chunk in chunks:
        body = "\n".join(chunk).strip()
        meaningful = [
            ln for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("--")
        ]
        if meaningful:
            statements.append(body)
    return tuple(statements)


def parse_migration(filename: str, text: str) -> Migration:
    match = _NAME_RE.match(filename)
    if not match:
        raise MigrationError(f"migration file name must look like 0001_name.sql: {filename!r}")
    statements = split_statements(text)
    if not statements:
        raise MigrationError(f"migration {filename} holds no statement")
    checksum = hashlib.sha256(text.encode()).hexdigest()
    return Migration(int(match.group(1)), match.group(2), statements, checksum)


def load_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    folder = resources.files("runstream.ingest.migrations").joinpath("sql")
    found = [
        parse_migration(entry.name, entry.read_text())
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return found


def apply_migrations(
    runner: SqlRunner,
    migrations: Sequence[Migration] | None = None,
    *,
    cluster: str | None = None,
    database: str = DEFAULT_DATABASE,
) -> list[int]:
    """Apply every migration not yet recorded; returns the versions applied now.

    With ``cluster``, the ``ON CLUSTER`` form of each (:mod:`.cluster`) for ``database``
    (the runner's database), sent to one node.
    """
    todo = list(load_migrations() if migrations is None else migrations)
    schema_ddl: tuple[str, ...] = (SCHEMA_MIGRATIONS_DDL,)
    if cluster is not None:
        from .cluster import cluster_migrations, schema_migrations_ddl

        todo = cluster_migrations(cluster, database, todo)
        schema_ddl = schema_migrations_ddl(cluster, database)
    for statement in schema_ddl:
        runner.command(statement)
    applied = {
        int(str(v)): str(c)
        for v, c in runner.rows(
            "SELECT version, any(checksum) FROM schema_migrations GROUP BY version"
        )
    }
    done: list[int] = []
    for migration in todo:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                logger.warning(
                    "migration %04d_%s changed since it was applied; not re-running it",
                    migration.version,
                    migration.name,
                )
            continue
        for i, statement in enumerate(migration.statements, 1):
            try:
                runner.command(statement)
            except Exception as exc:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name}, statement {i}: {exc}"
                ) from exc
        version, name, checksum = migration.version, migration.name, migration.checksum
        runner.command(
            "INSERT INTO schema_migrations (version, name, checksum) "
            f"VALUES ({version}, '{name}', '{checksum}')"
        )
        logger.info("applied migration %04d_%s", version, name)
        done.append(version)
    return done
