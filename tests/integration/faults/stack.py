"""Helpers of the fault tests: ``runstream up`` as a subprocess, its health and metrics,
and the exact contents of its tables once it has stopped.

The stack runs in a process of its own (chDB holds one data directory per process, and
the faults are done to it); the tables are read afterwards by ``chdb_probe.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.ingest.workload import wait_for

PROBE = Path(__file__).parents[1] / "ingest" / "chdb_probe.py"
QUERY_SERVICE = "runstream.v1.QueryService"


@dataclass
class Up:
    proc: subprocess.Popen[bytes]
    address: str
    metrics_port: int
    log: Path

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def query_status(self) -> str:
        """The gRPC health status of QueryService: SERVING, NOT_SERVING, ..."""
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=QUERY_SERVICE), timeout=10)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    def assert_ingest_alive(self) -> None:
        assert self.proc.poll() is None, f"runstream up exited:\n{self.tail()}"
        log = self.tail(10**7)
        assert "ingest worker failed" not in log, f"the ingest worker died:\n{log[-6000:]}"

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of the ingest worker's /metrics: (name, sorted labels) -> value."""
        self.assert_ingest_alive()
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels``."""
        return sum(
            value
            for (n, got), value in self.metrics().items()
            if n == name and set(labels.items()) <= set(got)
        )

    def ingest_state(self) -> str | None:
        """``runstream_ingest_state``: consuming, or why ingest cannot make progress."""
        states = [
            dict(labels)["runstream_ingest_state"]
            for (n, labels), value in self.metrics().items()
            if n == "runstream_ingest_state" and value == 1
        ]
        assert len(states) <= 1, states
        return states[0] if states else None


@contextmanager
def runstream_up(
    data_dir: Path,
    kafka: str,
    topic: str,
    ports: list[int],
    log: Path,
    env: Mapping[str, str] | None = None,
) -> Iterator[Up]:
    """``runstream up --kafka ...`` on ``ports[0]``, its ingest metrics on ``ports[1]``;
    stopped with SIGINT (as Ctrl-C) on exit, killed if it does not stop."""
    environment = {**os.environ, "RUNSTREAM_INGEST_METRICS_PORT": str(ports[1]), **(env or {})}
    cmd = [
        sys.executable, "-m", "runstream.infra.cli", "up", "--data-dir", str(data_dir),
        "--kafka", kafka, "--port", str(ports[0]), "--topic", topic,
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=environment)
    up = Up(proc, f"127.0.0.1:{ports[0]}", ports[1], log)
    try:
        wait_for(
            lambda: proc.poll() is not None or "runstream listening on" in up.tail(10**6),
            180, "runstream up to listen", 0.2,
        )  # fmt: skip
        assert proc.poll() is None, up.tail()
        yield up
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def probe(dsn: str, database: str, queries: Mapping[str, str]) -> dict[str, Any]:
    """Run SQL on a chDB directory no process holds any more (see chdb_probe.py)."""
    out = subprocess.run(
        [sys.executable, str(PROBE), dsn, database],
        input=json.dumps(dict(queries)), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.stdout)
    return result
