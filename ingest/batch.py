"""A partition batch: the rows one range of offsets [first, end) of one partition makes.

Batches are deterministic: the same range of the log always yields the same rows and the
same insert deduplication tokens, so rebuilding a batch after a crash is harmless
(``docs/ingest.md``, "Exactly once").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .purge import Purge
from .records import DeadLetter
from .state import StateDelta

# Write order inside one batch.  ``runs`` comes last and ``params`` before it: when a
# rebuilt batch finds run rows of its own first attempt, every other table of that
# attempt is already written (and the rebuilt inserts are dropped by their tokens).
# ``audit_events`` precedes ``experiments`` and ``runs``: a rebuilt batch skips the events
# whose entity rows it finds, and their audit rows must already be there.
TABLE_ORDER: tuple[str, ...] = (
    "metrics",
    "latest_metrics",
    "latest_context_metrics",  # 0008_point_contexts.sql
    "params",
    "tags",
    # the model half (0006_models.sql); write_outcomes after the registry tables it reports on
    "logged_model_metrics",
    "run_inputs",
    "run_model_links",
    "logged_model_params",
    "logged_model_tags",
    "logged_models",
    "registered_model_tags",
    "registered_model_aliases",
    "model_version_tags",
    "model_versions",
    "registered_models",
    "write_outcomes",
    "experiment_tags",
    "purges",  # tombstones (0011_purges.sql); the sink's deletions follow every insert
    "audit_events",
    "experiments",
    "runs",
    "ingest_producers",
)


@dataclass(frozen=True, slots=True, eq=False)
class DictColumn:
    """A string column as integer codes into a dictionary: cheap to build and to insert
    (the sink sends it as an Arrow dictionary array)."""

    codes: npt.NDArray[np.int32]
    dictionary: Sequence[str]

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def expand(self) -> list[str]:
        lookup = np.asarray(self.dictionary, dtype=object)
        return list(lookup[self.codes]) if len(self.dictionary) else []


@dataclass(frozen=True, slots=True)
class TableData:
    """Column-oriented rows for one insert."""

    table: str
    columns: tuple[str, ...]
    data: Sequence[Any]  # per column: a list, a numpy array or a DictColumn
    rows: int


@dataclass(frozen=True, slots=True)
class Intent:
    """A batch about to be written: offsets [first, end) of one partition."""

    topic: str
    partition: int
    first: int
    end: int


@dataclass(frozen=True, slots=True)
class Progress:
    """What a database knows about a partition: applied offsets and the last intent."""

    next_offset: int | None
    intent: Intent | None

    @property
    def incomplete(self) -> Intent | None:
        """The last intent if its batch may be partly written, else None."""
        if self.intent is None:
            return None
        if self.next_offset is not None and self.next_offset >= self.intent.end:
            return None
        return self.intent


@dataclass(frozen=True, slots=True)
class PartitionBatch:
    topic: str
    partition: int
    first: int
    end: int
    tables: tuple[TableData, ...]
    dead_letters: tuple[DeadLetter, ...] = ()
    events: int = 0
    points: int = 0
    skipped: int = 0  # events already applied (offset at or below the entity's version)
    duplicates: int = 0  # resent events: seq at or below their producer's last applied
    purged: int = 0  # events of a purged run or experiment, dropped
    purges: tuple[Purge, ...] = ()  # tombstones applied: the sink deletes their rows
    state: StateDelta = field(default_factory=lambda: StateDelta({}, {}, {}))

    @property
    def intent(self) -> Intent:
        return Intent(self.topic, self.partition, self.first, self.end)

    def token(self, table: str) -> str:
        """The insert deduplication token of this batch's insert into ``table``."""
        return f"{self.topic}:{self.partition}:{self.first}:{self.end}:{table}"

    def table(self, name: str) -> TableData | None:
        for t in self.tables:
            if t.table == name:
                return t
        return None
