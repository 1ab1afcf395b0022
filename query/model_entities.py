"""The read side's types for the model half: registered models and versions, logged
models, a run's datasets and model links, registry write outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
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
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    latest_versions: tuple[ModelVersion, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[tuple[str, int], ...] = ()  # (alias, version), by alias


@dataclass(frozen=True, slots=True)
class ModelMetric:
    key: str
    value: float
    timestamp: int
    step: int
    run_id: str
    model_id: str
    dataset_name: str
    dataset_digest: str


@dataclass(frozen=True, slots=True)
class LoggedModel:
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
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: tuple[ModelMetric, ...] = ()


@dataclass(frozen=True, slots=True)
class DatasetInput:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None
    profile: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunModelIO:
    """What a run consumed and produced, besides params and metrics."""

    datasets: tuple[DatasetInput, ...] = ()
    model_inputs: tuple[str, ...] = ()
    model_outputs: tuple[tuple[str, int], ...] = ()  # (model id, step)


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    experiment_id: str
    name: str
    digest: str
    context: str


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What ingest decided about one registry write: ``error_code`` empty when applied."""

    error_code: str
    message: str
    name: str
    version: int
    registered_model: RegisteredModel | None = None
    model_version: ModelVersion | None = None


@dataclass(frozen=True, slots=True)
class DatasetFilter:
    name: str
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedModelOrder:
    field_name: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


def run_io_from_rows(
    datasets_rows: Sequence[tuple[Any, ...]], link_rows: Sequence[tuple[Any, ...]]
) -> dict[str, RunModelIO]:
    """The rows of :func:`~.model_sql.run_io_sql`'s statements, per run."""
    datasets: dict[str, list[DatasetInput]] = {}
    for run_id, name, digest, stype, source, schema, profile, tags, _ in datasets_rows:
        datasets.setdefault(run_id, []).append(
            DatasetInput(name, digest, stype, source, schema, profile, dict(tags))
        )
    inputs: dict[str, list[str]] = {}
    outputs: dict[str, list[tuple[str, int]]] = {}
    for run_id, direction, model_id, step, _ in link_rows:
        if direction == "input":
            inputs.setdefault(run_id, []).append(model_id)
        else:
            outputs.setdefault(run_id, []).append((model_id, int(step)))
    return {
        r: RunModelIO(
            tuple(datasets.get(r, ())), tuple(inputs.get(r, ())), tuple(outputs.get(r, ()))
        )
        for r in set(datasets) | set(inputs) | set(outputs)
    }
