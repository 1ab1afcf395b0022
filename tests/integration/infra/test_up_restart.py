"""`runstream up` as users run it: a subprocess, stopped with Ctrl-C (SIGINT), restarted on
the same data directory — every run logged before the stop is still there."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

from runstream.producer import RunstreamClient
from runstream.proto.v1 import query_pb2, query_pb2_grpc


@contextmanager
def runstream_up(data_dir: Path, kafka: str, port: int, topic: str) -> Iterator[str]:
    cmd = [
        sys.executable,
        "-m",
        "runstream.infra.cli",
        "up",
        "--data-dir",
        str(data_dir),
        "--kafka",
        kafka,
        "--port",
        str(port),
        "--topic",
        topic,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    address = f"127.0.0.1:{port}"
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("runstream listening on"):
                break
        assert any(ln.startswith(f"runstream listening on {address}") for ln in lines), lines
        yield address
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        lines.append(out)
    assert proc.returncode == 0, "".join(lines)
    assert "stopped." in out


def _search(address: str, experiment_id: str, read: query_pb2.ReadOptions) -> list[str]:
    with grpc.insecure_channel(address) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        response = stub.SearchRuns(
            query_pb2.SearchRunsRequest(
                experiment_ids=[experiment_id], order_by=["attributes.run_name ASC"], read=read
            ),
            timeout=90,
        )
        return [r.info.run_name for r in response.runs]


def test_restart_keeps_every_run(
    tmp_path: Path,
    kafka_bootstrap: str,
    topic_prefix: str,
    free_ports: Callable[[int], list[int]],
) -> None:
    data_dir = tmp_path / "stack"
    topic = f"{topic_prefix}.up.{uuid.uuid4().hex[:6]}"
    port = free_ports(1)[0]
    with runstream_up(data_dir, kafka_bootstrap, port, topic) as address:
        client = RunstreamClient(uri=f"grpc://{address}")
        experiment_id = client.create_experiment(f"restart-{uuid.uuid4().hex[:6]}")
        for i in range(3):
            run_id = client.create_run(experiment_id, run_name=f"r{i}").run_id
            client.log_metric(run_id, "loss", 1.0 / (i + 1), step=0)
            client.set_terminated(run_id)
        token = client.flush(timeout=60).to_proto()
        client.close()
        read = query_pb2.ReadOptions(write_token=token, wait_timeout_ms=60_000)
        assert _search(address, experiment_id, read) == ["r0", "r1", "r2"]
    assert (data_dir / "clickhouse").is_dir()
    port = free_ports(1)[0]
    with runstream_up(data_dir, kafka_bootstrap, port, topic) as address:
        assert _search(address, experiment_id, query_pb2.ReadOptions()) == ["r0", "r1", "r2"]
