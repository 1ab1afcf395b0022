"""Typed run events: the Python side of ``avro/run_event.avsc``.

Every event has the same header (event id, run id, experiment id, producer id,
sequence number, client timestamp, principal) and one payload.  Metric points travel
columnar: one :class:`MetricsLogged` carries many points as packed arrays.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

import numpy as np
import numpy.typing as npt

from .contexts import Context
from .vocabulary import EXPERIMENT_KEY_PREFIX, LOGGED_MODEL_KEY_PREFIX, REGISTRY_KEY

# Points per MetricsLogged event are indexed by uint16 into ``keys``.
MAX_KEYS_PER_METRICS_EVENT = 65_535


@dataclass(frozen=True, slots=True)
class ExperimentCreated:
    name: str
    artifact_location: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExperimentRenamed:
    name: str


@dataclass(frozen=True, slots=True)
class ExperimentDeleted:
    pass


@dataclass(frozen=True, slots=True)
class ExperimentRestored:
    pass


@dataclass(frozen=True, slots=True)
class ExperimentTagSet:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunCreated:
    start_time: int
    run_name: str = ""
    user_id: str = ""
    status: str = "RUNNING"
    artifact_uri: str = ""
    parent_run_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunUpdated:
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


@dataclass(frozen=True, slots=True)
class RunDeleted:
    deleted_time: int = 0


@dataclass(frozen=True, slots=True)
class RunRestored:
    pass


@dataclass(frozen=True, slots=True)
class ParamsLogged:
    keys: tuple[str, ...]
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TagsSet:
    keys: tuple[str, ...]
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TagDeleted:
    key: str


@dataclass(frozen=True, slots=True, eq=False)
class MetricsLogged:
    """Many metric points in columns. ``key_index[i]`` indexes ``keys`` for point ``i``.

    Contexts (schema version 4): ``contexts`` is the table of the event's distinct point
    contexts and ``context_index[i]`` indexes it for point ``i``.  Without
    ``context_index`` every point has ``contexts[0]`` (the empty context when there is
    none): the common case of one process logging under one context."""

    keys: tuple[str, ...]
    key_index: npt.NDArray[np.uint16]
    values: npt.NDArray[np.float64]
    steps: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    contexts: tuple[Context, ...] = ()
    context_index: npt.NDArray[np.uint16] | None = None

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def context_codes(self) -> npt.NDArray[np.uint16]:
        """Per point, its index into :meth:`context_table`."""
        if self.context_index is not None:
            return self.context_index
        return np.zeros(len(self), dtype=np.uint16)

    def context_table(self) -> tuple[Context, ...]:
        """The contexts :meth:`context_codes` index (at least one: the empty context)."""
        return self.contexts or ((),)

    def key_column(self) -> list[str]:
        """The key of every point, as a list of strings."""
        lookup = np.asarray(self.keys, dtype=object)
        return list(lookup[self.key_index]) if len(self.keys) else []

    def same_points(self, other: MetricsLogged) -> bool:
        """Point-for-point equality (NaN equal to NaN)."""
        return (
            self.keys == other.keys
            and np.array_equal(self.key_index, other.key_index)
            and np.array_equal(self.values, other.values, equal_nan=True)
            and np.array_equal(self.steps, other.steps)
            and np.array_equal(self.timestamps, other.timestamps)
            and _same_contexts(self, other)
        )


def _same_contexts(a: MetricsLogged, b: MetricsLogged) -> bool:
    ta, tb = a.context_table(), b.context_table()
    return [ta[i] for i in a.context_codes().tolist()] == [
        tb[i] for i in b.context_codes().tolist()
    ]


@dataclass(frozen=True, slots=True)
class ExperimentTagDeleted:
    key: str


# -- the model registry (key: REGISTRY_KEY) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisteredModelCreated:
    name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegisteredModelRenamed:
    name: str
    new_name: str


@dataclass(frozen=True, slots=True)
class RegisteredModelUpdated:
    name: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RegisteredModelDeleted:
    name: str


@dataclass(frozen=True, slots=True)
class RegisteredModelTagSet:
    name: str
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RegisteredModelTagDeleted:
    name: str
    key: str


@dataclass(frozen=True, slots=True)
class RegisteredModelAliasSet:
    name: str
    alias: str
    version: int


@dataclass(frozen=True, slots=True)
class RegisteredModelAliasDeleted:
    name: str
    alias: str


@dataclass(frozen=True, slots=True)
class ModelVersionCreated:
    """A new version of a registered model.  Its number is assigned by ingest: the model's
    highest number so far plus one, in log order (``docs/ingest.md``)."""

    name: str
    source: str
    run_id: str = ""
    run_link: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    model_id: str = ""
    storage_location: str = ""
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class ModelVersionUpdated:
    name: str
    version: int
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ModelVersionStageTransitioned:
    name: str
    version: int
    stage: str
    archive_existing_versions: bool = False


@dataclass(frozen=True, slots=True)
class ModelVersionDeleted:
    name: str
    version: int


@dataclass(frozen=True, slots=True)
class ModelVersionTagSet:
    name: str
    version: int
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class ModelVersionTagDeleted:
    name: str
    version: int
    key: str


# -- logged models (key: LOGGED_MODEL_KEY_PREFIX + model id) ----------------------------------


@dataclass(frozen=True, slots=True)
class LoggedModelCreated:
    model_id: str
    name: str
    artifact_location: str
    source_run_id: str = ""
    model_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoggedModelFinalized:
    model_id: str
    status: str


@dataclass(frozen=True, slots=True)
class LoggedModelTagsSet:
    model_id: str
    tags: dict[str, str]


@dataclass(frozen=True, slots=True)
class LoggedModelTagDeleted:
    model_id: str
    key: str


@dataclass(frozen=True, slots=True)
class LoggedModelParamsLogged:
    model_id: str
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class LoggedModelDeleted:
    model_id: str


# -- a run's inputs and outputs (key: the run id) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset a run consumed, with the input's tags (e.g. ``mlflow.data.context``)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InputsLogged:
    NESTED: ClassVar[dict[str, type]] = {"datasets": DatasetInput}

    datasets: tuple[DatasetInput, ...] = ()
    model_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OutputsLogged:
    model_ids: tuple[str, ...]
    steps: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ModelMetricPoint:
    key: str
    value: float
    timestamp: int
    step: int
    model_id: str
    dataset_name: str = ""
    dataset_digest: str = ""


@dataclass(frozen=True, slots=True)
class ModelMetricsLogged:
    """Points of a run that name a logged model; they also travel in ``MetricsLogged``."""

    NESTED: ClassVar[dict[str, type]] = {"points": ModelMetricPoint}

    points: tuple[ModelMetricPoint, ...]


# -- permanent deletion (runstream gc): tombstones ------------------------------------------


@dataclass(frozen=True, slots=True)
class RunPurged:
    """The run is removed from every table; replay drops its earlier events (key: run id)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class ExperimentPurged:
    """The experiment and every row naming it are removed (key: ``experiment:<id>``)."""

    reason: str = ""


