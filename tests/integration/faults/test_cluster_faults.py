"""A replicated three-node Kafka cluster under faults, with real processes end to end.

Eight training ranks (processes, the SDK on ``kafka://h1:p1,h2:p2,h3:p3``) log 100,000
points each into one run, flushing every few hundred points at a steady pace until the
fault is over (and ``SETTLE_S`` more), then the rest at full speed, while ``runstream up
--kafka h1:p1,h2:p2,h3:p3`` ingests into chDB and one of these faults happens:

(a) the leader of the busiest partition (the run's) is SIGKILLed (and restarted after
    the load);
(b) the active controller (the KRaft quorum's leader) is SIGKILLed (and restarted after);
    in (a) and (b) the run's id is chosen so that its partition's leader is not the active
    controller: the two faults hit different nodes;
(c) the three nodes are restarted one after another (SIGTERM, start, wait until every
    replica of the topic is back in sync, next).

Each ends with exact counts and sums (800,000 points, no duplicates) and prints the
longest gap in acknowledged writes (the moments ``flush()`` returned, over all ranks) and
in applied offsets (the moments ingest's ``runstream_ingest_applied_offset`` grew): the
pause the fault cost, measured and reported in docs/ingest.md, never asserted.

The cluster is the module's own (free ports, its own data directory), started once and
made whole again after each test; the event topic is created by ``runstream up`` with the
cluster's replication (3 replicas, min.insync.replicas 2), which the tests check, and eight
partitions (``RUNSTREAM_INGEST_PARTITIONS``; one is a chDB stack's default).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from runstream.producer import RunstreamClient
from tests.integration.faults.cluster import (
    AppliedWatch,
    LocalCluster,
    Pauses,
    Ranks,
    consecutive_free_ports,
)
from tests.integration.faults.cluster_rank import values
from tests.integration.faults.stack import probe, runstream_up
from tests.integration.ingest.workload import end_offsets, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

RANKS, POINTS = 8, 100_000
SETTLE_S = 20.0  # steady writes after the fault's end, to see the recovery


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    nodes = LocalCluster(tmp_path_factory.mktemp("cluster"), consecutive_free_ports(6))
    nodes.up()
    try:
        yield nodes
    finally:
        nodes.down()


def expected() -> tuple[int, float]:
    steps = np.arange(POINTS, dtype=np.int64)
    return RANKS * POINTS, sum(float(values(r, steps).sum()) for r in range(RANKS))


def run_scenario(
    name: str,
    nodes: LocalCluster,
    fault: Callable[[str], str],
    *,
    chunk: int,
    pause_s: float,
    fault_after_s: float,
    tmp_path: Path,
    topic_prefix: str,
    ports: list[int],
    apart: bool = False,
) -> Pauses:
    """The load, ``fault(topic)`` ``fault_after_s`` into it, the exact check; the pauses.
    With ``apart``, the run's partition is led by a node that is not the active controller."""
    started = time.monotonic()
    topic = f"{topic_prefix}.cluster-{name}.{uuid.uuid4().hex[:6]}"
    # Eight partitions (a stack on chDB makes one unless told), spread over the three
    # nodes: the run's partition can then be led by a node that is not the controller.
    env = {
        "RUNSTREAM_GROUP": f"{topic}-group",
        "RUNSTREAM_INGEST_BATCH_INTERVAL": "0.2",
        "RUNSTREAM_INGEST_PARTITIONS": "8",
    }
    data_dir = tmp_path / "stack"
    with runstream_up(data_dir, nodes.bootstrap, topic, ports, tmp_path / "up.log", env) as up:
        parts = nodes.describe(topic)
        assert {len(p["replica_nodes"]) for p in parts} == {3}, parts
        assert nodes.min_insync(topic) == "2"
        client = RunstreamClient(uri=f"kafka://{nodes.bootstrap}", topic=topic)
        experiment = client.create_experiment(f"cluster-{name}-{uuid.uuid4().hex[:6]}")
        run_id = nodes.run_led_by_a_follower(topic) if apart else None
        run = client.create_run(experiment, run_name=name, run_id=run_id)
        client.flush()
        client.close()
        watch = AppliedWatch(up.metrics_port, topic)
        watch.start()
        ranks = Ranks(
            tmp_path / "ranks", nodes.bootstrap, topic, run.run_id, experiment,
            RANKS, POINTS, chunk, pause_s,
        )  # fmt: skip
        try:
            ranks.start()
            go = ranks.go()
            time.sleep(fault_after_s)
            ranks.check_alive()
            nodes.signalled.clear()
            what = fault(topic)
            fault_end = time.monotonic()
            fault_at = nodes.signalled[0]  # the first kill or stop
            print(f"[{name}] {what} at {fault_at - go:.1f} s into the load")
            time.sleep(SETTLE_S)
            ranks.check_alive()
            ranks.over()
            acks = ranks.wait(600)
            loaded = time.monotonic()
        finally:
            ranks.kill()
        ends = sum(end_offsets(nodes.bootstrap, topic).values())
        wait_for(lambda: watch.total >= ends, 300, "ingest to apply the whole log", 0.2)
        watch.stop()
        up.assert_ingest_alive()
    assert up.proc.returncode == 0, up.tail()
    check_exact(data_dir, nodes.bootstrap, topic)
    nodes.up()  # whole again for the next test
    nodes.wait_in_sync(topic)
    # The ranks were still pacing their writes after the fault ended: the load spans it.
    settling = [t for t in acks if fault_end + 1 < t < fault_end + SETTLE_S - 1]
    assert len(settling) >= RANKS, f"the load ended before the fault did ({len(settling)})"
    pauses = Pauses.measure(
        name, acks, [t for t in watch.changes if t >= go], (fault_at, fault_end), SETTLE_S,
        loaded - go, watch.duplicates,
    )  # fmt: skip
    print(pauses.line())
    print(f"[{name}] test took {time.monotonic() - started:.0f} s")
    return pauses


