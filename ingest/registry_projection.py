"""The model registry's projection: registry events -> rows and outcomes.  Pure: no I/O.

Every registry event sits in one partition (Kafka key ``model-registry``), so this runs
over them in log order with the registry's state as of the batch's first offset.  It
decides what MLflow's registry store decides inside a transaction — is the name free, does
the version exist, which number comes next — and records the outcome of every event in
``write_outcomes`` (by event id): applied, or refused with MLflow's error code and
message.  A refused event changes nothing else.  A writer that waited for its write token
reads its outcome back; that is how concurrent creators of versions of one model each
learn their own number (``docs/ingest.md``, "The model registry").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from runstream.proto import events as ev
from runstream.proto.vocabulary import (
    ACTIVE_MODEL_VERSION_STAGES,
    MODEL_VERSION_READY,
    MODEL_VERSION_STAGES,
    STAGE_ARCHIVED,
    STAGE_NONE,
    canonical_stage,
    is_reserved_alias,
)

from .batch import TableData
from .model_state import (
    MODEL_VERSION_COLUMNS,
    MODEL_VERSION_TAG_COLUMNS,
    REGISTERED_MODEL_ALIAS_COLUMNS,
    REGISTERED_MODEL_COLUMNS,
    REGISTERED_MODEL_TAG_COLUMNS,
    WRITE_OUTCOME_COLUMNS,
    ModelCache,
    ModelState,
    VersionState,
)

# Outcome codes: the names of runstream.v1.ErrorCode (= MLflow's names for these cases).
INVALID = "INVALID_PARAMETER_VALUE"
NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
EXISTS = "RESOURCE_ALREADY_EXISTS"
PROMPT_TAG = "mlflow.prompt.is_prompt"


_VersionEvent = (
    ev.ModelVersionUpdated
    | ev.ModelVersionStageTransitioned
    | ev.ModelVersionDeleted
    | ev.ModelVersionTagSet
    | ev.ModelVersionTagDeleted
)
_VERSION_EVENTS = (
    ev.ModelVersionUpdated,
    ev.ModelVersionStageTransitioned,
    ev.ModelVersionDeleted,
    ev.ModelVersionTagSet,
    ev.ModelVersionTagDeleted,
)


class _Outcome(Exception):
    """A registry event refused: nothing of it is applied."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _model_missing(name: str) -> _Outcome:
    return _Outcome(NOT_FOUND, f"Registered Model with name={name} not found")


def _version_missing(name: str, number: int) -> _Outcome:
    return _Outcome(NOT_FOUND, f"Model Version (name={name}, version={number}) not found")


