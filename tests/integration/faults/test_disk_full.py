"""Disk full, then freed: ingest pauses, says so, retries, and loses nothing.

``runstream up`` keeps its chDB directory on a small tmpfs of its own, beside a ballast
file that leaves little free space.  Points are loaded until ClickHouse refuses an insert
for space (NOT_ENOUGH_SPACE); the stack must then report the pause (QueryService
NOT_SERVING, ``runstream_ingest_state`` = clickhouse-unavailable), keep retrying, accept
more points meanwhile, and once the ballast is deleted apply every acknowledged point
exactly once, with nothing dead-lettered.

Mounting needs root (CAP_SYS_ADMIN); the test is skipped, with the reason, otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runstream.proto import events as ev
from tests.integration.faults.stack import Up, probe, runstream_up
from tests.integration.ingest.workload import Sender, end_offsets, event, points, wait_for

FS_MB = 48
FREE_MB = 6  # left free by the ballast once the stack has started
RUNS, KEYS, STEPS = 8, 4, 2500  # one round: 8 runs x 4 keys x 2,500 steps = 80,000 points
MAX_ROUNDS = 40


def value(run: int, step: int, key: int) -> float:
    return ((run * 7 + step * 3 + key) % 97) * 0.5  # exact in binary: sums are exact


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "fs"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={FS_MB}m", "tmpfs", str(mount)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def produce_round(sender: Sender, n: int) -> int:
    """Round ``n``: STEPS steps of every key of every run; returns the points sent."""
    steps = [n * STEPS + i for i in range(STEPS) for _ in range(KEYS)]
    kk = [k for _ in range(STEPS) for k in range(KEYS)]
    keys = [f"k{k}" for k in kk]
    for r in range(RUNS):
        values = [value(r, s, k) for s, k in zip(steps, kk, strict=True)]
        sender.send([event(f"disk-{r}", points(keys, steps, values))])
    sender.producer.flush()  # acknowledged by Kafka from here on
    return RUNS * KEYS * STEPS


def expected_sum(rounds: int) -> float:
    return sum(
        value(r, s, k) for r in range(RUNS) for s in range(rounds * STEPS) for k in range(KEYS)
    )


def ballast(fs: Path, leave_mb: int) -> Path:
    """A file that fills ``fs`` up to ``leave_mb`` MB free."""
    path = fs / "ballast"
    free = shutil.disk_usage(fs).free - leave_mb * 1024 * 1024
    assert free > 0, f"only {shutil.disk_usage(fs).free} bytes free on the tmpfs"
    with path.open("wb") as f:
        chunk = b"\xa5" * (1024 * 1024)
        while free > 0:
            f.write(chunk[: min(free, len(chunk))])
            free -= len(chunk)
    return path


def test_disk_full_pauses_ingest_and_loses_nothing(
    small_fs: Path,
    kafka_bootstrap: str,
    topic_prefix: str,
    free_ports: Callable[[int], list[int]],
    tmp_path: Path,
) -> None:
    topic = f"{topic_prefix}.disk.{uuid.uuid4().hex[:6]}"
    group = f"{topic}-group"
    env = {
        "RUNSTREAM_GROUP": group,
        "RUNSTREAM_INGEST_PARTITIONS": "2",
        "RUNSTREAM_INGEST_BATCH_INTERVAL": "0.2",
    }
    data_dir = small_fs / "stack"
    with runstream_up(
        data_dir, kafka_bootstrap, topic, free_ports(2), tmp_path / "up.log", env
    ) as up:
        rounds = load_until_full(up, Sender(kafka_bootstrap, topic), small_fs)
        print(f"disk full after {rounds} rounds of {RUNS * KEYS * STEPS} points; all applied")
    assert up.proc.returncode == 0, up.tail()
    check_exact(f"chdb://{data_dir.resolve() / 'clickhouse'}", rounds, kafka_bootstrap, topic)


def load_until_full(up: Up, sender: Sender, fs: Path) -> int:
    sender.send(event(f"disk-{r}", ev.RunCreated(start_time=r)) for r in range(RUNS))
    sender.send(event(f"disk-{r}", ev.ParamsLogged(("lr",), (str(r),))) for r in range(RUNS))
    sender.producer.flush()
    wait_for(lambda: up.metric("runstream_ingest_events_total") >= 2 * RUNS, 60, "runs created")
    wait_for(lambda: up.ingest_state() in ("consuming", None), 30, "ingest consuming")
    path = ballast(fs, FREE_MB)

    sent = rounds = 0
    while rounds < MAX_ROUNDS:
        sent += produce_round(sender, rounds)
        rounds += 1
        wait_for(
            lambda total=sent: up.metric("runstream_ingest_points_total") >= total
            or up.ingest_state() not in (None, "consuming"),
            120, f"round {rounds} applied or ingest paused", 0.1,
        )  # fmt: skip
        if up.ingest_state() not in (None, "consuming"):
            break
    state = up.ingest_state()
    assert state == "clickhouse-unavailable", (rounds, state, up.tail())
    assert "NOT_ENOUGH_SPACE" in up.tail(10**6) or "No space left" in up.tail(10**6)
    assert up.metric("runstream_ingest_progressing") == 0
    wait_for(lambda: up.query_status() == "NOT_SERVING", 30, "QueryService NOT_SERVING")

    # Paused, not dead: it keeps retrying, and what is sent meanwhile is acknowledged.
    retries = up.metric("runstream_ingest_write_retries_total")
    sent += produce_round(sender, rounds)
    rounds += 1
    wait_for(
        lambda: up.metric("runstream_ingest_write_retries_total") >= retries + 2,
        60, "two more write retries while the disk is full",
    )  # fmt: skip
    assert up.ingest_state() == "clickhouse-unavailable"
    assert up.query_status() == "NOT_SERVING"
    assert up.proc.poll() is None

    path.unlink()  # space comes back
    wait_for(lambda: up.ingest_state() == "consuming", 120, "ingest to resume")
    wait_for(lambda: up.query_status() == "SERVING", 30, "QueryService SERVING again")
    wait_for(
        lambda: up.metric("runstream_ingest_points_total") >= sent,
        120, "every point sent to be applied",
    )  # fmt: skip
    sender.close()
    time.sleep(0.5)  # the commit follows the write
    return rounds


def check_exact(dsn: str, rounds: int, bootstrap: str, topic: str) -> None:
    total = rounds * RUNS * KEYS * STEPS
    ends = {p: o for p, o in end_offsets(bootstrap, topic).items() if o > 0}
    got = probe(
        dsn,
        "runstream",
        {
            "points": "SELECT count(), uniqExact(run_id, key, step), sum(value) FROM metrics",
            "summary": "SELECT sum(count), count(DISTINCT run_id, key) FROM latest_metrics",
            "runs": "SELECT count() FROM runs FINAL",
            "params": "SELECT count() FROM params",
            "offsets": "SELECT partition, max(next_offset) FROM ingest_offsets "
            "GROUP BY partition ORDER BY partition",
        },
    )
    assert got["points"] == [[total, total, repr(expected_sum(rounds))]]
    assert got["summary"] == [[total, RUNS * KEYS]]
    assert got["runs"] == [[RUNS]]
    assert got["params"] == [[RUNS]]
    assert {p: o for p, o in got["offsets"]} == ends
    dead = end_offsets(bootstrap, f"{topic}.dlq")
    assert sum(dead.values()) == 0, f"dead-lettered: {dead}"
