"""Fault tests: real processes killed, real filesystems filled (see stack.py).

Every test under this folder is marked ``faults`` (besides ``integration``), so CI runs
them as a step of their own: ``pytest -m "faults and not cluster"`` (and the rest with
``-m "not faults"``); the tests on a three-node Kafka cluster (test_cluster_faults.py,
marked ``cluster``) run as one more step: ``pytest -m cluster``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

FAULTS_DIR = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(FAULTS_DIR):
            item.add_marker(pytest.mark.faults)
