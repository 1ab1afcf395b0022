"""Issue 3, done when (a) and (c): many ranks log into one run; SIGKILL after flush()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np

from runstream.producer import RunstreamClient
from runstream.proto import events as ev
from tests.integration.producer.topic import points, read_topic, unique_events

RANK_SCRIPT = str(Path(__file__).with_name("rank.py"))
RANKS = 8
POINTS = 100_000


def _rank_env(bootstrap: str, topic: str, run_id: str, rank: int, count: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    env.update(
        {
            "RUNSTREAM_URI": f"kafka://{bootstrap}",
            "RUNSTREAM_TOPIC": topic,
            "RUNSTREAM_RUN_ID": run_id,
            "RUNSTREAM_EXPERIMENT_ID": "11",
            "RANK": str(rank),
            "POINTS": str(count),
        }
    )
    return env


def test_eight_ranks_log_into_one_run_every_point_exactly_once(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.producer.{uuid.uuid4().hex[:8]}"
    with RunstreamClient(f"kafka://{kafka_bootstrap}", topic=topic) as creator:
        run = creator.create_run("11", run_name="ddp")
        creator.flush()
        ranks = [
            subprocess.Popen(
                [sys.executable, RANK_SCRIPT],
                stdout=subprocess.PIPE,
                text=True,
                env=_rank_env(kafka_bootstrap, topic, run.run_id, rank, POINTS),
            )
            for rank in range(RANKS)
        ]
        producer_of = {}
        for rank, proc in enumerate(ranks):
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0
            producer_of[out.split()[0]] = rank
        creator.set_terminated(run.run_id, "FINISHED")
    records = read_topic(kafka_bootstrap, topic, timeout=60)
    assert {r.key for r in records} == {run.run_id.encode()}
    events = unique_events(records)
    by_producer = points([e for e in events if e.producer_id in producer_of])
    assert len(by_producer) == RANKS
    expected_steps = np.arange(POINTS)
    for producer, rows in by_producer.items():
        rank = producer_of[producer]
        assert rows.shape[0] == POINTS  # count
        assert np.array_equal(np.sort(rows[:, 0]), expected_steps)  # each point once
        assert rows[:, 1].sum() == rank * 1_000_000.0 * POINTS + expected_steps.sum()  # sum
        seqs = [e.seq for e in events if e.producer_id == producer]
        assert seqs == list(range(len(seqs)))  # no gaps, per producer
    kinds = [type(e.payload).__name__ for e in events if e.producer_id in producer_of]
    assert "RunCreated" not in kinds and "RunUpdated" not in kinds  # ranks only joined
    ended = [e for e in events if isinstance(e.payload, ev.RunUpdated)]
    assert [e.producer_id for e in ended] == [creator.producer_id]


def test_sigkill_after_flush_loses_nothing_flushed(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}.producer.{uuid.uuid4().hex[:8]}"
    run_id = uuid.uuid4().hex
    env = _rank_env(kafka_bootstrap, topic, run_id, 0, 50_000)
    env["MODE"] = "kill"
    proc = subprocess.Popen(
        [sys.executable, RANK_SCRIPT], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    producer = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "FLUSHED"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    rows = points(unique_events(read_topic(kafka_bootstrap, topic)))[producer]
    steps = np.sort(rows[:, 0])
    assert np.array_equal(steps[:50_000], np.arange(50_000))  # all that was flushed
    assert np.array_equal(np.unique(steps), steps)  # and nothing twice
