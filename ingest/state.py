"""Entity state the projection merges events into, and the worker's cache of it.

A run's or an experiment's row in ClickHouse holds its full state and the Kafka offset
of the last event applied (``version``).  The worker keeps recent states in memory, per
partition (every event of a run or experiment lands in one partition), and reads the
rest from the tables before projecting a batch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .model_state import ModelCache, ModelDelta


@dataclass(frozen=True, slots=True)
class RunState:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str
    parent_run_id: str
    deleted_time: int | None
    version: int
    created_by: str = ""  # principal of the RunCreated event

    def row(self) -> tuple[object, ...]:
        """Values in the column order of :data:`RUN_COLUMNS`."""
        return (
            self.run_id, self.experiment_id, self.run_name, self.user_id, self.status,
            self.start_time, self.end_time, self.artifact_uri, self.lifecycle_stage,
            self.parent_run_id, self.deleted_time, self.version, self.created_by,
        )  # fmt: skip


RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "experiment_id", "run_name", "user_id", "status", "start_time", "end_time",
    "artifact_uri", "lifecycle_stage", "parent_run_id", "deleted_time", "version",
    "created_by",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExperimentState:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    version: int
    created_by: str = ""  # principal of the ExperimentCreated event

    def row(self) -> tuple[object, ...]:
        return (
            self.experiment_id, self.name, self.artifact_location, self.lifecycle_stage,
            self.creation_time, self.last_update_time, self.version, self.created_by,
        )  # fmt: skip


EXPERIMENT_COLUMNS: tuple[str, ...] = (
    "experiment_id", "name", "artifact_location", "lifecycle_stage", "creation_time",
    "last_update_time", "version", "created_by",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StateDelta:
    """The states a batch changed; merged into the cache once the batch is written."""

    runs: Mapping[str, RunState]
    params: Mapping[str, Mapping[str, str]]  # run id -> params added by the batch
    experiments: Mapping[str, ExperimentState]
    producers: Mapping[str, int] = field(default_factory=dict)  # producer id -> last seq
    models: ModelDelta = field(default_factory=ModelDelta)  # registry, logged models
    # (kind, id) -> purged (False: an experiment created again under a purged id)
    purged: Mapping[tuple[str, str], bool] = field(default_factory=dict)


class PartitionState:
    """Cached states of one partition's runs and experiments (LRU over runs).

    ``params`` holds every param of a cached run; a run that is evicted loses its
    params too, and both are read again from the tables when needed.
    """

    def __init__(self, max_runs: int) -> None:
        self._max_runs = max_runs
        self._runs: OrderedDict[str, RunState] = OrderedDict()
        self._params: dict[str, dict[str, str]] = {}
        self.experiments: dict[str, ExperimentState] = {}
        # producer id -> last seq applied in this partition (-1: none); LRU, as runs
        self._producers: OrderedDict[str, int] = OrderedDict()
        self.models = ModelCache(max_runs)
        # (kind, id) -> purged?  Filled for the ids a batch names (runs not found, every
        # experiment); negative answers are forgotten when any partition applies a purge.
        self._purged: dict[tuple[str, str], bool] = {}

    def __len__(self) -> int:
        return len(self._runs)

    def run(self, run_id: str) -> RunState | None:
        state = self._runs.get(run_id)
        if state is not None:
            self._runs.move_to_end(run_id)
        return state

    def params(self, run_id: str) -> Mapping[str, str]:
        return self._params.get(run_id, {})

    def has_params(self, run_id: str) -> bool:
        return run_id in self._params

    def missing_runs(self, run_ids: Iterable[str]) -> set[str]:
        return {r for r in run_ids if r not in self._runs}

    def missing_params(self, run_ids: Iterable[str]) -> set[str]:
        return {r for r in run_ids if r in self._runs and r not in self._params}

    def missing_experiments(self, ids: Iterable[str]) -> set[str]:
        return {e for e in ids if e not in self.experiments}

    def missing_producers(self, ids: Iterable[str]) -> set[str]:
        return {p for p in ids if p not in self._producers}

    def last_seq(self, producer_id: str) -> int:
        """The last seq applied from ``producer_id`` here (-1: none, or not loaded)."""
        return self._producers.get(producer_id, -1)

    def is_purged(self, kind: str, entity_id: str) -> bool:
        return self._purged.get((kind, entity_id), False)

    def missing_purge_checks(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        return {k for k in keys if k not in self._purged}

    def put_purge_checks(
        self, checked: Iterable[tuple[str, str]], purged: Iterable[tuple[str, str]]
    ) -> None:
        for key in checked:
            self._purged.setdefault(key, False)
        for key in purged:
            self._purged[key] = True

    def forget_unpurged(self) -> None:
        """Another partition applied a purge: ask the table again about the others."""
        self._purged = {k: v for k, v in self._purged.items() if v}

    def put_producers(self, producers: Mapping[str, int]) -> None:
        for producer_id, seq in producers.items():
            self._producers[producer_id] = max(seq, self._producers.get(producer_id, -1))
            self._producers.move_to_end(producer_id)

    def put_runs(self, runs: Mapping[str, RunState]) -> None:
        """Add or replace states.  Never evicts: a batch's states stay until :meth:`trim`."""
        for run_id, state in runs.items():
            self._runs[run_id] = state
            self._runs.move_to_end(run_id)

    def trim(self) -> None:
        """Evict the least recently used runs (and their params) beyond the limit."""
        while len(self._runs) > self._max_runs:
            evicted, _ = self._runs.popitem(last=False)
            self._params.pop(evicted, None)
        while len(self._producers) > self._max_runs:
            self._producers.popitem(last=False)

    def put_params(self, params: Mapping[str, Mapping[str, str]]) -> None:
        for run_id, values in params.items():
            if run_id in self._runs:
                self._params.setdefault(run_id, {}).update(values)

    def apply(self, delta: StateDelta) -> None:
        self.put_runs(delta.runs)
        self.put_params(delta.params)
        self.experiments.update(delta.experiments)
        self.put_producers(delta.producers)
        self.models.apply(delta.models)
        for (kind, entity_id), purged in delta.purged.items():
            self._purged[(kind, entity_id)] = purged
            if not purged:
                continue
            if kind == "run":
                self._runs.pop(entity_id, None)
                self._params.pop(entity_id, None)
            else:
                self.experiments.pop(entity_id, None)
        self.trim()
