"""runstream ingest: the exactly-once projection of the event topic into ClickHouse.

Run the worker as a thread of another process::

    from runstream.ingest import IngestSettings, IngestWorker

    worker = IngestWorker(IngestSettings.from_env())
    worker.start()
    worker.wait_ready(60)
    ...
    worker.stop()

or in the foreground with ``IngestWorker(settings).run(stop_event)``.

Names are imported lazily, so importing the package (or ``runstream.ingest.cli``) stays
cheap until a worker is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .batch import TABLE_ORDER, Intent, PartitionBatch, Progress, TableData
    from .errors import (
        ConfigError,
        DeadLetterError,
        IngestError,
        MigrationError,
        ReplayError,
        SinkBackpressure,
        SinkError,
        SinkUnavailable,
        SourceError,
    )
    from .migrations import Migration, apply_migrations, load_migrations
    from .observability import IngestHealth
    from .projection import project
    from .records import DeadLetter, Poison, PoisonReason, SourceRecord
    from .replay import ReplayResult, replay
    from .settings import BatchSettings, ClickHouseTarget, IngestSettings, ReplaySettings
    from .state import ExperimentState, PartitionState, RunState
    from .worker import IngestWorker

_EXPORTS: dict[str, str] = {
    "BatchSettings": "settings",
    "ClickHouseTarget": "settings",
    "ConfigError": "errors",
    "DeadLetter": "records",
    "DeadLetterError": "errors",
    "ExperimentState": "state",
    "IngestError": "errors",
    "IngestHealth": "observability",
    "IngestSettings": "settings",
    "IngestWorker": "worker",
    "Intent": "batch",
    "Migration": "migrations",
    "MigrationError": "errors",
    "PartitionBatch": "batch",
    "PartitionState": "state",
    "Poison": "records",
    "PoisonReason": "records",
    "Progress": "batch",
    "ReplayError": "errors",
    "ReplayResult": "replay",
    "ReplaySettings": "settings",
    "RunState": "state",
    "SinkBackpressure": "errors",
    "SinkError": "errors",
    "SinkUnavailable": "errors",
    "SourceError": "errors",
    "SourceRecord": "records",
    "TABLE_ORDER": "batch",
    "TableData": "batch",
    "apply_migrations": "migrations",
    "load_migrations": "migrations",
    "project": "projection",
    "replay": "replay",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "TABLE_ORDER",
    "BatchSettings",
    "ClickHouseTarget",
    "ConfigError",
    "DeadLetter",
    "DeadLetterError",
    "ExperimentState",
    "IngestError",
    "IngestHealth",
    "IngestSettings",
    "IngestWorker",
    "Intent",
    "Migration",
    "MigrationError",
    "PartitionBatch",
    "PartitionState",
    "Poison",
    "PoisonReason",
    "Progress",
    "ReplayError",
    "ReplayResult",
    "ReplaySettings",
    "RunState",
    "SinkBackpressure",
    "SinkError",
    "SinkUnavailable",
    "SourceError",
    "SourceRecord",
    "TableData",
    "apply_migrations",
    "load_migrations",
    "project",
    "replay",
]
