"""Small value types of the SDK's API, shaped like MLflow's entities."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    timestamp: int | None = None
    step: int = 0


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What this process knows about a run it created or joined."""

    run_id: str
    experiment_id: str
    run_name: str = ""
    user_id: str = ""
    status: str = "RUNNING"
    start_time: int = 0
    parent_run_id: str = ""
    joined: bool = False  # True: created elsewhere; this process never ends it

    @property
    def run_uuid(self) -> str:  # MLflow's older name
        return self.run_id
