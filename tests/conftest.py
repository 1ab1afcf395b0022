"""Test-suite wide hooks, kept light: heavy fixtures live beside the tests that use them.

tests/unit needs no services.  tests/integration gets a real Kafka broker from
tests/integration/conftest.py (``RUNSTREAM_TEST_KAFKA``, or one it starts).
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Every `mlflow server` a test starts inherits this: MLflow 3 otherwise starts its GenAI
    # job runner beside the server (a runner and six consumer processes, about 1.5 GB),
    # which no test uses.  The bench does the same (bench/harness.py).
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    # kafka-python 3.0 reads its protocol schemas with importlib.resources'
    # open_text/read_text, deprecated on Python 3.11-3.12 (not on 3.13).  The
    # warning is attributed to importlib, so pyproject's kafka.* filter misses it.
    config.addinivalue_line(
        "filterwarnings",
        r"ignore:(open|read)_text is deprecated:DeprecationWarning:importlib\.resources",
    )


def pytest_report_header(config: pytest.Config) -> str:
    bootstrap = os.environ.get("RUNSTREAM_TEST_KAFKA")
    source = bootstrap or "none set: integration tests start their own broker"
    return f"runstream: RUNSTREAM_TEST_KAFKA={source}"
