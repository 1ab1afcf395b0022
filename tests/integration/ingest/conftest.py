"""Fixtures of the ingest integration tests (real broker, real chDB).

In-process workers use the session's chDB directory (``chdb_dsn``) with a fresh database
per test; tests that kill workers run them as subprocesses on directories of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from runstream.ingest import BatchSettings, IngestSettings, IngestWorker


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: a long test (tens of seconds); deselect with -m 'not slow'"
    )


@pytest.fixture
def make_settings(
    chdb_dsn: str, fresh_database: str, topic_prefix: str, kafka_bootstrap: str
) -> Callable[..., IngestSettings]:
    """IngestSettings on the session's chDB directory, a fresh database and group."""

    def make(topic: str, **overrides: Any) -> IngestSettings:
        values: dict[str, Any] = {
            "clickhouse": chdb_dsn,
            "database": fresh_database,
            "kafka": kafka_bootstrap,
            "topic": topic,
            "group": f"{topic}-group",
            "batch": BatchSettings(max_points=100_000, max_interval_s=0.2),
            "session_timeout_ms": 6000,
        }
        values.update(overrides)
        return IngestSettings(**values)

    return make


@contextmanager
def running(settings: IngestSettings) -> Iterator[IngestWorker]:
    worker = IngestWorker(settings)
    worker.start()
    try:
        assert worker.wait_ready(120), f"worker did not start: {worker.error}"
        yield worker
    finally:
        worker.stop()
    assert worker.error is None, worker.error
