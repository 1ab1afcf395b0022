"""State of the model half that the projection merges events into: registered models
(with their versions, tags and aliases) and logged models, and the worker's caches of it.

A registered model's state is everything needed to apply any registry event to it: the
next version number (``max_version + 1``), every live version with its tags, the model's
tags and aliases (a delete or a rename rewrites all of their rows).  States are read from
the tables *as of a batch's first offset* (rows with ``version < first`` only), so a batch
always sees the same state, however much of an earlier attempt of it reached the tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class VersionState:
    name: str
    number: int
    creation_time: int
    last_updated_time: int
    description: str | None
    user_id: str
    current_stage: str
    source: str
    storage_location: str
    run_id: str
    run_link: str | None
    status: str
    status_message: str
    model_id: str
    event_id: str

    def row(self, offset: int, deleted: bool = False) -> tuple[object, ...]:
        """Values in the column order of :data:`MODEL_VERSION_COLUMNS`."""
        return (
            self.name, self.number, self.creation_time, self.last_updated_time,
            self.description, self.user_id, self.current_stage, self.source,
            self.storage_location, self.run_id, self.run_link, self.status,
            self.status_message, self.model_id, self.event_id, offset, int(deleted),
        )  # fmt: skip


MODEL_VERSION_COLUMNS: tuple[str, ...] = (
    "name", "model_version", "creation_time", "last_updated_time", "description", "user_id",
    "current_stage", "source", "storage_location", "run_id", "run_link", "status",
    "status_message", "model_id", "event_id", "version", "is_deleted",
)  # fmt: skip
# The same columns as read back into a VersionState (without version and is_deleted).
VERSION_STATE_COLUMNS: tuple[str, ...] = MODEL_VERSION_COLUMNS[:-2]


@dataclass(frozen=True, slots=True)
class ModelState:
    """One registered model, as of some offset.  Immutable: the projector replaces it."""

    name: str
    creation_time: int
    last_updated_time: int
    description: str | None
    max_version: int
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, int] = field(default_factory=dict)
    versions: Mapping[int, VersionState] = field(default_factory=dict)
    version_tags: Mapping[int, Mapping[str, str]] = field(default_factory=dict)

    def row(self, offset: int, deleted: bool = False) -> tuple[object, ...]:
        return (
            self.name, self.creation_time, self.last_updated_time, self.description,
            self.max_version, offset, int(deleted),
        )  # fmt: skip

    def renamed(self, new_name: str, when: int) -> ModelState:
        versions = {
            n: replace(v, name=new_name, last_updated_time=when) for n, v in self.versions.items()
        }
        return replace(self, name=new_name, last_updated_time=when, versions=versions)


REGISTERED_MODEL_COLUMNS: tuple[str, ...] = (
    "name", "creation_time", "last_updated_time", "description", "max_version", "version",
    "is_deleted",
)  # fmt: skip
REGISTERED_MODEL_TAG_COLUMNS = ("name", "key", "value", "version", "is_deleted")
REGISTERED_MODEL_ALIAS_COLUMNS = ("name", "alias", "model_version", "version", "is_deleted")
MODEL_VERSION_TAG_COLUMNS = ("name", "model_version", "key", "value", "version", "is_deleted")
WRITE_OUTCOME_COLUMNS = ("event_id", "offset", "error_code", "message", "name", "model_version")


@dataclass(frozen=True, slots=True)
class LoggedModelState:
    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: str
    status_message: str
    lifecycle_stage: str
    model_type: str | None
    source_run_id: str
    version: int

    def row(self) -> tuple[object, ...]:
        return (
            self.model_id, self.experiment_id, self.name, self.artifact_location,
            self.creation_timestamp, self.last_updated_timestamp, self.status,
            self.status_message, self.lifecycle_stage, self.model_type, self.source_run_id,
            self.version,
        )  # fmt: skip


LOGGED_MODEL_COLUMNS: tuple[str, ...] = (
    "model_id", "experiment_id", "name", "artifact_location", "creation_timestamp",
    "last_updated_timestamp", "status", "status_message", "lifecycle_stage", "model_type",
    "source_run_id", "version",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ModelDelta:
    """What a batch changed in the model half; merged into the cache once written.
    ``registry`` maps a name to its state, or to None for a name that is free now."""

    registry: Mapping[str, ModelState | None] = field(default_factory=dict)
    logged_models: Mapping[str, LoggedModelState] = field(default_factory=dict)


class ModelCache:
    """The model half's states of one partition.  Registered models are few and live in
    one partition: they stay cached (a free name is cached as None).  Logged models are
    kept up to ``max_logged_models`` (oldest first out)."""

    def __init__(self, max_logged_models: int = 100_000) -> None:
        self.registry: dict[str, ModelState | None] = {}
        self.logged_models: dict[str, LoggedModelState] = {}
        self._max_logged = max_logged_models

    def missing_names(self, names: Iterable[str]) -> set[str]:
        return {n for n in names if n not in self.registry}

    def missing_logged_models(self, ids: Iterable[str]) -> set[str]:
        return {m for m in ids if m not in self.logged_models}

    def apply(self, delta: ModelDelta) -> None:
        self.registry.update(delta.registry)
        self.logged_models.update(delta.logged_models)
        while len(self.logged_models) > self._max_logged:
            self.logged_models.pop(next(iter(self.logged_models)))
