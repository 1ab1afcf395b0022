"""Exactly once under crashes: a worker subprocess is killed with SIGKILL at random
moments (at least 10 times) while 1,000,000 points are produced, restarted each time;
afterwards the tables hold exactly the points sent, and ``runstream replay`` rebuilds
equal tables.

The worker writes a chDB directory of its own (one directory per process); the pytest
process never opens it: the tables are read by ``chdb_probe.py`` in a subprocess after
the last worker exited.  Set RUNSTREAM_FAULT_SEED to repeat a run's kill moments.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runstream.proto import events as ev
from tests.integration.ingest.workload import (
    Sender,
    committed,
    end_offsets,
    event,
    new_topic,
    points,
    wait_for,
)

RUNS, KEYS, EVENTS_PER_RUN, POINTS_PER_EVENT = 40, 4, 25, 1000
TOTAL = RUNS * EVENTS_PER_RUN * POINTS_PER_EVENT  # 1,000,000
KILLS = 10
PROBE = Path(__file__).parents[1] / "ingest" / "chdb_probe.py"


def value(run: int, step: int, key: int) -> float:
    return ((run * 7 + step * 3 + key) % 97) * 0.5  # exact in binary: sums are exact


def produce(sender: Sender, seconds: float) -> None:
    keys = [f"k{k}" for k in range(KEYS)]
    creates = []
    for r in range(RUNS):
        run_id = f"fault-{r:02d}"
        creates.append(event(run_id, ev.RunCreated(start_time=r)))
        creates.append(event(run_id, ev.ParamsLogged(("lr", "bs"), (str(r), "32"))))
    sender.send(creates)
    steps_per_event = POINTS_PER_EVENT // KEYS
    pause = seconds / EVENTS_PER_RUN
    for j in range(EVENTS_PER_RUN):
        batch = []
        for r in range(RUNS):
            steps = [j * steps_per_event + i for i in range(steps_per_event) for _ in range(KEYS)]
            kk = [k for _ in range(steps_per_event) for k in range(KEYS)]
            batch.append(
                event(
                    f"fault-{r:02d}",
                    points(
                        [keys[k] for k in kk],
                        steps,
                        [value(r, s, k) for s, k in zip(steps, kk, strict=True)],
                    ),
                )
            )
        sender.send(batch)
        sender.producer.flush()
        time.sleep(pause)
    sender.send(
        event(f"fault-{r:02d}", ev.RunUpdated(status="FINISHED", end_time=1)) for r in range(RUNS)
    )
    sender.close()


def expected_sum() -> float:
    steps = EVENTS_PER_RUN * POINTS_PER_EVENT // KEYS
    return sum(value(r, s, k) for r in range(RUNS) for s in range(steps) for k in range(KEYS))


def probe(dsn: str, database: str, queries: dict[str, str]) -> dict[str, list]:
    out = subprocess.run(
        [sys.executable, str(PROBE), dsn, database],
        input=json.dumps(queries), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


@pytest.mark.slow
def test_sigkill_at_random_moments(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("RUNSTREAM_FAULT_SEED", time.time_ns() % 10**6))
    print(f"RUNSTREAM_FAULT_SEED={seed}")
    topic = new_topic(kafka_bootstrap, topic_prefix, 8)
    group = f"{topic}-group"
    dsn = f"chdb://{tmp_path / 'chdb'}"
    env = {
        **os.environ,
        "RUNSTREAM_CLICKHOUSE": dsn,
        "RUNSTREAM_DATABASE": "fault",
        "RUNSTREAM_KAFKA": kafka_bootstrap,
        "RUNSTREAM_TOPIC": topic,
        "RUNSTREAM_GROUP": group,
        "RUNSTREAM_INGEST_INSTANCE_ID": "fault-worker",  # restarts take the partitions back at once
        "RUNSTREAM_INGEST_SESSION_TIMEOUT_MS": "6000",
        "RUNSTREAM_INGEST_BATCH_POINTS": "40000",
        "RUNSTREAM_INGEST_BATCH_INTERVAL": "0.2",
    }
    logs: list[Path] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        run_scenario(seed, kafka_bootstrap, topic, group, dsn, env, tmp_path, logs, procs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def run_scenario(
    seed: int, kafka_bootstrap: str, topic: str, group: str, dsn: str, env: dict[str, str],
    tmp_path: Path, logs: list[Path], procs: list[subprocess.Popen[bytes]],
) -> None:  # fmt: skip
    rnd = random.Random(seed)

    def start(life: int) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"worker-{life}.log"
        logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "runstream.infra.cli", "ingest"],
            env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
        )  # fmt: skip
        procs.append(proc)
        return proc, log

    t0 = time.monotonic()
    producer = threading.Thread(target=produce, args=(Sender(kafka_bootstrap, topic), 12.0))
    producer.start()
    kills = []
    for life in range(KILLS):
        proc, log = start(life)
        if rnd.random() < 0.8:  # mostly once it consumes, sometimes during start-up
            wait_for(lambda log=log: b"consuming" in log.read_bytes(), 60, "worker start", 0.05)
        delay = rnd.uniform(0.1, 1.5)
        time.sleep(delay)
        assert proc.poll() is None, log.read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(round(delay, 2))
    producer.join()
    t_kills = time.monotonic() - t0
    proc, log = start(KILLS)
    wait_for(lambda: b"consuming" in log.read_bytes(), 60, "the last worker to start", 0.05)
    ends = end_offsets(kafka_bootstrap, topic)
    ends = {p: o for p, o in ends.items() if o > 0}
    wait_for(
        lambda: all(committed(kafka_bootstrap, group).get(p, -1) >= o for p, o in ends.items()),
        120, "the last worker to catch up", 0.5,
    )  # fmt: skip
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, log.read_text()[-3000:]
    t_final = time.monotonic() - t0
    rebuilt = sum(p.read_text().count("rebuilding batch") for p in logs)
    print(f"killed {len(kills)} times after {kills} s; {rebuilt} partly written batches rebuilt")

    replay = subprocess.run(
        [sys.executable, "-m", "runstream.infra.cli", "replay", "--from-beginning", "--database",
         "fault_replay", "--target", dsn, "--kafka", kafka_bootstrap, "--topic", topic,
         "--no-progress"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr[-3000:]
    t_replay = time.monotonic() - t0

    checks = {
        "points": "SELECT count(), uniqExact(run_id, key, step), sum(value) FROM metrics",
        "summary": "SELECT sum(count), count(DISTINCT run_id, key) FROM latest_metrics",
        "per_key": "SELECT min(c), max(c), min(s), max(s) FROM ("
        "SELECT run_id, key, sum(count) AS c, "
        "max(latest).1 AS s FROM latest_metrics GROUP BY run_id, key)",
        "runs": "SELECT count(), countIf(status = 'FINISHED') FROM runs FINAL",
        "params": "SELECT count() FROM params",
        "tables": "fingerprints",
    }
    live = probe(dsn, "fault", checks)
    steps = EVENTS_PER_RUN * POINTS_PER_EVENT // KEYS
    assert live["points"] == [[TOTAL, TOTAL, repr(expected_sum())]]
    assert live["summary"] == [[TOTAL, RUNS * KEYS]]
    assert live["per_key"] == [[steps, steps, steps - 1, steps - 1]]
    assert live["runs"] == [[RUNS, RUNS]]
    assert live["params"] == [[RUNS * 2]]
    again = probe(dsn, "fault_replay", {"tables": "fingerprints"})
    assert again["tables"] == live["tables"]
    assert live["tables"]["metrics"][0][0] == TOTAL
    print(
        f"kills done {t_kills:.0f} s, caught up {t_final:.0f} s, replayed {t_replay:.0f} s, "
        f"checked {time.monotonic() - t0:.0f} s"
    )
