"""Fakes of the ingest ports (source, store, dead letters) and an event builder.

The fake store mimics the ClickHouse behaviour the pipeline relies on: an insert whose
deduplication token was seen before is dropped whole.  Tests that claim ClickHouse or
Kafka behaviour run against the real services under tests/integration/ingest.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runstream.ingest.batch import TABLE_ORDER, DictColumn, Intent, PartitionBatch, Progress
from runstream.ingest.errors import SinkUnavailable
from runstream.ingest.model_state import LoggedModelState, ModelState, VersionState
from runstream.ingest.purge import TOMBSTONE_TYPES, deletions, split
from runstream.ingest.records import DeadLetter, SourceRecord
from runstream.ingest.state import ExperimentState, RunState
from runstream.proto import events as ev

_seq = itertools.count()


def event(run_id: str, payload: ev.Payload, experiment_id: str = "1") -> ev.RunEvent:
    return ev.RunEvent(ev.new_event_id(), run_id, experiment_id, "test", next(_seq), 1000, payload)


def metrics(key_steps: Sequence[tuple[str, int, float]], ts: int = 1000) -> ev.MetricsLogged:
    keys = [k for k, _, _ in key_steps]
    return ev.metrics_from_rows(
        keys, [v for _, _, v in key_steps], [s for _, s, _ in key_steps], [ts] * len(keys)
    )


def records(
    events: Sequence[ev.RunEvent], partition: int = 0, start: int = 0, topic: str = "t"
) -> list[SourceRecord]:
    return [
        SourceRecord(topic, partition, start + i, e.kafka_key, b"v", event=e)
        for i, e in enumerate(events)
    ]


class FakeSource:
    """Partitions as lists of records; ``poll`` returns from each position."""

    def __init__(
        self, log: Mapping[int, Sequence[SourceRecord]], topic: str = "t", per_poll: int = 3
    ) -> None:
        self._log = {p: list(r) for p, r in log.items()}
        self._topic = topic
        self._per_poll = per_poll
        self.positions: dict[int, int] = {p: 0 for p in log}
        self.commits: list[dict[int, int]] = []
        self.paused: set[int] = set()

    @property
    def topic(self) -> str:
        return self._topic

    def poll(self, timeout_s: float) -> list[SourceRecord]:
        out: list[SourceRecord] = []
        for p, recs in self._log.items():
            if p in self.paused:
                continue
            batch = [r for r in recs if r.offset >= self.positions[p]][: self._per_poll]
            if batch:
                self.positions[p] = batch[-1].offset + 1
            out.extend(batch)
        return out

    def assignment(self) -> frozenset[int]:
        return frozenset(self._log)

    def seek(self, partition: int, offset: int) -> None:
        self.positions[partition] = offset

    def position(self, partition: int) -> int:
        return self.positions[partition]

    def committed(self, partition: int) -> int | None:
        found = [c[partition] for c in self.commits if partition in c]
        return found[-1] if found else None

    def commit(self, offsets: Mapping[int, int]) -> None:
        self.commits.append(dict(offsets))

    def end_offsets(self, partitions: Collection[int]) -> dict[int, int]:
        return {p: (self._log[p][-1].offset + 1 if self._log[p] else 0) for p in partitions}

    def beginning_offsets(self, partitions: Collection[int]) -> dict[int, int]:
        return {p: 0 for p in partitions}

    def pause(self, partitions: Collection[int]) -> None:
        self.paused |= set(partitions)

    def resume(self, partitions: Collection[int]) -> None:
        self.paused -= set(partitions)

    def close(self) -> None:
        pass


def _deleted(table: str, row: dict[str, Any], runs: set[str], experiments: set[str]) -> bool:
    if table == "audit_events" and row["event_type"] in TOMBSTONE_TYPES:
        return False
    return row.get("run_id") in runs or row.get("experiment_id") in experiments


def _expand(column: Any) -> list[Any]:
    if isinstance(column, DictColumn):
        return column.expand()
    return column.tolist() if isinstance(column, np.ndarray) else list(column)


@dataclass
class FakeStore:
    """In-memory tables with ClickHouse's token deduplication."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    tokens: set[str] = field(default_factory=set)
    intents: list[Intent] = field(default_factory=list)
    offsets: list[tuple[str, int, int]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # the order of writes
    fail_next: int = 0  # raise on the next n writes (of the kinds in fail_on)
    fail_with: Exception | None = None  # what to raise; default SinkUnavailable
    fail_on: tuple[str, ...] = ("insert", "intents", "offsets")

    def _maybe_fail(self, kind: str) -> None:
        if self.fail_next > 0 and kind in self.fail_on:
            self.fail_next -= 1
            raise self.fail_with or SinkUnavailable("fake outage")

    def write(self, batch: PartitionBatch) -> None:
        self._maybe_fail("insert")
        by_name = {t.table: t for t in batch.tables}
        for name in TABLE_ORDER:
            t = by_name.get(name)
            if t is None:
                continue
            token = batch.token(name)
            self.events.append(f"insert {token}")
            if token in self.tokens:
                continue
            self.tokens.add(token)
            columns = [_expand(c) for c in t.data]
            for values in zip(*columns, strict=True):
                self.rows[name].append(dict(zip(t.columns, values, strict=True)))
        if batch.purges:
            runs, experiments = split(batch.purges)
            self.events.append(f"purge runs={sorted(runs)} experiments={sorted(experiments)}")
            tables = [(n, list(rows[0])) for n, rows in self.rows.items() if rows]
            for d in deletions(tables, runs, experiments):
                self.rows[d.table] = [
                    r for r in self.rows[d.table] if not _deleted(d.table, r, runs, experiments)
                ]

    def load_purged(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for r in self.rows["purges"]:
            key = (r["kind"], r["id"])
            if key not in newest or r["offset"] >= newest[key]["offset"]:
                newest[key] = r
        return {k for k, r in newest.items() if not r["lifted"]} & set(keys)

    def read_progress(self, topic: str, partitions: Collection[int]) -> dict[int, Progress]:
        out = {}
        for p in partitions:
            nexts = [o for t, q, o in self.offsets if t == topic and q == p]
            intents = [i for i in self.intents if i.topic == topic and i.partition == p]
            out[p] = Progress(
                max(nexts) if nexts else None,
                max(intents, key=lambda i: i.end) if intents else None,
            )
        return out

    def write_intents(self, intents: Sequence[Intent]) -> None:
        self._maybe_fail("intents")
        self.events.append(f"intents {[(i.partition, i.first, i.end) for i in intents]}")
        self.intents.extend(intents)

    def write_offsets(self, topic: str, offsets: Mapping[int, int]) -> None:
        self._maybe_fail("offsets")
        self.events.append(f"offsets {dict(offsets)}")
        self.offsets.extend((topic, p, o) for p, o in offsets.items())

    def load_runs(self, run_ids: Collection[str]) -> dict[str, RunState]:
        best: dict[str, dict[str, Any]] = {}
        for row in self.rows["runs"]:
            if row["run_id"] in run_ids and (
                row["run_id"] not in best or row["version"] > best[row["run_id"]]["version"]
            ):
                best[row["run_id"]] = row
        return {k: RunState(**v) for k, v in best.items()}

    def load_params(self, run_ids: Collection[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {r: {} for r in run_ids}
        for row in self.rows["params"]:
            if row["run_id"] in out:
                out[row["run_id"]][row["key"]] = row["value"]
        return out

    def load_experiments(self, experiment_ids: Collection[str]) -> dict[str, ExperimentState]:
        best: dict[str, dict[str, Any]] = {}
        for row in self.rows["experiments"]:
            eid = row["experiment_id"]
            if eid in experiment_ids and (eid not in best or row["version"] > best[eid]["version"]):
                best[eid] = row
        return {k: ExperimentState(**v) for k, v in best.items()}

    def load_producers(
        self, topic: str, partition: int, producer_ids: Collection[str], before: int
    ) -> dict[str, int]:
        found: dict[str, int] = {}
        for row in self.rows["ingest_producers"]:
            if row["topic"] == topic and row["partition"] == partition and row["offset"] < before:
                pid = row["producer_id"]
                if pid in producer_ids:
                    found[pid] = max(row["seq"], found.get(pid, -1))
        return found

    # -- the model half: latest row per key among rows written before ``before`` -----------

    def _latest(self, table: str, key: Sequence[str], before: int) -> list[dict[str, Any]]:
        best: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in self.rows[table]:
            if row["version"] >= before:
                continue
            k = tuple(row[c] for c in key)
            if k not in best or row["version"] >= best[k]["version"]:
                best[k] = row
        return [r for r in best.values() if not r.get("is_deleted", 0)]

    def load_registry(self, names: Collection[str], before: int) -> dict[str, ModelState]:
        models = {
            r["name"]: {
                "name": r["name"],
                "creation_time": r["creation_time"],
                "last_updated_time": r["last_updated_time"],
                "description": r["description"],
                "max_version": r["max_version"],
                "tags": {},
                "aliases": {},
                "versions": {},
                "version_tags": {},
            }
            for r in self._latest("registered_models", ["name"], before)
            if r["name"] in names
        }
        for r in self._latest("registered_model_tags", ["name", "key"], before):
            if r["name"] in models:
                models[r["name"]]["tags"][r["key"]] = r["value"]
        for r in self._latest("registered_model_aliases", ["name", "alias"], before):
            if r["name"] in models:
                models[r["name"]]["aliases"][r["alias"]] = r["model_version"]
        for r in self._latest("model_versions", ["name", "model_version"], before):
            if r["name"] in models:
                fields = {k: v for k, v in r.items() if k not in ("version", "is_deleted")}
                fields["number"] = fields.pop("model_version")
                models[r["name"]]["versions"][fields["number"]] = VersionState(**fields)
        for r in self._latest("model_version_tags", ["name", "model_version", "key"], before):
            m = models.get(r["name"])
            if m is not None and r["model_version"] in m["versions"]:
                m["version_tags"].setdefault(r["model_version"], {})[r["key"]] = r["value"]
        return {name: ModelState(**fields) for name, fields in models.items()}

    def load_logged_models(
        self, model_ids: Collection[str], before: int
    ) -> dict[str, LoggedModelState]:
        return {
            r["model_id"]: LoggedModelState(**r)
            for r in self._latest("logged_models", ["model_id"], before)
            if r["model_id"] in model_ids
        }

    def close(self) -> None:
        pass


@dataclass
class FakeDeadLetters:
    sent: list[DeadLetter] = field(default_factory=list)

    def send(self, letters: Sequence[DeadLetter]) -> None:
        self.sent.extend(letters)

    def close(self) -> None:
        pass
