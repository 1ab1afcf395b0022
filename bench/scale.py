"""Scale simulation: applied points/s against partitions and ingest workers, on one machine.

    python -m bench.scale --kafka 127.0.0.1:9092                  # 1:1, 2:2, 4:4, 8:8
    python -m bench.scale --kafka HOST:PORT --grid 8:1,8:2,8:8 --points 4000000

For each PARTITIONS:WORKERS of --grid: a fresh topic with that many partitions, and that
many ingest workers (``IngestWorker``, as ``runstream ingest`` runs it) as threads of this
process, in one consumer group, writing to one chDB directory (a database per grid
point).  Once the group has settled (every partition assigned, on the empty topic),
--points points in columnar MetricsLogged events (--points-per-event each, one RunCreated
per run, keyed by run as the SDK keys them; encoded beforehand) are produced in one burst,
and the clock runs from the first send until the workers' applied offsets reach the end
of every partition.  Reported per grid point: applied points/s, the speed-up over the
first grid point, the CPU this process used over the window (seconds of CPU per second:
the cores it kept busy), points per CPU-second of this process (what a point costs,
whatever else the machine runs), the load average, and a check that every point is in
the table.

Every worker shares this process (and its GIL) and the one embedded ClickHouse engine:
the curve shows where one machine stops, not what N machines give (docs/benchmarks.md
turns it into a paper estimate).  --plot PATH draws the curve.  Needs a running broker.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass

from .bench_ingest import _events


@dataclass
class Point:
    partitions: int
    workers: int
    points: int
    seconds: float
    produce_seconds: float
    cpu: float  # CPU seconds of this process per wall second, over the window
    load: tuple[float, float, float]
    rows: int

    @property
    def rate(self) -> float:
        return self.points / self.seconds


def _grid(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        try:
            p, w = (int(v) for v in item.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected P:W,P:W,..., got {text!r}") from None
        if p <= 0 or w <= 0:
            raise argparse.ArgumentTypeError(f"partitions and workers must be positive: {item}")
        out.append((p, w))
    return out


def _settled(workers: list, partitions: int) -> bool:
    # bench-only look at the assignment the group gave each worker
    held = [w._partitions or frozenset() for w in workers]
    union = frozenset().union(*held)
    return len(union) == partitions and sum(len(h) for h in held) == partitions


def run_point(args: argparse.Namespace, dsn: str, encoded: list, partitions: int, n: int) -> Point:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from runstream.ingest import BatchSettings, IngestSettings, IngestWorker
    from runstream.ingest.kafka_dead_letters import ensure_topics

    topic = f"scale-{uuid.uuid4().hex[:8]}"
    database = f"scale_{partitions}p_{n}w_{uuid.uuid4().hex[:6]}"
    ensure_topics(args.kafka, [(topic, partitions, 1)])
    base = IngestSettings(
        clickhouse=dsn, database=database, kafka=args.kafka, topic=topic,
        group=f"scale-{uuid.uuid4().hex[:8]}", partitions=partitions,
        batch=BatchSettings(max_points=args.batch_points),
    )  # fmt: skip
    IngestWorker(base).prepare()  # migrations once, before the clock
    workers = [
        IngestWorker(IngestSettings(**{**base.__dict__, "instance_id": f"w{i}"})) for i in range(n)
    ]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 120
    while not _settled(workers, partitions):
        if time.monotonic() > deadline or any(w.error for w in workers):
            raise SystemExit(f"the group did not settle: {[w.error for w in workers]}")
        time.sleep(0.1)
    time.sleep(1.0)  # let a late rebalance show
    if not _settled(workers, partitions):
        raise SystemExit("the group rebalanced again after settling")
    producer = KafkaProducer(
        bootstrap_servers=args.kafka.split(","), linger_ms=20, batch_size=1 << 20,
        max_request_size=32 << 20, compression_type="lz4",
    )  # fmt: skip
    cpu0, started = time.process_time(), time.perf_counter()
    for key, value in encoded:
        producer.send(topic, key=key, value=value)
    producer.flush()
    produced = time.perf_counter() - started
    producer.close()
    probe = KafkaConsumer(bootstrap_servers=args.kafka.split(","))
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    ends = {tp.partition: o for tp, o in probe.end_offsets(tps).items()}
    probe.close()
    while True:
        applied: dict[int, int] = {}
        for w in workers:
            for p, o in w.applied_offsets().items():
                applied[p] = max(o, applied.get(p, -1))
        if all(applied.get(p, -1) >= end for p, end in ends.items() if end > 0):
            break
        if any(not w.running for w in workers):
            raise SystemExit(f"a worker died: {[w.error for w in workers]}")
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    cpu = (time.process_time() - cpu0) / seconds
    load = os.getloadavg()
    for w in workers:
        w.stop()
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=dsn, database=database)
    rows = int(client.command("SELECT count() FROM metrics"))
    client.command(f"DROP DATABASE {database}")
    client.close()
    return Point(partitions, n, args.points, seconds, produced, cpu, load, rows)


def report(points: list[Point]) -> str:
    first = points[0].rate
    lines = [
        "| partitions | workers | applied points/s | speed-up | seconds | producing (s) "
        "| CPU of the process (cores) | points per CPU-second | load average (1 min) "
        "| rows = points |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.partitions} | {p.workers} | {p.rate:,.0f} | {p.rate / first:.2f}× | "
            f"{p.seconds:.2f} | {p.produce_seconds:.2f} | {p.cpu:.2f} | "
            f"{p.points / (p.cpu * p.seconds):,.0f} | {p.load[0]:.1f} | "
            f"{'yes' if p.rows == p.points else f'NO: {p.rows:,}'} |"
        )
    return "\n".join(lines)


def plot(points: list[Point], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    same = [p for p in points if p.partitions == p.workers]
    ax.plot([p.workers for p in same], [p.rate for p in same], "o-", label="workers = partitions")
    if same:
        ideal = [same[0].rate * p.workers / same[0].workers for p in same]
        ax.plot([p.workers for p in same], ideal, ":", color="grey", label="linear")
    others = [p for p in points if p.partitions != p.workers]
    for p in others:
        ax.plot([p.workers], [p.rate], "s", label=f"{p.partitions} partitions, {p.workers} w.")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("ingest workers (threads of one process)")
    ax.set_ylabel("applied points/s")
    ax.set_title(f"Ingest on one machine ({os.cpu_count()} cores, shared)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--kafka",
        default=os.environ.get("RUNSTREAM_KAFKA", "127.0.0.1:9092"),
        help="bootstrap servers of a running broker (default: $RUNSTREAM_KAFKA or 127.0.0.1:9092)",
    )
    p.add_argument(
        "--grid", type=_grid, default=_grid("1:1,2:2,4:4,8:8"),
        help="PARTITIONS:WORKERS,... (default: 1:1,2:2,4:4,8:8)",
    )  # fmt: skip
    p.add_argument("--points", type=int, default=2_000_000, help="points (default: 2000000)")
    p.add_argument(
        "--points-per-event", type=int, default=10_000, help="per event (default: 10000)"
    )
    p.add_argument("--runs", type=int, default=64, help="runs (default: 64)")
    p.add_argument("--keys", type=int, default=10, help="metric keys per run (default: 10)")
    p.add_argument(
        "--batch-points", type=int, default=500_000, help="worker batch bound (default: 500000)"
    )
    p.add_argument("--dsn", default=None, help="chdb:///DIR (default: a temporary directory)")
    p.add_argument("--plot", default=None, metavar="PATH", help="draw the curve into PATH")
    args = p.parse_args(argv)
    if min(args.points, args.points_per_event, args.runs, args.keys, args.batch_points) <= 0:
        p.error("counts must be positive")
    if args.runs < max(pt for pt, _ in args.grid):
        p.error("--runs must be at least the largest partition count (runs key the events)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from runstream.proto.codec import EventCodec

    events, _ = _events(args, "1")
    codec = EventCodec()
    encoded = [(e.kafka_key, codec.encode(e)) for e in events]
    tmp = None
    dsn = args.dsn
    if dsn is None:
        tmp = tempfile.mkdtemp(prefix="bench-scale-")
        dsn = "chdb://" + tmp
    load_start = os.getloadavg()
    points = []
    try:
        for partitions, n in args.grid:
            points.append(run_point(args, dsn, encoded, partitions, n))
            print(report(points[-1:]).splitlines()[-1], flush=True)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\n{args.points:,} points in {len(events):,} events ({args.runs} runs, "
        f"{args.keys} keys); {os.cpu_count()} cores; load average at start "
        f"{', '.join(f'{v:.1f}' for v in load_start)}, at end "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}\n"
    )
    print(report(points))
    if args.plot:
        plot(points, args.plot)
    return 0 if all(p.rows == p.points for p in points) else 1


if __name__ == "__main__":
    sys.exit(main())
