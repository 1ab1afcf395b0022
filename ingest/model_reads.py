"""Reading the model half's states for the projection: the port, the prefetch step of a
batch, and the SQL that loads states from the tables as of a batch's first offset.

``as of first`` (rows with ``version < first``) makes a batch's input state independent of
how much of an earlier attempt of that batch reached the tables: a rebuilt batch computes
the very same rows and outcomes, whatever the order in which its tables were written.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, Protocol

from runstream.proto import events as ev

from .model_state import (
    LOGGED_MODEL_COLUMNS,
    VERSION_STATE_COLUMNS,
    LoggedModelState,
    ModelState,
    VersionState,
)
from .records import SourceRecord
from .registry_projection import registry_names
from .state import PartitionState

_CHUNK = 10_000


class ModelStateStore(Protocol):
    """States of the model half as of an offset (rows written at ``before`` or later are
    ignored)."""

    def load_registry(self, names: Collection[str], before: int) -> dict[str, ModelState]:
        """The registered models among ``names`` that exist; a free name is left out."""
        ...

    def load_logged_models(
        self, model_ids: Collection[str], before: int
    ) -> dict[str, LoggedModelState]: ...


def prefetch_models(
    state: PartitionState, records: Sequence[SourceRecord], store: ModelStateStore, first: int
) -> None:
    """Load the registry and logged-model states this batch needs and the cache lacks."""
    names: set[str] = set()
    models: set[str] = set()
    for r in records:
        if r.event is None:
            continue
        p = r.event.payload
        if isinstance(p, ev.REGISTRY_PAYLOADS):
            names.update(registry_names(p))
        elif isinstance(p, ev.LOGGED_MODEL_PAYLOADS):
            models.add(p.model_id)  # type: ignore[union-attr]
    cache = state.models
    missing = cache.missing_names(names)
    if missing:
        found = store.load_registry(missing, first)
        cache.registry.update({name: found.get(name) for name in missing})
    missing = cache.missing_logged_models(models)
    if missing:
        cache.logged_models.update(store.load_logged_models(missing, first))


class Rows(Protocol):
    def rows(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]: ...


class ModelStateReads:
    """``ModelStateStore`` over ``rows(sql, parameters)``, which the class it is mixed
    into provides (the ClickHouse store)."""

    def rows(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def load_registry(self, names: Collection[str], before: int) -> dict[str, ModelState]:
        found: dict[str, ModelState] = {}
        for chunk in _chunks(names):
            found.update(_load_registry_chunk(self, chunk, before))
        return found

    def load_logged_models(
        self, model_ids: Collection[str], before: int
    ) -> dict[str, LoggedModelState]:
        found: dict[str, LoggedModelState] = {}
        columns = ", ".join(LOGGED_MODEL_COLUMNS)
        for chunk in _chunks(model_ids):
            for row in self.rows(
                f"SELECT {columns} FROM logged_models WHERE model_id IN {{ids:Array(String)}} "
                "AND version < {before:UInt64} ORDER BY version DESC LIMIT 1 BY model_id",
                {"ids": chunk, "before": before},
            ):
                state = LoggedModelState(*row)
                found[state.model_id] = state
        return found


def _latest(table: str, key: str, values: str) -> str:
    """The latest row per key as of ``before`` (deleted rows included: the caller drops
    them)."""
    return (
        f"SELECT {key}, argMax(tuple({values}), version) AS v FROM {table} "
        "WHERE name IN {names:Array(String)} AND version < {before:UInt64} "
        f"GROUP BY {key}"
    )


def _load_registry_chunk(store: Rows, names: list[str], before: int) -> dict[str, ModelState]:
    params = {"names": names, "before": before}
    models: dict[str, dict[str, Any]] = {}
    for name, (created, updated, description, max_version, deleted) in store.rows(
        _latest(
            "registered_models",
            "name",
            "creation_time, last_updated_time, description, max_version, is_deleted",
        ),
        params,
    ):
        if not deleted:
            models[name] = {
                "name": name,
                "creation_time": int(created),
                "last_updated_time": int(updated),
                "description": description,
                "max_version": int(max_version),
                "tags": {},
                "aliases": {},
                "versions": {},
                "version_tags": {},
            }
    if not models:
        return {}
    for name, key, (value, deleted) in store.rows(
        _latest("registered_model_tags", "name, key", "value, is_deleted"), params
    ):
        if not deleted and name in models:
            models[name]["tags"][key] = value
    for name, alias, (number, deleted) in store.rows(
        _latest("registered_model_aliases", "name, alias", "model_version, is_deleted"), params
    ):
        if not deleted and name in models:
            models[name]["aliases"][alias] = int(number)
    values = ", ".join(VERSION_STATE_COLUMNS[2:])
    for name, number, row in store.rows(
        _latest("model_versions", "name, model_version", f"{values}, is_deleted"), params
    ):
        if not row[-1] and name in models:
            models[name]["versions"][int(number)] = VersionState(name, int(number), *row[:-1])
    for name, number, key, (value, deleted) in store.rows(
        _latest("model_version_tags", "name, model_version, key", "value, is_deleted"), params
    ):
        model = models.get(name)
        if not deleted and model is not None and int(number) in model["versions"]:
            model["version_tags"].setdefault(int(number), {})[key] = value
    return {name: ModelState(**fields) for name, fields in models.items()}


def _chunks(items: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(items)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]
