"""Fixtures for the MLflow plugin on the real stack: Kafka, ingest, chDB, both gRPC services.

* ``runstream_uri``: a ``runstream://`` URI of an in-process :class:`Stack` on this pytest
  session's chDB directory (one database and one topic per test module).
* ``runstream_up``: ``runstream up`` as a subprocess with a chDB directory of its own, for
  tests whose MLflow side runs in another process (``mlflow server``).
* ``sqlite_uri``: a fresh MLflow SQLite store, the reference every answer is compared with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.integrations.mlflow.processes import free_port, stop_process, wait_for_port


@pytest.fixture(scope="session")
def mlflow_kafka(request: pytest.FixtureRequest) -> str:
    """Bootstrap servers: the session's broker, else ``RUNSTREAM_TEST_KAFKA``."""
    try:
        return str(request.getfixturevalue("kafka_bootstrap"))
    except pytest.FixtureLookupError:
        pass
    bootstrap = os.environ.get("RUNSTREAM_TEST_KAFKA")
    if not bootstrap:
        pytest.skip("no Kafka broker: set RUNSTREAM_TEST_KAFKA=host:port")
    return bootstrap


@pytest.fixture(scope="module")
def runstream_stack(mlflow_kafka: str, chdb_dsn: str) -> Iterator[object]:
    from runstream.infra.stack import Stack, StackSettings

    suffix = uuid.uuid4().hex[:10]
    stack = Stack(
        StackSettings(
            kafka=mlflow_kafka,
            clickhouse=chdb_dsn,
            database=f"mlflow_{suffix}",
            topic=f"mlflow.{suffix}",
            address="127.0.0.1:0",
        )
    ).start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def runstream_uri(runstream_stack: object) -> str:
    return f"runstream://{runstream_stack.address}"  # type: ignore[attr-defined]


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reference.db'}"


@pytest.fixture(scope="module")
def runstream_up(mlflow_kafka: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``runstream up`` in its own process (its own chDB directory); yields host:port."""
    data_dir = tmp_path_factory.mktemp("runstream_up")
    port = free_port()
    suffix = uuid.uuid4().hex[:10]
    log = data_dir / "stack.log"
    exe = shutil.which("runstream")
    command = [exe] if exe else [sys.executable, "-m", "runstream.infra.cli"]
    command += [
        "up",
        "--data-dir",
        str(data_dir),
        "--kafka",
        mlflow_kafka,
        "--port",
        str(port),
        "--topic",
        f"mlflow.up.{suffix}",
        "--database",
        f"mlflow_up_{suffix}",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=data_dir)
    try:
        wait_for_port(port, proc, 120, log)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc)
