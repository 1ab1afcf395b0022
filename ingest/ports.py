"""The ports the worker talks to.  Adapters: ``kafka_source``, ``kafka_dead_letters``,
``clickhouse_sink``.  Unit tests may plug fakes in here; nothing else does.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from .batch import Intent, PartitionBatch, Progress
from .model_reads import ModelStateStore
from .records import DeadLetter, SourceRecord
from .state import ExperimentState, RunState

# Called by a source when the group hands partitions over (inside ``poll``).
AssignmentCallback = Callable[[frozenset[int]], None]


class Source(Protocol):
    """Records of one topic, in offset order per partition.

    Every method raises ``SourceError`` (and nothing else) when the broker fails."""

    @property
    def topic(self) -> str: ...

    def poll(self, timeout_s: float) -> list[SourceRecord]:
        """Records fetched so far (may be empty); rebalance callbacks run in here."""
        ...

    def assignment(self) -> frozenset[int]: ...

    def seek(self, partition: int, offset: int) -> None: ...

    def position(self, partition: int) -> int | None:
        """The offset of the next record the source will return for ``partition``
        (None while unknown)."""
        ...

    def committed(self, partition: int) -> int | None: ...

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Record ``partition -> next offset`` in the consumer group (no-op without one)."""
        ...

    def end_offsets(self, partitions: Collection[int]) -> dict[int, int]: ...

    def beginning_offsets(self, partitions: Collection[int]) -> dict[int, int]: ...

    def pause(self, partitions: Collection[int]) -> None: ...

    def resume(self, partitions: Collection[int]) -> None: ...

    def close(self) -> None: ...


class DeadLetterSink(Protocol):
    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Deliver and wait for acknowledgement; raises ``DeadLetterError``."""
        ...

    def close(self) -> None: ...


class Sink(Protocol):
    """Writes partition batches: one insert per table, each with the batch's token.

    Raises ``SinkUnavailable`` or ``SinkBackpressure`` when a retry may succeed.
    """

    def write(self, batch: PartitionBatch) -> None:
        """Then, when the batch applied tombstones, delete every row of what they purged."""
        ...


class ProgressStore(Protocol):
    """Batch intents and applied offsets, kept beside the tables they describe."""

    def read_progress(self, topic: str, partitions: Collection[int]) -> dict[int, Progress]: ...

    def write_intents(self, intents: Sequence[Intent]) -> None: ...

    def write_offsets(self, topic: str, offsets: Mapping[int, int]) -> None:
        """Record ``partition -> next offset to apply``."""
        ...


class StateStore(Protocol):
    """Current entity states, read when the worker's cache lacks them."""

    def load_runs(self, run_ids: Collection[str]) -> dict[str, RunState]: ...

    def load_params(self, run_ids: Collection[str]) -> dict[str, dict[str, str]]: ...

    def load_experiments(self, experiment_ids: Collection[str]) -> dict[str, ExperimentState]: ...

    def load_purged(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of ``keys`` ((kind, id): ``run`` or ``experiment``) a tombstone purged."""
        ...

    def load_producers(
        self, topic: str, partition: int, producer_ids: Collection[str], before: int
    ) -> dict[str, int]:
        """The last seq applied per producer in one partition by events below offset
        ``before`` (absent: none known), so a rebuilt batch sees what its first attempt
        saw."""
        ...


class Store(Sink, ProgressStore, StateStore, ModelStateStore, Protocol):
    """All ClickHouse-side ports, as one adapter provides them."""

    def close(self) -> None: ...


class AppliedListener(Protocol):
    """Who hears, in process, what ingest polls and applies (``runstream up`` passes its
    query service's :class:`~runstream.proto.applied.AppliedFeed`)."""

    def hold(self, records: Sequence[SourceRecord]) -> None:
        """Records just polled, which ingest will apply (called from the polling loop)."""

    def publish(self, offsets: Mapping[int, int]) -> None:
        """Everything below ``offsets[p]`` is applied (called from the writer thread)."""

    def release(self, partitions: Collection[int]) -> None:
        """These partitions were revoked: what was held of them is not ours to apply."""
