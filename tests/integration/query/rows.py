"""Create runstream's tables from ingest's migrations in a fresh database and write rows
directly, in the shape the DDL comments describe (what the ingest worker writes), so the
query side is tested without Kafka or the worker."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import clickhouse_connect

MIGRATIONS = Path(__file__).resolve().parents[3] / "ingest" / "migrations" / "sql"
_SPLIT = re.compile(r"(?m)^\s*;\s*$")

RUN_COLUMNS = [
    "run_id",
    "experiment_id",
    "run_name",
    "user_id",
    "status",
    "start_time",
    "end_time",
    "artifact_uri",
    "lifecycle_stage",
    "parent_run_id",
    "deleted_time",
    "version",
    "created_by",
]


def statements(sql: str) -> list[str]:
    out = []
    for chunk in _SPLIT.split(sql):
        code = "\n".join(ln for ln in chunk.splitlines() if not ln.strip().startswith("--"))
        if code.strip():
            out.append(chunk)
    return out


def create_tables(dsn: str, database: str) -> Any:
    boot = clickhouse_connect.get_client(dsn=dsn)
    boot.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    boot.close()
    client = clickhouse_connect.get_client(dsn=dsn, database=database)
    for path in sorted(MIGRATIONS.glob("*.sql")):
        for stmt in statements(path.read_text()):
            client.command(stmt)
    return client


class Writer:
    """Rows as ingest writes them; ``version`` plays the Kafka offset (always increasing)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.version = 0
        self._runs: dict[str, dict[str, Any]] = {}

    def _next(self) -> int:
        self.version += 1
        return self.version

    def experiment(
        self,
        experiment_id: str,
        name: str,
        *,
        artifact_location: str = "",
        lifecycle_stage: str = "active",
        creation_time: int = 0,
        last_update_time: int = 0,
        tags: Mapping[str, str] | None = None,
        created_by: str = "",
    ) -> None:
        self.client.insert(
            "experiments",
            [
                [
                    experiment_id,
                    name,
                    artifact_location,
                    lifecycle_stage,
                    creation_time,
                    last_update_time,
                    self._next(),
                    created_by,
                ]
            ],
            column_names=[
                "experiment_id",
                "name",
                "artifact_location",
                "lifecycle_stage",
                "creation_time",
                "last_update_time",
                "version",
                "created_by",
            ],
        )
        for k, v in (tags or {}).items():
            self.experiment_tag(experiment_id, k, v)

    def experiment_tag(
        self, experiment_id: str, key: str, value: str, deleted: bool = False
    ) -> None:
        self.client.insert(
            "experiment_tags",
            [[experiment_id, key, value, self._next(), int(deleted)]],
            column_names=["experiment_id", "key", "value", "version", "is_deleted"],
        )

    def run(self, run_id: str, experiment_id: str, **fields: Any) -> None:
        """Create or update a run: the whole row again with a higher version."""
        row = self._runs.get(run_id) or {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "run_name": "",
            "user_id": "",
            "status": "RUNNING",
            "start_time": 0,
            "end_time": None,
            "artifact_uri": "",
            "lifecycle_stage": "active",
            "parent_run_id": "",
            "deleted_time": None,
            "created_by": "",
        }
        row.update(fields)
        row["version"] = self._next()
        self._runs[run_id] = row
        self.client.insert("runs", [[row[c] for c in RUN_COLUMNS]], column_names=RUN_COLUMNS)

    def params(self, experiment_id: str, run_id: str, params: Mapping[str, str]) -> None:
        if params:
            self.client.insert(
                "params",
                [[experiment_id, run_id, k, v] for k, v in params.items()],
                column_names=["experiment_id", "run_id", "key", "value"],
            )

    def tags(self, experiment_id: str, run_id: str, tags: Mapping[str, str]) -> None:
        if tags:
            v = self._next()
            self.client.insert(
                "tags",
                [[experiment_id, run_id, k, val, v, 0] for k, val in tags.items()],
                column_names=["experiment_id", "run_id", "key", "value", "version", "is_deleted"],
            )

    def delete_tag(self, experiment_id: str, run_id: str, key: str) -> None:
        self.client.insert(
            "tags",
            [[experiment_id, run_id, key, "", self._next(), 1]],
            column_names=["experiment_id", "run_id", "key", "value", "version", "is_deleted"],
        )

    def metrics(
        self, experiment_id: str, run_id: str, points: Iterable[tuple[str, float, int, int]]
    ) -> None:
        """Points (key, value, step, timestamp): raw rows plus one summary row per key."""
        pts = list(points)
        if not pts:
            return
        self.client.insert(
            "metrics",
            [[experiment_id, run_id, k, s, t, v] for k, v, s, t in pts],
            column_names=["experiment_id", "run_id", "key", "step", "timestamp", "value"],
        )
        summary: dict[str, list[Any]] = {}
        for k, v, s, t in pts:
            cur = summary.get(k)
            point = (s, t, v)
            if cur is None:
                summary[k] = [point, v, v, 1]
                continue
            if _newer(point, cur[0]):
                cur[0] = point
            if not math.isnan(v):
                cur[1] = v if math.isnan(cur[1]) else min(cur[1], v)
                cur[2] = v if math.isnan(cur[2]) else max(cur[2], v)
            cur[3] += 1
        self.client.insert(
            "latest_metrics",
            [
                [experiment_id, k, run_id, latest, lo, hi, n]
                for k, (latest, lo, hi, n) in summary.items()
            ],
            column_names=[
                "experiment_id",
                "key",
                "run_id",
                "latest",
                "min_value",
                "max_value",
                "count",
            ],
        )

    def audit(
        self,
        principal: str,
        event_type: str,
        experiment_id: str,
        run_id: str = "",
        *,
        client_ts: int = 0,
        items: int = 1,
        outcome: str = "applied",
    ) -> None:
        """One ``audit_events`` row, as ingest writes it for an event (its offset: the
        next version)."""
        offset = self._next()
        self.client.insert(
            "audit_events",
            [
                [
                    "runstream.events",
                    0,
                    offset,
                    f"e{offset:031d}",
                    principal,
                    "p" * 32,
                    event_type,
                    experiment_id,
                    run_id,
                    client_ts,
                    items,
                    outcome,
                ]
            ],
            column_names=[
                "topic",
                "partition",
                "offset",
                "event_id",
                "principal",
                "producer_id",
                "event_type",
                "experiment_id",
                "run_id",
                "client_ts",
                "items",
                "outcome",
            ],
        )

    def offsets(self, topic: str, partition: int, next_offset: int) -> None:
        self.client.insert(
            "ingest_offsets",
            [[topic, partition, next_offset]],
            column_names=["topic", "partition", "next_offset"],
        )


