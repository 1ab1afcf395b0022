"""What a copy writes into: the port both targets implement, and the point columns.

Points travel as :class:`Points` (three parallel lists per metric key) so a target can
send them columnar without building one object per point.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mlflow.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
    Run,
    RunTag,
)

#: What MLflow's SQL store writes for +-inf (it has no infinities): the largest double.
SQL_INFINITY = 1.7976931348623157e308


@dataclass
class Points:
    """Metric points of one run, columnar, grouped by key."""

    values: dict[str, list[float]] = field(default_factory=dict)
    steps: dict[str, list[int]] = field(default_factory=dict)
    timestamps: dict[str, list[int]] = field(default_factory=dict)

    def add(self, key: str, value: float, step: int, timestamp: int) -> None:
        self.values.setdefault(key, []).append(value)
        self.steps.setdefault(key, []).append(step)
        self.timestamps.setdefault(key, []).append(timestamp)

    def extend(self, key: str, values: list[float], steps: list[int], stamps: list[int]) -> None:
        self.values.setdefault(key, []).extend(values)
        self.steps.setdefault(key, []).extend(steps)
        self.timestamps.setdefault(key, []).extend(stamps)

    def __len__(self) -> int:
        return sum(len(v) for v in self.values.values())


def point_key(value: float, step: int, timestamp: int) -> tuple[int, int, str]:
    """A point's identity (NaN equals NaN here, as a stored point does; +-1.797e308 is
    +-inf, what MLflow's SQL store meant by it)."""
    if math.isnan(value):
        return (step, timestamp, "nan")
    if value in (SQL_INFINITY, -SQL_INFINITY):
        value = math.copysign(math.inf, value)
    return (step, timestamp, repr(value))


#: What a target holds of one run's metric key, cheap to read: how many points, and the
#: step and timestamp of its latest one (the largest (step, timestamp)).
Tally = tuple[int, int, int]


def tally(steps: list[int], stamps: list[int]) -> Tally:
    """The :data:`Tally` of a series."""
    if not steps:
        return (0, 0, 0)
    step, stamp = max(zip(steps, stamps, strict=True))
    return (len(steps), step, stamp)


def missing(
    values: list[float], steps: list[int], stamps: list[int], held: Counter[tuple[int, int, str]]
) -> tuple[list[float], list[int], list[int]]:
    """The points of a series that the target does not hold yet (multiset difference;
    ``held`` is consumed)."""
    out_v: list[float] = []
    out_s: list[int] = []
    out_t: list[int] = []
    for v, s, t in zip(values, steps, stamps, strict=True):
        k = point_key(v, s, t)
        if held[k] > 0:
            held[k] -= 1
            continue
        out_v.append(v)
        out_s.append(s)
        out_t.append(t)
    return out_v, out_s, out_t


class Target(Protocol):
    """Where a copy writes: runstream (WriteService) or an MLflow store."""

    label: str
    parallel: int  # runs written at once, a group (their first writes, then their second, ...)

    def experiment_by_name(self, name: str) -> Experiment | None: ...

    def create_experiment(self, name: str, artifact_location: str, tags: dict[str, str]) -> str: ...

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    def set_experiment_deleted(self, experiment_id: str, deleted: bool) -> None: ...

    def runs_of(self, experiment_id: str) -> dict[str, Run]:
        """Every run of the experiment (active and deleted), by id."""
        ...

    def create_run(self, experiment_id: str, run: Run) -> None:
        """A run with the source's id (where the target allows), name, user, start time."""
        ...

    def log(
        self,
        experiment_id: str,
        run_id: str,
        params: Sequence[Param],
        tags: Sequence[RunTag],
        points: Points,
    ) -> None:
        """Params, tags and metric points of one run, in as few requests as the target
        takes (at most 100 params and 100 tags a call)."""
        ...

    def history(self, run_id: str, key: str) -> Counter[tuple[int, int, str]]:
        """The points the target holds for one run and key, by :func:`point_key`."""
        ...

    def tallies(self, run_id: str) -> dict[str, Tally] | None:
        """Per metric key of the run, its :data:`Tally` (``None``: this target cannot say
        cheaply; every held history is then read and compared)."""
        ...

    def log_inputs(self, experiment_id: str, run_id: str, inputs: list[DatasetInput]) -> None: ...

    def model_inputs(self, run_id: str) -> list[str]:
        """The ids of the logged models the run consumed, as the target holds them."""
        ...

    def log_model_io(
        self,
        experiment_id: str,
        run_id: str,
        inputs: list[str],
        outputs: list[LoggedModelOutput],
    ) -> None:
        """Logged models the run consumed (``inputs``, by id) and produced."""
        ...

    def update_run(
        self, experiment_id: str, run_id: str, status: str, end_time: int | None, name: str
    ) -> None: ...

    def set_run_deleted(self, experiment_id: str, run_id: str, deleted: bool) -> None: ...

    def logged_model(self, model_id: str) -> LoggedModel | None:
        """The logged model the target holds for the source's ``model_id`` (active or
        deleted), or ``None``."""
        ...

    def create_logged_model(self, experiment_id: str, model: LoggedModel) -> str:
        """A PENDING model with ``model``'s id (where the target allows: the id it got is
        returned), name, type, source run, artifact location, params and tags."""
        ...

    def log_logged_model_params(
        self, experiment_id: str, model_id: str, params: dict[str, str]
    ) -> None: ...

    def set_logged_model_tags(
        self, experiment_id: str, model_id: str, tags: dict[str, str]
    ) -> None: ...

    def finalize_logged_model(
        self, experiment_id: str, model_id: str, status: LoggedModelStatus
    ) -> None: ...

    def log_model_metrics(self, experiment_id: str, run_id: str, metrics: list[Metric]) -> None:
        """Points of logged models (each names its ``model_id``), computed in ``run_id``."""
        ...

    def settle(self) -> None:
        """Return once everything written is visible to reads."""
        ...