Payload: TypeAlias = (
    ExperimentCreated
    | ExperimentRenamed
    | ExperimentDeleted
    | ExperimentRestored
    | ExperimentTagSet
    | RunCreated
    | RunUpdated
    | RunDeleted
    | RunRestored
    | ParamsLogged
    | MetricsLogged
    | TagsSet
    | TagDeleted
    | ExperimentTagDeleted
    | RegisteredModelCreated
    | RegisteredModelRenamed
    | RegisteredModelUpdated
    | RegisteredModelDeleted
    | RegisteredModelTagSet
    | RegisteredModelTagDeleted
    | RegisteredModelAliasSet
    | RegisteredModelAliasDeleted
    | ModelVersionCreated
    | ModelVersionUpdated
    | ModelVersionStageTransitioned
    | ModelVersionDeleted
    | ModelVersionTagSet
    | ModelVersionTagDeleted
    | LoggedModelCreated
    | LoggedModelFinalized
    | LoggedModelTagsSet
    | LoggedModelTagDeleted
    | LoggedModelParamsLogged
    | LoggedModelDeleted
    | InputsLogged
    | OutputsLogged
    | ModelMetricsLogged
    | RunPurged
    | ExperimentPurged
)

PAYLOAD_TYPES: tuple[type, ...] = (
    ExperimentCreated,
    ExperimentRenamed,
    ExperimentDeleted,
    ExperimentRestored,
    ExperimentTagSet,
    RunCreated,
    RunUpdated,
    RunDeleted,
    RunRestored,
    ParamsLogged,
    MetricsLogged,
    TagsSet,
    TagDeleted,
    ExperimentTagDeleted,
    RegisteredModelCreated,
    RegisteredModelRenamed,
    RegisteredModelUpdated,
    RegisteredModelDeleted,
    RegisteredModelTagSet,
    RegisteredModelTagDeleted,
    RegisteredModelAliasSet,
    RegisteredModelAliasDeleted,
    ModelVersionCreated,
    ModelVersionUpdated,
    ModelVersionStageTransitioned,
    ModelVersionDeleted,
    ModelVersionTagSet,
    ModelVersionTagDeleted,
    LoggedModelCreated,
    LoggedModelFinalized,
    LoggedModelTagsSet,
    LoggedModelTagDeleted,
    LoggedModelParamsLogged,
    LoggedModelDeleted,
    InputsLogged,
    OutputsLogged,
    ModelMetricsLogged,
    RunPurged,
    ExperimentPurged,
)

