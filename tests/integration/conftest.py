"""Fixtures for the integration tests: real services, never mocks.

Every test under this folder is marked ``integration``.  ``kafka_bootstrap``
is ``$RUNSTREAM_TEST_KAFKA`` (``host:port``) when set, as in CI; otherwise a
broker started with :func:`runstream.infra.kafka.up` for the session (this may
fetch its jars with Maven on first use).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from runstream.infra import kafka

INTEGRATION_DIR = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)


def free_tcp_ports(count: int) -> list[int]:
    """``count`` distinct ports on 127.0.0.1 that nothing listens on right now."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


@pytest.fixture(scope="session")
def free_ports() -> Callable[[int], list[int]]:
    """Hands out free local ports, for tests that start their own servers."""
    return free_tcp_ports


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a real Kafka 4.x broker for the whole session."""
    given = os.environ.get("RUNSTREAM_TEST_KAFKA")
    if given:
        yield given
        return
    data_dir = tmp_path_factory.mktemp("kafka")
    port, controller_port = free_tcp_ports(2)
    handle = kafka.up(data_dir, port=port, controller_port=controller_port)
    try:
        yield handle.bootstrap
    finally:
        kafka.down(data_dir)


@pytest.fixture(scope="session")
def topic_prefix() -> str:
    """A prefix unique to this run, so each run uses fresh topics and groups."""
    return f"t{uuid.uuid4().hex[:8]}"
