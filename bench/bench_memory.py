"""Memory of runstream's server side (the stack process and the Kafka broker), phase by phase.

    python -m bench.bench_memory                       # the bench's workload: 3 x 2M points
    python -m bench.bench_memory --points 10000000 --repeats 1   # the 10M-point load

Starts a Kafka broker on free ports (or uses --kafka), loads the search and history tables
with the bench's own loader (``bench.dataset``, --runs-sizes), starts the stack
(``runstream up``) as a subprocess and reads ``VmRSS`` and ``VmHWM`` of both processes from
``/proc/PID/status`` every 0.2 s, then:

  1. start: the stack's resident set once it listens;
  2. ingest: --repeats training processes (``bench.trainer``, as figure 1 of ``python -m
     bench``) each log --points points straight to Kafka and read them back with the flush's
     write token; the rate of each is printed beside the memory;
  3. reads: the bench's search (every --runs-sizes size), the full 100,000-point history
     (columnar) and the 1,000,000-point series sampled to 1,000 points, --calls times each.

Prints, per phase, the stack's resident set at its end and its peak so far, the broker's
peak, and the server side in total (stack peak + broker peak).  Every knob of the stack and
the broker comes from the environment as usual (``RUNSTREAM_INGEST_BATCH_POINTS``,
``RUNSTREAM_KAFKA_HEAP``, ``RUNSTREAM_CHDB_*``, see docs/configuration.md), so
``RUNSTREAM_INGEST_BATCH_POINTS=100000 python -m bench.bench_memory`` measures that setting.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import dataset, harness

MB = 1024 * 1024
DATABASE = "runstream"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.bench_memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--points", type=int, default=2_000_000,
                   help="points per training process (default: 2000000)")  # fmt: skip
    p.add_argument("--repeats", type=int, default=3,
                   help="training processes, one after the other (default: 3)")  # fmt: skip
    p.add_argument("--batch", type=int, default=1000,
                   help="points per logging call (default: 1000)")  # fmt: skip
    p.add_argument("--runs-sizes", default="1000,10000,100000",
                   help="run counts loaded for the search phase; '' skips loading and "
                   "the reads phase (default: 1000,10000,100000)")  # fmt: skip
    p.add_argument(
        "--history-points",
        default="100000,1000000",
        help="FULL,SAMPLED points of the history series; 0,0 skips loading and the "
        "reads phase (default: 100000,1000000)",
    )
    p.add_argument("--calls", type=int, default=10,
                   help="calls per read in the reads phase (default: 10)")  # fmt: skip
    p.add_argument("--kafka", default=None,
                   help="bootstrap of a running broker (default: start one; its memory is "
                   "then not read)")  # fmt: skip
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return p.parse_args(argv)


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                    out[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError):
        pass
    return out


class Sampler:
    """Reads the processes' resident sets every ``interval`` s in a thread."""

    def __init__(self, pids: dict[str, int], interval: float = 0.2) -> None:
        self.pids = pids
        self.interval = interval
        self.last: dict[str, dict[str, int]] = {}
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="memory-sampler")

    def sample(self) -> None:
        for name, pid in self.pids.items():
            got = _status(pid)
            if got:
                self.last[name] = got
                self.peak[name] = max(self.peak.get(name, 0), got.get("VmHWM", 0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _row(phase: str, sampler: Sampler, note: str = "") -> dict[str, Any]:
    sampler.sample()
    stack = sampler.last.get("stack", {})
    row = {
        "phase": phase,
        "stack_rss_mb": stack.get("VmRSS", 0) / MB,
        "stack_anon_mb": stack.get("RssAnon", 0) / MB,
        "stack_peak_mb": sampler.peak.get("stack", 0) / MB,
        "broker_peak_mb": sampler.peak.get("broker", 0) / MB,
        "note": note,
    }
    row["total_peak_mb"] = row["stack_peak_mb"] + row["broker_peak_mb"]
    print(
        f"{phase:<10} stack now {row['stack_rss_mb']:6.0f} MB (anon {row['stack_anon_mb']:.0f})"
        f", stack peak {row['stack_peak_mb']:6.0f} MB, broker peak "
        f"{row['broker_peak_mb']:5.0f} MB, server side peak {row['total_peak_mb']:6.0f} MB"
        + (f"  [{note}]" if note else ""),
        flush=True,
    )
    return row


def _reads(stub: Any, sizes: list[int], full: int, sampled: int, calls: int) -> str:
    from runstream.proto.v1 import query_pb2

    full_s, sampled_s = dataset.history_series(full, sampled)
    took: dict[str, float] = {}
    for n in sizes:
        runs = dataset.search_runs(n)
        request = query_pb2.SearchRunsRequest(
            experiment_ids=[runs.experiment_id], filter=dataset.FILTER,
            order_by=list(dataset.ORDER_BY), max_results=100,
        )  # fmt: skip
        started = time.perf_counter()
        for _ in range(calls):
            stub.SearchRuns(request)
        took[f"search {n:,}"] = (time.perf_counter() - started) / calls
    history = query_pb2.GetMetricHistoryRequest(run_id=full_s.run_id, metric_key=full_s.key)
    sample = query_pb2.GetSampledMetricHistoryRequest(
        run_id=sampled_s.run_id, metric_key=sampled_s.key, max_points=1000
    )
    for label, fn in (
        ("history", lambda: stub.GetMetricHistoryColumns(history)),
        ("sampled", lambda: stub.GetSampledMetricHistory(sample)),
    ):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        took[label] = (time.perf_counter() - started) / calls
    return ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in took.items())


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sizes = [int(v) for v in args.runs_sizes.split(",") if v.strip()]
    full, sampled = (int(v) for v in args.history_points.split(","))
    rows: list[dict[str, Any]] = []
    print("load average at start:", os.getloadavg(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, contextlib.ExitStack() as es:
        work = Path(tmp)
        logs = work / "logs"
        logs.mkdir()
        pids: dict[str, int] = {}
        if args.kafka:
            bootstrap = args.kafka
        else:
            bootstrap, pids["broker"] = harness.start_kafka(es, work / "kafka")
        stack_dir = work / "stack"
        reads = bool(sizes) and full > 0 and sampled > 0
        if reads:
            spec = {
                "dsn": f"chdb://{(stack_dir / 'clickhouse').resolve()}", "database": DATABASE,
                "sizes": sizes, "full_points": full, "sampled_points": sampled,
            }  # fmt: skip
            harness.run_child("bench.dataset", spec, logs / "load.log", 3600)
        # the trainer's read waits until ingest applied every point: a 10M-point load takes
        # longer than the query service's default cap on such waits (30 s)
        os.environ.setdefault("RUNSTREAM_QUERY_MAX_WAIT", "600")
        server, address = harness.start_stack(es, stack_dir, bootstrap, logs)
        pids["stack"] = server.proc.pid
        sampler = Sampler(pids)
        sampler.start()
        es.callback(sampler.stop)
        time.sleep(2)  # let start-up settle (migrations, views, the consumer's first poll)
        rows.append(_row("start", sampler))
        for rep in range(args.repeats):
            spec = {
                "figure": "throughput", "system": "runstream", "batch": args.batch,
                "points": args.points, "kafka": bootstrap, "topic": _topic(),
                "query": address,
            }  # fmt: skip
            result = harness.run_child("bench.trainer", spec, logs / "trainer.log", 3600)
            note = f"{result['points_per_s']:,.0f} points/s, {result['check']}"
            rows.append(_row(f"ingest {rep + 1}", sampler, note))
        if reads:
            from runstream.proto.endpoints import ChannelOptions
            from runstream.proto.rpc import open_channel
            from runstream.proto.v1 import query_pb2_grpc

            channel = open_channel(ChannelOptions(address, max_message_bytes=256 * MB))
            es.callback(channel.close)
            note = _reads(query_pb2_grpc.QueryServiceStub(channel), sizes, full, sampled,
                          args.calls)  # fmt: skip
            rows.append(_row("reads", sampler, note))
        server.check_alive()
    print("load average at end:", os.getloadavg(), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"options": vars(args) | {"json": str(args.json)},
                                         "rows": rows}, indent=1))  # fmt: skip
    return 0


def _topic() -> str:
    from runstream.proto.vocabulary import DEFAULT_TOPIC

    return DEFAULT_TOPIC


if __name__ == "__main__":
    raise SystemExit(main())