EXPERIMENT_PAYLOADS: tuple[type, ...] = (*PAYLOAD_TYPES[:5], ExperimentTagDeleted)
REGISTRY_PAYLOADS: tuple[type, ...] = (
    RegisteredModelCreated,
    RegisteredModelRenamed,
    RegisteredModelUpdated,
    RegisteredModelDeleted,
    RegisteredModelTagSet,
    RegisteredModelTagDeleted,
    RegisteredModelAliasSet,
    RegisteredModelAliasDeleted,
    ModelVersionCreated,
    ModelVersionUpdated,
    ModelVersionStageTransitioned,
    ModelVersionDeleted,
    ModelVersionTagSet,
    ModelVersionTagDeleted,
)
# Tombstones: a RunPurged travels under its run's key, an ExperimentPurged under its
# experiment's (it has no run id).
PURGE_PAYLOADS: tuple[type, ...] = (RunPurged, ExperimentPurged)
LOGGED_MODEL_PAYLOADS: tuple[type, ...] = (
    LoggedModelCreated,
    LoggedModelFinalized,
    LoggedModelTagsSet,
    LoggedModelTagDeleted,
    LoggedModelParamsLogged,
    LoggedModelDeleted,
)


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One event on the topic: a header and one payload."""

    event_id: str
    run_id: str
    experiment_id: str
    producer_id: str
    seq: int
    client_ts: int
    payload: Payload
    # Who wrote it: the gateway stamps the caller's authenticated principal; events written
    # straight to Kafka by the SDK carry "" (Kafka's own ACLs guard that path).
    principal: str = ""

    @property
    def kafka_key(self) -> bytes:
        """The partitioning key: the run id; ``experiment:<id>`` for experiment events;
        ``model-registry`` for every registry event; ``logged-model:<id>`` for a logged
        model's events."""
        payload = self.payload
        if isinstance(payload, REGISTRY_PAYLOADS):
            return REGISTRY_KEY.encode()
        if isinstance(payload, LOGGED_MODEL_PAYLOADS):
            return f"{LOGGED_MODEL_KEY_PREFIX}{payload.model_id}".encode()  # type: ignore[union-attr]
        if isinstance(payload, EXPERIMENT_PAYLOADS) or not self.run_id:
            return f"{EXPERIMENT_KEY_PREFIX}{self.experiment_id}".encode()
        return self.run_id.encode()


def new_event_id() -> str:
    return uuid.uuid4().hex


def metrics_from_rows(
    keys: list[str], values: list[float], steps: list[int], timestamps: list[int]
) -> MetricsLogged:
    """Build a columnar event from per-point lists (the key of each point)."""
    index: dict[str, int] = {}
    positions = [index.setdefault(k, len(index)) for k in keys]
    if len(index) > MAX_KEYS_PER_METRICS_EVENT:
        raise ValueError(f"at most {MAX_KEYS_PER_METRICS_EVENT} distinct keys per metrics event")
    key_index = np.asarray(positions, dtype=np.uint16)
    return MetricsLogged(
        keys=tuple(index),
        key_index=key_index,
        values=np.asarray(values, dtype=np.float64),
        steps=np.asarray(steps, dtype=np.int64),
        timestamps=np.asarray(timestamps, dtype=np.int64),
    )
