"""Snapshots: ClickHouse's own BACKUP / RESTORE of the database, with the applied offsets.

A snapshot is a directory ``<snapshot dir>/<name>/`` holding ``backup/`` (what
``BACKUP DATABASE ... TO File(...)`` wrote: every table, ``ingest_offsets`` among them, so
the data and the offsets it reflects travel together) and ``manifest.json`` (when, which
database and topic, the applied offsets per partition, the row count per table).  Restoring
it into a fresh data directory and starting ingest there resumes from those offsets: only
the log after the snapshot is read.  So the events topic may have a finite retention, as
long as it is longer than the time between snapshots, with margin (``docs/operations.md``).

Embedded chDB only: the engine must be opened with ``backups.allowed_path`` set, so a
snapshot runs in a process of its own on a directory no other process has open (stop the
stack first; ``runstream snapshot`` says so if the directory is busy).  On a ClickHouse
server use its BACKUP with a disk configured on the server (``docs/operations.md``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError

from runstream.proto.engine import chdb_options, prepare_allocator

from .errors import IngestError
from .settings import ClickHouseTarget

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
BACKUP = "backup"


class SnapshotError(IngestError):
    """A snapshot could not be taken or restored (nothing was changed)."""


@dataclass(frozen=True)
class Manifest:
    name: str
    created_ms: int
    database: str
    topic: str
    offsets: dict[int, int]  # partition -> next offset to apply (as in ingest_offsets)
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows (unmerged parts)

    def to_json(self) -> str:
        data = asdict(self)
        data["offsets"] = {str(p): o for p, o in self.offsets.items()}
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        data["offsets"] = {int(p): int(o) for p, o in data["offsets"].items()}
        return cls(**data)

    def unreachable(self, log_start: Mapping[int, int]) -> dict[int, tuple[int, int]]:
        """Partitions whose log now starts past the snapshot's offset: (snapshot offset,
        log start).  A snapshot with any cannot be completed from the log any more."""
        return {
            p: (self.offsets.get(p, 0), start)
            for p, start in sorted(log_start.items())
            if start > self.offsets.get(p, 0)
        }


def _client(target: ClickHouseTarget, allowed: Path, database: str | None) -> Any:
    if not target.embedded:
        raise SnapshotError(
            "runstream snapshot handles embedded chDB (chdb:///DIR); on a ClickHouse server "
            "run BACKUP DATABASE ... TO Disk(...) with a backup disk configured on the server"
        )
    prepare_allocator()
    options = {**chdb_options(), "backups.allowed_path": str(allowed)}
    kwargs: dict[str, Any] = {"chdb_options": options}
    if database:
        kwargs["database"] = database
    try:
        return clickhouse_connect.get_client(dsn=target.dsn, **kwargs)
    except (ClickHouseError, RuntimeError, OSError) as exc:
        raise SnapshotError(
            f"cannot open {target.dsn} (is a stack or ingest worker using it? stop it first): {exc}"
        ) from exc


def create(target: ClickHouseTarget, snapshot_dir: Path, topic: str, name: str = "") -> Manifest:
    """Back ``target.database`` up into ``snapshot_dir/<name>`` (name: a UTC timestamp by
    default) and write its manifest."""
    root = snapshot_dir.absolute()
    name = name or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    where = root / name
    if where.exists():
        raise SnapshotError(f"snapshot {where} exists")
    root.mkdir(parents=True, exist_ok=True)
    client = _client(target, root, None)
    db = target.database
    try:
        if not client.command(f"EXISTS DATABASE `{db}`"):
            raise SnapshotError(f"no database {db} at {target.dsn}")
        tables = [str(r[0]) for r in client.query(f"SHOW TABLES FROM `{db}`").result_rows]
        if "ingest_offsets" not in tables:
            raise SnapshotError(f"database {db} holds no ingest progress: nothing to snapshot")
        half = client.query(
            f"SELECT b.partition FROM (SELECT partition, max(end_offset) AS e FROM `{db}`."
            "ingest_batches WHERE topic = {t:String} GROUP BY partition) AS b LEFT JOIN "
            f"(SELECT partition, max(next_offset) AS n FROM `{db}`.ingest_offsets "
            "WHERE topic = {t:String} GROUP BY partition) AS o USING partition WHERE o.n < b.e",
            parameters={"t": topic},
        ).result_rows
        if half:
            raise SnapshotError(
                f"partitions {sorted(int(r[0]) for r in half)} hold a half-written batch: "
                "start ingest once (it rebuilds it), stop it, then take the snapshot"
            )
        offsets = {
            int(p): int(o)
            for p, o in client.query(
                f"SELECT partition, max(next_offset) FROM `{db}`.ingest_offsets "
                "WHERE topic = {t:String} GROUP BY partition",
                parameters={"t": topic},
            ).result_rows
        }
        rows = {
            str(t): int(n)
            for t, n in client.query(
                "SELECT table, sum(rows) FROM system.parts WHERE database = {d:String} "
                "AND active GROUP BY table",
                parameters={"d": db},
            ).result_rows
        }
        started = time.monotonic()
        client.command(f"BACKUP DATABASE `{db}` TO File('{where / BACKUP}')")
    except ClickHouseError as exc:
        raise SnapshotError(f"snapshot of {db} failed: {exc}") from exc
    finally:
        client.close()
    manifest = Manifest(name, int(time.time() * 1000), db, topic, offsets, rows)
    (where / MANIFEST).write_text(manifest.to_json())
    logger.info(
        "snapshot %s of database %s: offsets %s, %d tables in %.1f s",
        where, db, offsets, len(rows), time.monotonic() - started,
    )  # fmt: skip
    return manifest


def restore(target: ClickHouseTarget, snapshot_dir: Path, name: str) -> Manifest:
    """Restore snapshot ``name`` as ``target.database``, which must not exist yet."""
    root = snapshot_dir.absolute()
    manifest = read(root, name)
    client = _client(target, root, None)
    db = target.database
    try:
        if client.command(f"EXISTS DATABASE `{db}`"):
            raise SnapshotError(f"database {db} exists at {target.dsn}: restore into a fresh one")
        client.command(
            f"RESTORE DATABASE `{manifest.database}` AS `{db}` FROM File('{root / name / BACKUP}')"
        )
    except ClickHouseError as exc:
        raise SnapshotError(f"restore of {name} failed: {exc}") from exc
    finally:
        client.close()
    logger.info("restored snapshot %s as database %s: offsets %s", name, db, manifest.offsets)
    return manifest


def read(snapshot_dir: Path, name: str) -> Manifest:
    path = snapshot_dir / name / MANIFEST
    if not path.is_file():
        raise SnapshotError(f"no snapshot {name} in {snapshot_dir} (no {MANIFEST})")
    return Manifest.from_json(path.read_text())


def newest_warning(
    manifests: list[Manifest], topic: str, log_start: Mapping[int, int]
) -> str | None:
    """What is wrong, if anything, with the newest snapshot of ``topic`` against where the
    log now starts: none while the log is truncated (a new node cannot be built), or one the
    log can no longer complete (retention is shorter than the snapshot interval)."""
    mine = [m for m in manifests if m.topic == topic]
    truncated = {p: s for p, s in log_start.items() if s > 0}
    if not mine:
        if truncated:
            return (
                f"no snapshot of {topic}, and retention deleted the start of its log "
                f"(partitions {sorted(truncated)}): a new node cannot be built; take a snapshot"
            )
        return None
    gaps = mine[-1].unreachable(log_start)
    if not gaps:
        return None
    detail = ", ".join(f"partition {p} at {o}, log starts at {s}" for p, (o, s) in gaps.items())
    return (
        f"the newest snapshot {mine[-1].name} of {topic} can no longer be completed from the "
        f"log ({detail}): take a snapshot now, and keep retention.ms longer than the "
        "snapshot interval"
    )


def listing(snapshot_dir: Path) -> list[Manifest]:
    """Every complete snapshot in ``snapshot_dir``, oldest first."""
    if not snapshot_dir.is_dir():
        return []
    found = [read(snapshot_dir, p.name) for p in snapshot_dir.iterdir() if (p / MANIFEST).is_file()]
    return sorted(found, key=lambda m: (m.created_ms, m.name))
