"""Permanent deletion: what a tombstone (``RunPurged``, ``ExperimentPurged``) removes.

A tombstone is an event like any other: it travels under its entity's key, so a run's
tombstone follows every event of that run in its partition.  The projection records it
(a row in ``purges``), drops every later event of the purged run (or the experiment's own
later events, until an ``ExperimentCreated`` under the same id, its name, lifts the
purge), and the sink deletes every row of the purged ids from every table, after the
batch's inserts (so rows of the same batch go too).  A replay walks the same log, so it
deletes the same rows when it meets the tombstone, and at its end deletes once more the
rows of every id ``purges`` still lists as purged (a logged model of a purged experiment
whose partition was read after the tombstone).  ``docs/ingest.md``, "Permanent
deletion".

The tables are found by their columns (every MergeTree table of the database with a
``run_id`` or ``experiment_id`` column), so a table added by a later migration is purged
without a change here.  Kept: ``purges`` itself (ids only), the model registry (a model
version keeps the id of the run it came from, as in MLflow) and the tombstones' own
``audit_events`` rows (who purged what, when).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

RUN = "run"
EXPERIMENT = "experiment"

PURGE_COLUMNS = (
    "kind", "id", "experiment_id", "topic", "partition", "offset", "purged_time",
    "principal", "reason", "lifted",
)  # fmt: skip

# Tables a purge leaves alone (see the module docstring).
KEPT_TABLES = frozenset(
    {
        "purges",
        "registered_models",
        "registered_model_tags",
        "registered_model_aliases",
        "model_versions",
        "model_version_tags",
        "write_outcomes",
    }
)
TOMBSTONE_TYPES = ("RunPurged", "ExperimentPurged")

# Every MergeTree table of the current database with the columns a purge matches on.
PURGEABLE_TABLES_SQL = (
    "SELECT c.table, groupArray(c.name) FROM system.columns AS c "
    "WHERE c.database = currentDatabase() AND c.name IN ('run_id', 'experiment_id') "
    "AND c.table IN (SELECT name FROM system.tables WHERE database = currentDatabase() "
    "AND engine LIKE '%MergeTree') "
    "GROUP BY c.table ORDER BY c.table"
)


@dataclass(frozen=True, slots=True)
class Purge:
    """One applied tombstone: a ``purges`` row."""

    kind: str  # RUN or EXPERIMENT
    id: str
    experiment_id: str
    topic: str
    partition: int
    offset: int
    purged_time: int
    principal: str
    reason: str
    lifted: int = 0  # 1: an experiment created again under the purged id (its name)

    def row(self) -> tuple[object, ...]:
        return (
            self.kind, self.id, self.experiment_id, self.topic, self.partition, self.offset,
            self.purged_time, self.principal, self.reason, self.lifted,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Deletion:
    """One ``ALTER TABLE ... DELETE`` of a purge, with its query parameters."""

    table: str
    where: str
    parameters: Mapping[str, list[str]]

    def sql(self) -> str:
        return f"ALTER TABLE `{self.table}` DELETE WHERE {self.where} SETTINGS mutations_sync = 2"


def deletions(
    tables: Iterable[tuple[str, Collection[str]]],
    runs: Collection[str],
    experiments: Collection[str],
) -> list[Deletion]:
    """The deletions that remove every row of ``runs`` and ``experiments`` from ``tables``
    (name, columns), as :data:`PURGEABLE_TABLES_SQL` lists them.

    A run's rows go by ``run_id``.  An experiment's by ``experiment_id`` where no run owns
    the row (tables without ``run_id``, or rows with ``run_id = ''``): rows of its runs go
    with their own tombstones, which sit in the runs' partitions in order, so a replay that
    reads another partition first never deletes a run of a later experiment of the same
    name (experiment ids come from names)."""
    out: list[Deletion] = []
    for table, columns in tables:
        if table in KEPT_TABLES:
            continue
        terms: list[str] = []
        parameters: dict[str, list[str]] = {}
        if runs and "run_id" in columns:
            terms.append("run_id IN {runs:Array(String)}")
            parameters["runs"] = sorted(runs)
        if experiments and "experiment_id" in columns:
            unowned = " AND run_id = ''" if "run_id" in columns else ""
            terms.append(f"(experiment_id IN {{experiments:Array(String)}}{unowned})")
            parameters["experiments"] = sorted(experiments)
        if not terms:
            continue
        where = " OR ".join(terms)
        if table == "audit_events":
            kept = ", ".join(f"'{t}'" for t in TOMBSTONE_TYPES)
            where = f"({where}) AND event_type NOT IN ({kept})"
        out.append(Deletion(table, where, parameters))
    return out


def split(purges: Iterable[Purge]) -> tuple[set[str], set[str]]:
    """The run ids and experiment ids of ``purges`` (lifted ones left out)."""
    runs: set[str] = set()
    experiments: set[str] = set()
    for p in purges:
        if not p.lifted:
            (runs if p.kind == RUN else experiments).add(p.id)
    return runs, experiments