def check_exact(data_dir: Path, bootstrap: str, topic: str) -> None:
    count, total = expected()
    got = probe(
        f"chdb://{(data_dir / 'clickhouse').resolve()}",
        "runstream",
        {
            "points": "SELECT count(), uniqExact(key, step), sum(value) FROM metrics",
            "summary": "SELECT sum(count), count(DISTINCT key) FROM latest_metrics",
            "runs": "SELECT count() FROM runs FINAL",
        },
    )
    assert got["points"] == [[count, count, repr(total)]]
    assert got["summary"] == [[count, RANKS]]
    assert got["runs"] == [[1]]
    dead = end_offsets(bootstrap, f"{topic}.dlq")
    assert sum(dead.values()) == 0, f"dead-lettered: {dead}"


def test_leader_of_the_busiest_partition_sigkilled(
    local_cluster: LocalCluster,
    tmp_path: Path,
    topic_prefix: str,
    free_ports: Callable[[int], list[int]],
) -> None:
    def kill_leader(topic: str) -> str:
        ends = end_offsets(local_cluster.bootstrap, topic)
        busiest = max(ends, key=lambda p: ends[p])
        leader = local_cluster.leaders(topic)[busiest]
        controller = local_cluster.active_controller()
        assert leader != controller, "the run's partition was chosen led by a follower"
        local_cluster.kill(leader)
        return f"node {leader}, leader of partition {busiest} (not the controller), SIGKILLed"

    run_scenario(
        "leader", local_cluster, kill_leader, chunk=250, pause_s=0.25, fault_after_s=5.0,
        tmp_path=tmp_path, topic_prefix=topic_prefix, ports=free_ports(2), apart=True,
    )  # fmt: skip


def test_active_controller_sigkilled(
    local_cluster: LocalCluster,
    tmp_path: Path,
    topic_prefix: str,
    free_ports: Callable[[int], list[int]],
) -> None:
    def kill_controller(topic: str) -> str:
        controller = local_cluster.active_controller()
        ends = end_offsets(local_cluster.bootstrap, topic)
        busiest = max(ends, key=lambda p: ends[p])
        leads = sorted(p for p, n in local_cluster.leaders(topic).items() if n == controller)
        assert busiest not in leads, "the run's partition was chosen led by a follower"
        local_cluster.kill(controller)
        return (
            f"node {controller}, the active controller (leader of partitions {leads}, not of "
            f"the busiest, {busiest}), SIGKILLed"
        )

    run_scenario(
        "controller", local_cluster, kill_controller, chunk=250, pause_s=0.25, fault_after_s=5.0,
        tmp_path=tmp_path, topic_prefix=topic_prefix, ports=free_ports(2), apart=True,
    )  # fmt: skip


def test_rolling_restart_of_every_broker(
    local_cluster: LocalCluster,
    tmp_path: Path,
    topic_prefix: str,
    free_ports: Callable[[int], list[int]],
) -> None:
    def roll(topic: str) -> str:
        took = []
        for node in (1, 2, 3):
            began = time.monotonic()
            local_cluster.stop(node)
            local_cluster.up()
            local_cluster.wait_in_sync(topic)
            took.append(f"node {node} {time.monotonic() - began:.1f} s")
        return f"rolling restart ({', '.join(took)}) began"

    run_scenario(
        "rolling", local_cluster, roll, chunk=80, pause_s=0.25, fault_after_s=5.0,
        tmp_path=tmp_path, topic_prefix=topic_prefix, ports=free_ports(2),
    )  # fmt: skip
