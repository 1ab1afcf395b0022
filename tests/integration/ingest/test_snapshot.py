"""Snapshots and retention, with real processes: a snapshot restored into a fresh data
directory plus the log after it equals the live tables, after retention deleted the log's
early segments; a fresh directory without the snapshot refuses to build from a truncated
log.

Every chDB directory is opened by ``runstream`` processes of their own (one chDB directory
per process, and BACKUP needs the engine opened for it), as an operator would run them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

from runstream.proto import events as ev
from tests.integration.conftest import free_tcp_ports
from tests.integration.ingest.workload import CODEC, event, points

ROOT = Path(__file__).resolve().parents[3]
HOUR_MS = 3_600_000
PARTITIONS = 2
DUMP_SCRIPT = """
import json, sys
from tests.integration.ingest.workload import client, dump, canonical
c = client(sys.argv[1], sys.argv[2])
out = dump(c)
audit = "SELECT * FROM audit_events FINAL ORDER BY partition, offset"
out["audit_events"] = canonical(c.query(audit).result_rows)
print(json.dumps(out))
"""

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "RUNSTREAM_LOG_LEVEL": "INFO"}


def _runstream(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runstream.infra.cli", *args],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _log_bounds(bootstrap: str, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","))
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        starts = consumer.beginning_offsets(tps)
        ends = consumer.end_offsets(tps)
        return {t.partition: o for t, o in starts.items()}, {
            t.partition: o for t, o in ends.items()
        }
    finally:
        consumer.close()


@contextmanager
def _ingest(bootstrap: str, topic: str, dsn: str) -> Iterator[int]:
    """A ``runstream ingest`` process on ``dsn``; yields its metrics port."""
    port = free_tcp_ports(1)[0]
    proc = subprocess.Popen(
        [sys.executable, "-m", "runstream.infra.cli", "ingest", "--clickhouse", dsn,
         "--kafka", bootstrap, "--topic", topic, "--group", f"{topic}-{uuid.uuid4().hex[:6]}",
         "--metrics-port", str(port), "--batch-interval", "0.2", "--no-create-topics"],
        cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]


def _wait_caught_up(port: int, ends: dict[int, int], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    applied: dict[int, int] = {}
    while time.monotonic() < deadline:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
        except OSError:
            time.sleep(0.5)
            continue
        applied = {
            int(p): int(float(v))
            for p, v in re.findall(
                r'runstream_ingest_applied_offset\{[^}]*partition="(\d+)"[^}]*\} (\S+)',
                text.decode(),
            )
        }
        if all(applied.get(p, 0) >= o for p, o in ends.items() if o > 0):
            return
        time.sleep(0.5)
    raise AssertionError(f"ingest did not reach {ends}: {applied}")


def _dump(dsn: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", DUMP_SCRIPT, dsn, "runstream"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout))


def _send(bootstrap: str, topic: str, events: list[ev.RunEvent], timestamp_ms: int) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), max_request_size=16 << 20)
    for e in events:
        producer.send(topic, key=e.kafka_key, value=CODEC.encode(e), timestamp_ms=timestamp_ms)
    producer.flush()
    producer.close()


def _phase(runs: list[str], round_: int) -> list[ev.RunEvent]:
    out = []
    for run_id in runs:
        steps = list(range(round_ * 3000, round_ * 3000 + 3000))
        out.append(event(run_id, points(["loss"] * 3000, steps, [s / 7 for s in steps])))
        out.append(event(run_id, ev.TagsSet((f"r{round_}",), (str(round_),))))
    return out


def test_snapshot_plus_the_log_after_it_equals_live_after_retention(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topic = f"{topic_prefix}-snap-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap.split(","))
    # small segments, so retention has closed segments to delete; kept forever until told
    configs = {"segment.bytes": "1048576", "retention.ms": "-1"}
    admin.create_topics([NewTopic(topic, PARTITIONS, 1, topic_configs=configs)])
    live, restored, fresh = (f"chdb://{tmp_path / d}" for d in ("live", "restored", "fresh"))
    snapshots = tmp_path / "snapshots"
    runs = [f"snap-{i}" for i in range(12)]
    old = int(time.time() * 1000) - 2 * HOUR_MS
    first = [event("", ev.ExperimentCreated("e"), "1")]
    first += [event(r, ev.RunCreated(start_time=1, run_name=r)) for r in runs]
    # several segments of each partition hold only these (about 3 MB a partition)
    first += [e for round_ in range(8) for e in _phase(runs, round_)]
    _send(kafka_bootstrap, topic, first, old)  # written two hours ago, as far as Kafka knows
    with _ingest(kafka_bootstrap, topic, live) as port:
        _wait_caught_up(port, _log_bounds(kafka_bootstrap, topic)[1])
    made = _runstream(
        "snapshot", "create", "--clickhouse", live, "--snapshot-dir", str(snapshots),
        "--topic", topic, "--name", "s1",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    manifest = json.loads((snapshots / "s1" / "manifest.json").read_text())
    at_snapshot = {int(p): o for p, o in manifest["offsets"].items()}
    assert at_snapshot == _log_bounds(kafka_bootstrap, topic)[1]

    later = [e for round_ in range(8, 10) for e in _phase(runs, round_)]
    later += [
        event(runs[0], ev.RunDeleted(deleted_time=5)),
        event(runs[1], ev.ParamsLogged(("p",), ("1",))),
    ]
    _send(kafka_bootstrap, topic, later, int(time.time() * 1000))
    ends = _log_bounds(kafka_bootstrap, topic)[1]
    with _ingest(kafka_bootstrap, topic, live) as port:
        _wait_caught_up(port, ends)

    # retention: one hour; the segments written "two hours ago" go at the next check
    admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": str(HOUR_MS)})]
    )
    deadline = time.monotonic() + 120
    while min(_log_bounds(kafka_bootstrap, topic)[0].values()) == 0:
        assert time.monotonic() < deadline, "retention never moved the log start"
        time.sleep(2)
    starts = _log_bounds(kafka_bootstrap, topic)[0]
    assert all(0 < starts[p] <= at_snapshot[p] for p in starts), (starts, at_snapshot)
    admin.close()

    # without the snapshot, a fresh directory cannot be built: ingest says so and stops
    refused = _runstream(
        "ingest", "--clickhouse", fresh, "--kafka", kafka_bootstrap, "--topic", topic,
        "--no-create-topics", timeout=120,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "retention deleted them" in refused.stderr and "log-truncated" in refused.stderr

    listed = _runstream("snapshot", "list", "--snapshot-dir", str(snapshots), "--topic", topic,
                        "--kafka", kafka_bootstrap)  # fmt: skip
    assert "s1" in listed.stdout and "completable from log" in listed.stdout, listed.stdout
    back = _runstream(
        "snapshot", "restore", "s1", "--clickhouse", restored, "--snapshot-dir", str(snapshots),
        "--topic", topic, "--kafka", kafka_bootstrap,
    )  # fmt: skip
    assert back.returncode == 0, back.stderr[-3000:]
    with _ingest(kafka_bootstrap, topic, restored) as port:
        _wait_caught_up(port, ends)

    live_tables, restored_tables = _dump(live), _dump(restored)
    assert len(live_tables["metrics"]) == 12 * 10 * 3000  # type: ignore[arg-type]
    for name, rows in live_tables.items():
        assert restored_tables[name] == rows, name
