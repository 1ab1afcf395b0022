"""Helpers of the cluster fault tests: a local 3-node KRaft cluster on free ports (who
leads what, kill or restart a node), the training ranks as processes, and the pauses
measured from what they saw (acknowledged writes) and from what ingest applied.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.partitioner.default import murmur2
from prometheus_client.parser import text_string_to_metric_families

from runstream.infra.kafka import cluster
from tests.integration.ingest.workload import wait_for

RANK_SCRIPT = Path(__file__).with_name("cluster_rank.py")
NODES = 3


def consecutive_free_ports(count: int, tries: int = 50) -> int:
    """A port P such that P .. P + count - 1 are all free on 127.0.0.1 right now."""
    for _ in range(tries):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count >= 65536:
            continue
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports found")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class LocalCluster:
    """``runstream kafka up --brokers 3`` in ``data_dir``: node I on ``port + 2(I-1)``."""

    data_dir: Path
    port: int
    # When each kill or stop was signalled (the fault's moments; the caller clears it).
    signalled: list[float] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.port + 2 * i}" for i in range(NODES))

    def up(self) -> None:
        """Start the nodes that do not run (all of them the first time)."""
        cluster.up(self.data_dir, NODES, port=self.port, controller_port=self.port + 1)

    def down(self) -> None:
        cluster.down(self.data_dir)

    def kill(self, node: int) -> None:
        self.signalled.append(time.monotonic())
        assert cluster.stop_node(self.data_dir, node, kill=True), f"node {node} did not run"

    def stop(self, node: int) -> None:
        """A controlled shutdown (SIGTERM): the node hands its leaderships over first."""
        self.signalled.append(time.monotonic())
        assert cluster.stop_node(self.data_dir, node), f"node {node} did not run"

    def active_controller(self) -> int:
        found: list[int] = []
        wait_for(
            lambda: bool(found.append(cluster.active_controller(self.data_dir) or 0) or found[-1]),
            30, "an active controller",
        )  # fmt: skip
        return found[-1]

    def describe(self, topic: str) -> list[dict]:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap.split(","))
        try:
            return list(admin.describe_topics([topic])[0]["partitions"])
        finally:
            admin.close()

    def leaders(self, topic: str) -> dict[int, int]:
        return {p["partition_index"]: p["leader_id"] for p in self.describe(topic)}

    def run_led_by_a_follower(self, topic: str) -> str:
        """A run id whose partition (the producer's murmur2 of the key, as Kafka's default
        partitioner) is led by a node that is not the active controller, so killing that
        leader and killing the controller are two different faults."""
        controller = self.active_controller()
        leaders = self.leaders(topic)
        for _ in range(1000):
            run_id = uuid.uuid4().hex
            partition = (murmur2(run_id.encode()) & 0x7FFFFFFF) % len(leaders)
            if leaders[partition] != controller:
                return run_id
        raise AssertionError(f"every partition of {topic} is led by the controller: {leaders}")

    def min_insync(self, topic: str) -> str:
        from kafka.admin import ConfigResource, ConfigResourceType

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap.split(","))
        try:
            found = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, ["min.insync.replicas"])]
            )
        finally:
            admin.close()
        return str(found["topic"][topic]["min.insync.replicas"]["value"])

    def in_sync(self, topic: str) -> bool:
        """Every partition of ``topic`` has all its replicas in sync."""
        try:
            parts = self.describe(topic)
        except Exception:  # a node on its way up may refuse: not yet
            return False
        return bool(parts) and all(
            sorted(p["isr_nodes"]) == sorted(p["replica_nodes"]) for p in parts
        )

    def wait_in_sync(self, topic: str, timeout_s: float = 120) -> None:
        wait_for(lambda: self.in_sync(topic), timeout_s, f"every replica of {topic} in sync", 0.5)


class AppliedWatch(threading.Thread):
    """Polls the ingest worker's ``runstream_ingest_applied_offset`` every 0.1 s and keeps
    the moments at which the sum over the topic's partitions grew."""

    def __init__(self, metrics_port: int, topic: str) -> None:
        super().__init__(name="applied-watch", daemon=True)
        self.url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.topic = topic
        self.total = 0
        self.changes: list[float] = []
        self.duplicates = 0.0
        self._halt = threading.Event()

    def sample(self) -> None:
        with urllib.request.urlopen(self.url, timeout=5) as reply:
            text = reply.read().decode()
        total, duplicates = 0, 0.0
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "runstream_ingest_applied_offset" and s.labels["topic"] == self.topic:
                    total += int(s.value)
                elif s.name.startswith("runstream_ingest_duplicate_events") and s.name.endswith(
                    "_total"
                ):
                    duplicates += s.value
        now = time.monotonic()
        if total > self.total:
            self.total = total
            self.changes.append(now)
        self.duplicates = duplicates

    def run(self) -> None:
        while not self._halt.wait(0.1):
            try:
                self.sample()
            except OSError:  # the endpoint is busy: the next sample tells
                continue

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