def _newer(a: tuple[int, int, float], b: tuple[int, int, float]) -> bool:
    if a[:2] != b[:2]:
        return a[:2] > b[:2]
    if math.isnan(b[2]):
        return False
    return math.isnan(a[2]) or a[2] > b[2]


def project_events(client: Any, events: list[Any], first_offset: int = 1_000_000) -> None:
    """Rows for ``events`` as ingest's projection makes them (one batch, fresh state: the
    model half needs no earlier rows), inserted into the tables.  For the model half of the
    demo datasets, whose rows are too many to write by hand."""
    from runstream.ingest.batch import DictColumn
    from runstream.ingest.projection import project
    from runstream.ingest.records import SourceRecord
    from runstream.ingest.state import PartitionState, RunState

    state = PartitionState(1000)
    # runs the events name exist (they were written with the Writer); the projection checks
    for e in events:
        if e.run_id and state.run(e.run_id) is None:
            state.put_runs(
                {
                    e.run_id: RunState(
                        e.run_id,
                        e.experiment_id,
                        "",
                        "",
                        "RUNNING",
                        0,
                        None,
                        "",
                        "active",
                        "",
                        None,
                        0,
                    )
                }
            )
    records = [
        SourceRecord("t", 0, first_offset + i, e.kafka_key, b"", event=e)
        for i, e in enumerate(events)
    ]
    batch = project("t", 0, first_offset, first_offset + len(events), records, state)
    assert not batch.dead_letters, [d.poison for d in batch.dead_letters]
    for t in batch.tables:
        if t.table in ("runs", "audit_events", "ingest_producers"):
            continue  # the runs are the Writer's; the demo's audit rows are written by hand
        data = [c.expand() if isinstance(c, DictColumn) else list(c) for c in t.data]
        client.insert(t.table, data, column_names=list(t.columns), column_oriented=True)
