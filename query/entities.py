"""The read side's own types: what the service returns, before any proto conversion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from runstream.proto.vocabulary import ACTIVE, DELETED

from .model_entities import RunModelIO

T = TypeVar("T")


class ViewType(IntEnum):
    """Which lifecycle stages a search sees (values as in ``common.proto``)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @classmethod
    def of(cls, value: int) -> ViewType:
        return cls.ACTIVE_ONLY if value == 0 else cls(value)

    def stages(self) -> list[str]:
        if self is ViewType.ACTIVE_ONLY:
            return [ACTIVE]
        if self is ViewType.DELETED_ONLY:
            return [DELETED]
        return [ACTIVE, DELETED]


class XAxis(Enum):
    STEP = "step"
    TIMESTAMP = "timestamp"


class RankBy(Enum):
    LATEST = "latest"
    MIN = "min"
    MAX = "max"


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str


@dataclass(frozen=True, slots=True)
class MetricPoint:
    key: str
    value: float
    timestamp: int
    step: int


@dataclass(frozen=True, slots=True)
class Run:
    info: RunInfo
    metrics: tuple[MetricPoint, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    io: RunModelIO = RunModelIO()  # datasets and logged models it consumed and produced


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)
    created_by: str = ""  # the principal whose write created it ("": none verified)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_page_token: str = ""


@dataclass(frozen=True, slots=True)
class Series:
    """One metric series as columns, ordered by the chart's x axis."""

    run_id: str
    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[float]
    total_points: int
    sampled: bool


@dataclass(frozen=True, slots=True)
class SeriesColumns:
    """A page of one full series as numpy columns (int64 steps and timestamps, float64
    values), ordered by (step, timestamp, value)."""

    steps: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    next_page_token: str = ""


@dataclass(frozen=True, slots=True)
class SeriesRequest:
    key: str
    max_points: int
    x_axis: XAxis = XAxis.STEP
    start: int | None = None
    end: int | None = None
    # only points whose context holds every pair (sorted pairs); empty: every context
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RunSelection:
    """The runs of a search: experiments (empty: all), MLflow filter, lifecycle view.
    ``scope``: the experiments the caller may read, when that is not all of them; it
    narrows "all experiments" and is not part of a page token's identity."""

    experiment_ids: tuple[str, ...] = ()
    filter: str = ""
    view: ViewType = ViewType.ACTIVE_ONLY
    scope: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class PercentileSeries:
    percentile: float
    values: list[float]


@dataclass(frozen=True, slots=True)
class StepAggregates:
    group_value: str | None  # None: runs without the group-by param or tag (or no grouping)
    grouped: bool
    steps: list[int]
    run_counts: list[int]
    mean: list[float]
    min: list[float]
    max: list[float]
    percentiles: list[PercentileSeries]


@dataclass(frozen=True, slots=True)
class RankedRun:
    run: Run
    value: float