@dataclass
class Ranks:
    """``count`` rank processes of one run (see cluster_rank.py)."""

    folder: Path
    bootstrap: str
    topic: str
    run_id: str
    experiment_id: str
    count: int
    points: int
    chunk: int  # points per flush until the fault is over
    pause_s: float  # between those flushes
    fast_chunk: int = 5_000  # points per flush once it is over
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    go_at: float = 0.0

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for rank in range(self.count):
            spec = {
                "bootstrap": self.bootstrap, "topic": self.topic, "run_id": self.run_id,
                "experiment_id": self.experiment_id, "rank": rank, "points": self.points,
                "chunk": self.chunk, "pause_s": self.pause_s, "fast_chunk": self.fast_chunk,
                "ready": str(self.folder / f"ready-{rank}"), "go": str(self.folder / "go"),
                "over": str(self.folder / "over"),
                "out": str(self.folder / f"acks-{rank}.json"),
            }  # fmt: skip
            log = (self.folder / f"rank-{rank}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, str(RANK_SCRIPT), json.dumps(spec)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            )
        wait_for(
            lambda: all((self.folder / f"ready-{r}").exists() for r in range(self.count))
            or any(p.poll() is not None for p in self.procs),
            180, "every rank ready",
        )  # fmt: skip
        self.check_alive()

    def check_alive(self) -> None:
        for rank, proc in enumerate(self.procs):
            if proc.poll() not in (None, 0):
                raise AssertionError(f"rank {rank} failed:\n{self.log(rank)}")

    def log(self, rank: int) -> str:
        return (self.folder / f"rank-{rank}.log").read_text(errors="replace")[-4000:]

    def go(self) -> float:
        self.go_at = time.monotonic()
        (self.folder / "go").write_text("go")
        return self.go_at

    def over(self) -> float:
        """The fault is over: the ranks send the rest of their points at full speed."""
        (self.folder / "over").write_text("over")
        return time.monotonic()

    def wait(self, timeout_s: float) -> list[float]:
        """Wait for every rank to end; their acknowledgement times, merged and sorted."""
        deadline = time.monotonic() + timeout_s
        for rank, proc in enumerate(self.procs):
            try:
                proc.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise AssertionError(f"rank {rank} did not finish:\n{self.log(rank)}") from None
            assert proc.returncode == 0, f"rank {rank} failed:\n{self.log(rank)}"
        acks: list[float] = []
        for rank in range(self.count):
            acks.extend(json.loads((self.folder / f"acks-{rank}.json").read_text())["acks"])
        return sorted(acks)

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def longest_gap(
    times: list[float], since: float = float("-inf"), until: float = float("inf")
) -> tuple[float, float]:
    """The longest interval between consecutive moments that begins in [since, until],
    and when it began."""
    ordered = sorted(times)
    gaps = [(b - a, a) for a, b in zip(ordered, ordered[1:], strict=False) if since <= a <= until]
    return max(gaps) if gaps else (0.0, since)


@dataclass(frozen=True)
class Gap:
    seconds: float
    began_s: float  # after the fault's first kill or stop

    def __str__(self) -> str:
        return f"{self.seconds:.2f} s (from {self.began_s:+.1f} s)"


@dataclass(frozen=True)
class Pauses:
    """What a fault cost: the longest gaps in acknowledged writes and in applied offsets,
    during the fault (beginning between its first kill or stop and the end of the settling
    time after it) and over the whole load."""

    name: str
    fault_s: float  # from the first kill or stop to the fault's end (a rolling restart's)
    writes: Gap
    applied: Gap
    writes_anywhere: Gap
    applied_anywhere: Gap
    load_s: float
    duplicates_dropped: float

    @classmethod
    def measure(
        cls, name: str, acks: list[float], applied: list[float], fault: tuple[float, float],
        settle_s: float, load_s: float, duplicates: float,
    ) -> Pauses:  # fmt: skip
        start, end = fault

        def gap(times: list[float], since: float, until: float) -> Gap:
            seconds, began = longest_gap(times, since, until)
            return Gap(seconds, began - start)

        window = (start - 1.0, end + settle_s)
        return cls(
            name, end - start, gap(acks, *window), gap(applied, *window),
            gap(acks, float("-inf"), float("inf")), gap(applied, float("-inf"), float("inf")),
            load_s, duplicates,
        )  # fmt: skip

    def line(self) -> str:
        return (
            f"[{self.name}] fault {self.fault_s:.1f} s; longest gap in acknowledged writes "
            f"{self.writes} (whole load: {self.writes_anywhere}), in applied offsets "
            f"{self.applied} (whole load: {self.applied_anywhere}); load took "
            f"{self.load_s:.1f} s; resent events dropped by ingest: {self.duplicates_dropped:.0f}"
        )