def _check_name(name: str, field: str = "name") -> None:
    if not name or not name.strip():
        raise _Outcome(
            INVALID,
            f"Missing value for required parameter '{field}'. See the API docs for more "
            "information about request parameters.",
        )
    if "/" in name or ":" in name:
        raise _Outcome(INVALID, f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")


class RegistryProjector:
    """Applies one batch's registry events; :meth:`tables` and :meth:`delta` give the
    result.  ``cache`` must hold (or know to be free) every name the events mention."""

    def __init__(self, cache: ModelCache) -> None:
        self._cache = cache
        self._changed: dict[str, ModelState | None] = {}
        self._models: dict[str, tuple[object, ...]] = {}
        self._tags: dict[tuple[str, str], tuple[object, ...]] = {}
        self._aliases: dict[tuple[str, str], tuple[object, ...]] = {}
        self._versions: dict[tuple[str, int], tuple[object, ...]] = {}
        self._version_tags: dict[tuple[str, int, str], tuple[object, ...]] = {}
        self._outcomes: list[tuple[object, ...]] = []
        self.events = 0
        self.last_outcome = ""  # the code of the last event's refusal ("" when applied)

    # -- state ---------------------------------------------------------------------------

    def _get(self, name: str) -> ModelState | None:
        if name in self._changed:
            return self._changed[name]
        return self._cache.registry.get(name)

    def _model(self, name: str) -> ModelState:
        _check_name(name)
        model = self._get(name)
        if model is None:
            raise _model_missing(name)
        return model

    def _version(self, name: str, number: int) -> tuple[ModelState, VersionState]:
        model = self._model(name)
        version = model.versions.get(number)
        if version is None:
            raise _version_missing(name, number)
        return model, version

    # -- rows ----------------------------------------------------------------------------

    def _put(self, model: ModelState, offset: int) -> None:
        """The model's own row (not its parts)."""
        self._changed[model.name] = model
        self._models[model.name] = model.row(offset)

    def _put_version(self, version: VersionState, offset: int) -> None:
        self._versions[(version.name, version.number)] = version.row(offset)

    def _write_all(self, model: ModelState, offset: int) -> None:
        self._put(model, offset)
        for key, value in model.tags.items():
            self._tags[(model.name, key)] = (model.name, key, value, offset, 0)
        for alias, number in model.aliases.items():
            self._aliases[(model.name, alias)] = (model.name, alias, number, offset, 0)
        for version in model.versions.values():
            self._put_version(version, offset)
        for number, tags in model.version_tags.items():
            for key, value in tags.items():
                self._version_tags[(model.name, number, key)] = (
                    model.name, number, key, value, offset, 0,
                )  # fmt: skip

    def _delete_all(self, model: ModelState, offset: int) -> None:
        name = model.name
        self._changed[name] = None
        self._models[name] = model.row(offset, deleted=True)
        for key in model.tags:
            self._tags[(name, key)] = (name, key, "", offset, 1)
        for alias, number in model.aliases.items():
            self._aliases[(name, alias)] = (name, alias, number, offset, 1)
        for version in model.versions.values():
            self._versions[(name, version.number)] = version.row(offset, deleted=True)
        for number, tags in model.version_tags.items():
            for key in tags:
                self._version_tags[(name, number, key)] = (name, number, key, "", offset, 1)

    # -- events --------------------------------------------------------------------------

    def apply(self, offset: int, event: ev.RunEvent) -> None:
        """Apply one registry event (or refuse it); its outcome is recorded either way."""
        self.events += 1
        p = event.payload
        name = getattr(p, "name", "")
        try:
            name, number = self._dispatch(offset, event)
            self._outcomes.append((event.event_id, offset, "", "", name, number))
            self.last_outcome = ""
        except _Outcome as refused:
            number = int(getattr(p, "version", 0) or 0)
            self._outcomes.append(
                (event.event_id, offset, refused.code, refused.message, name, number)
            )
            self.last_outcome = refused.code

    def _dispatch(self, offset: int, event: ev.RunEvent) -> tuple[str, int]:
        """Returns the (model name, version number) the event was about."""
        p, ts = event.payload, event.client_ts
        if isinstance(p, ev.RegisteredModelCreated):
            return self._create_model(offset, ts, p), 0
        if isinstance(p, ev.RegisteredModelRenamed):
            return self._rename(offset, ts, p), 0
        if isinstance(p, ev.ModelVersionCreated):
            return p.name, self._create_version(offset, event, p)
        if isinstance(p, ev.RegisteredModelUpdated):
            model = self._model(p.name)
            self._put(replace(model, description=p.description, last_updated_time=ts), offset)
        elif isinstance(p, ev.RegisteredModelDeleted):
            self._delete_all(self._model(p.name), offset)
        elif isinstance(p, ev.RegisteredModelTagSet):
            model = self._model(p.name)
            self._check_key(p.key)
            tags = {**model.tags, p.key: p.value}
            self._changed[p.name] = replace(model, tags=tags)
            self._tags[(p.name, p.key)] = (p.name, p.key, p.value, offset, 0)
        elif isinstance(p, ev.RegisteredModelTagDeleted):
            model = self._model(p.name)
            if p.key in model.tags:
                tags = {k: v for k, v in model.tags.items() if k != p.key}
                self._changed[p.name] = replace(model, tags=tags)
                self._tags[(p.name, p.key)] = (p.name, p.key, "", offset, 1)
        elif isinstance(p, ev.RegisteredModelAliasSet):
            self._set_alias(offset, p)
            return p.name, p.version
        elif isinstance(p, ev.RegisteredModelAliasDeleted):
            model = self._model(p.name)
            if p.alias in model.aliases:
                number = model.aliases[p.alias]
                aliases = {a: n for a, n in model.aliases.items() if a != p.alias}
                self._changed[p.name] = replace(model, aliases=aliases)
                self._aliases[(p.name, p.alias)] = (p.name, p.alias, number, offset, 1)
        elif isinstance(p, _VERSION_EVENTS):
            return p.name, self._version_event(offset, ts, p)
        else:
            raise _Outcome(INVALID, f"not a registry event: {type(p).__name__}")
        return p.name, 0

    @staticmethod
    def _check_key(key: str) -> None:
        if not key:
            raise _Outcome(INVALID, "A key name must be provided.")

    def _create_model(self, offset: int, ts: int, p: ev.RegisteredModelCreated) -> str:
        _check_name(p.name)
        existing = self._get(p.name)
        if existing is not None:
            old = "Prompt" if PROMPT_TAG in existing.tags else "Registered Model"
            new = "Prompt" if PROMPT_TAG in p.tags else "Registered Model"
            if old != new:
                raise _Outcome(
                    EXISTS,
                    f"Tried to create a {new.lower()} with name {p.name!r}, but the name is "
                    f"already taken by a {old.lower()}. MLflow does not allow creating a "
                    "model and a prompt with the same name.",
                )
            raise _Outcome(EXISTS, f"{new} (name={p.name}) already exists.")
        model = ModelState(p.name, ts, ts, p.description, 0, dict(p.tags))
        self._write_all(model, offset)
        return p.name

    def _rename(self, offset: int, ts: int, p: ev.RegisteredModelRenamed) -> str:
        model = self._model(p.name)
        _check_name(p.new_name, "new_name")
        if p.new_name == p.name:
            self._put(replace(model, last_updated_time=ts), offset)
            return p.name
        if self._get(p.new_name) is not None:
            raise _Outcome(EXISTS, f"Registered Model (name={p.new_name}) already exists.")
        self._delete_all(model, offset)
        self._write_all(model.renamed(p.new_name, ts), offset)
        return p.new_name

    def _create_version(self, offset: int, event: ev.RunEvent, p: ev.ModelVersionCreated) -> int:
        model = self._model(p.name)
        ts = event.client_ts
        number = model.max_version + 1
        version = VersionState(
            name=p.name, number=number, creation_time=ts, last_updated_time=ts,
            description=p.description, user_id=p.user_id, current_stage=STAGE_NONE,
            source=p.source, storage_location=p.storage_location or p.source,
            run_id=p.run_id, run_link=p.run_link, status=MODEL_VERSION_READY,
            status_message="", model_id=p.model_id, event_id=event.event_id,
        )  # fmt: skip
        model = replace(
            model,
            max_version=number,
            last_updated_time=ts,
            versions={**model.versions, number: version},
            version_tags={**model.version_tags, number: dict(p.tags)}
            if p.tags
            else model.version_tags,
        )
        self._put(model, offset)
        self._put_version(version, offset)
        for key, value in p.tags.items():
            self._version_tags[(p.name, number, key)] = (p.name, number, key, value, offset, 0)
        return number

    def _set_alias(self, offset: int, p: ev.RegisteredModelAliasSet) -> None:
        if not p.alias:
            raise _Outcome(INVALID, "Registered model alias name cannot be empty.")
        if is_reserved_alias(p.alias):
            raise _Outcome(INVALID, f"Alias name '{p.alias}' is reserved.")
        model, _ = self._version(p.name, p.version)
        self._changed[p.name] = replace(model, aliases={**model.aliases, p.alias: p.version})
        self._aliases[(p.name, p.alias)] = (p.name, p.alias, p.version, offset, 0)

    def _version_event(self, offset: int, ts: int, p: _VersionEvent) -> int:
        model, version = self._version(p.name, p.version)
        number = version.number
        if isinstance(p, ev.ModelVersionUpdated):
            updated = replace(version, description=p.description, last_updated_time=ts)
            self._changed[p.name] = replace(model, versions={**model.versions, number: updated})
            self._put_version(updated, offset)
        elif isinstance(p, ev.ModelVersionStageTransitioned):
            self._transition(offset, ts, model, version, p)
        elif isinstance(p, ev.ModelVersionDeleted):
            self._delete_version(offset, ts, model, version)
        elif isinstance(p, ev.ModelVersionTagSet):
            self._check_key(p.key)
            tags = {**model.version_tags.get(number, {}), p.key: p.value}
            self._changed[p.name] = replace(
                model, version_tags={**model.version_tags, number: tags}
            )
            self._version_tags[(p.name, number, p.key)] = (
                p.name,
                number,
                p.key,
                p.value,
                offset,
                0,
            )
        elif isinstance(p, ev.ModelVersionTagDeleted):
            tags = dict(model.version_tags.get(number, {}))
            if tags.pop(p.key, None) is not None:
                self._changed[p.name] = replace(
                    model, version_tags={**model.version_tags, number: tags}
                )
                self._version_tags[(p.name, number, p.key)] = (p.name, number, p.key, "", offset, 1)
        return number

    def _transition(
        self,
        offset: int,
        ts: int,
        model: ModelState,
        version: VersionState,
        p: ev.ModelVersionStageTransitioned,
    ) -> None:
        stage = canonical_stage(p.stage)
        if stage is None:
            raise _Outcome(
                INVALID,
                f"Invalid Model Version stage: {p.stage}. Value must be one of "
                f"{', '.join(MODEL_VERSION_STAGES)}.",
            )
        if p.archive_existing_versions and stage not in ACTIVE_MODEL_VERSION_STAGES:
            raise _Outcome(
                INVALID,
                "Model version transition cannot archive existing model versions because "
                f"'{p.stage}' is not an Active stage. Valid stages are "
                f"{list(ACTIVE_MODEL_VERSION_STAGES)}",
            )
        versions = dict(model.versions)
        if p.archive_existing_versions:
            for number, other in model.versions.items():
                if number != version.number and other.current_stage == stage:
                    archived = replace(other, current_stage=STAGE_ARCHIVED, last_updated_time=ts)
                    versions[number] = archived
                    self._put_version(archived, offset)
        moved = replace(version, current_stage=stage, last_updated_time=ts)
        versions[version.number] = moved
        self._put_version(moved, offset)
        self._put(replace(model, versions=versions, last_updated_time=ts), offset)

    def _delete_version(
        self, offset: int, ts: int, model: ModelState, version: VersionState
    ) -> None:
        number = version.number
        self._versions[(model.name, number)] = version.row(offset, deleted=True)
        for key in model.version_tags.get(number, {}):
            self._version_tags[(model.name, number, key)] = (model.name, number, key, "", offset, 1)
        aliases = {}
        for alias, target in model.aliases.items():
            if target == number:
                self._aliases[(model.name, alias)] = (model.name, alias, target, offset, 1)
            else:
                aliases[alias] = target
        versions = {n: v for n, v in model.versions.items() if n != number}
        version_tags = {n: t for n, t in model.version_tags.items() if n != number}
        self._put(
            replace(
                model,
                versions=versions,
                version_tags=version_tags,
                aliases=aliases,
                last_updated_time=ts,
            ),
            offset,
        )

    # -- output --------------------------------------------------------------------------

    def tables(self) -> list[TableData]:
        return [
            table_rows("registered_models", REGISTERED_MODEL_COLUMNS, self._models.values()),
            table_rows("registered_model_tags", REGISTERED_MODEL_TAG_COLUMNS, self._tags.values()),
            table_rows(
                "registered_model_aliases", REGISTERED_MODEL_ALIAS_COLUMNS, self._aliases.values()
            ),
            table_rows("model_versions", MODEL_VERSION_COLUMNS, self._versions.values()),
            table_rows(
                "model_version_tags", MODEL_VERSION_TAG_COLUMNS, self._version_tags.values()
            ),
            table_rows("write_outcomes", WRITE_OUTCOME_COLUMNS, self._outcomes),
        ]

    def delta(self) -> dict[str, ModelState | None]:
        return dict(self._changed)


def table_rows(
    table: str, columns: tuple[str, ...], rows: Iterable[tuple[object, ...]]
) -> TableData:
    materialised = list(rows)
    data = [list(col) for col in zip(*materialised, strict=True)] if materialised else []
    return TableData(table, columns, data, len(materialised))


def registry_names(payload: ev.Payload) -> tuple[str, ...]:
    """The registered-model names an event needs the state of (a rename: both)."""
    if isinstance(payload, ev.RegisteredModelRenamed):
        return (payload.name, payload.new_name)
    name = getattr(payload, "name", "")
    return (name,) if name else ()
