"""Import speed: ``runstream import mlflow`` from MLflow's SQLite store into runstream.

    python -m bench.bench_import --kafka 127.0.0.1:9092 --runs 1000 --metrics 10 --points 1000

Builds an MLflow SQLite store of RUNS runs x METRICS metrics x POINTS points (schema made by
MLflow, rows inserted with SQL as ``bench/dataset.py`` does; building is not timed;
``--store`` reuses one), starts the runstream stack as a user runs it, ``runstream up`` in
its own process (``--inline``: in this process, sharing the importer's interpreter), on a
temporary chDB directory and a fresh topic of the given broker, and times:

1. the source read alone: every run and every point of the source read as the import
   reads them (the same calls, in the same order), nothing written;
2. the import: from start until every event is acknowledged by Kafka and applied by ingest
   (the command returns only then), then a second import (finds everything, writes
   nothing);
3. the source read alone once more, so that a change of the machine's load during the
   run shows.

Prints points/s and runs/s of each, the 1-minute load average after each, the CPU time
each phase cost the bench's process (the importer, or the read) and the stack's process
(all its threads, from ``/proc``; not with ``--inline``), the share of the import's
time the source read alone takes, and the problems the imports reported (none expected).
CPU time per point is the steadier figure on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from .dataset import T0, _connect, _indexes_rebuilt, _mlflow_experiment, _mlflow_runs
from .harness import start_stack


def build_store(path: Path, runs: int, metrics: int, points: int) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(f"sqlite:///{path}", str(path.parent / "mlartifacts")).engine.dispose()
    con = _connect(path)
    try:
        with _indexes_rebuilt(con):
            eid = _mlflow_experiment(con, "import-bench", str(path.parent / "mlartifacts"))
            run_ids = sorted(uuid.uuid4().hex for _ in range(runs))
            _mlflow_runs(
                con, eid, run_ids, [f"r{i}" for i in range(runs)], [T0 + i for i in range(runs)]
            )
            con.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES ('lr', ?, ?)",
                [(str(i % 7), r) for i, r in enumerate(run_ids)],
            )
            keys = [f"m{k}" for k in range(metrics)]
            for r in run_ids:
                con.executemany(
                    "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (?, ?, ?, ?, 0, ?)",
                    ((k, 1.0 / (s + 1), T0 + s, s, r) for k in keys for s in range(points)),
                )
                con.executemany(
                    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (?, ?, ?, ?, 0, ?)",
                    ((k, 1.0 / points, T0 + points - 1, points - 1, r) for k in keys),
                )
        con.commit()
    finally:
        con.close()


def read_source(uri: str) -> int:
    """Read every run and every metric point of the store as the import does (the same
    :class:`~runstream.integrations.mlflow.moving.source.Source` calls, in the same order),
    with nothing written anywhere; the number of points."""
    from runstream.integrations.mlflow.moving.source import Source
    from runstream.integrations.mlflow.moving.target import Points

    source = Source(uri)
    total = 0
    for exp in source.experiments():
        for run in source.runs(str(exp.experiment_id)):
            points = Points()
            source.run_points(run.info.run_id, sorted(run.data.metrics), points)
            total += len(points)
    return total


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid``, all its threads (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_import", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--kafka", required=True, help="bootstrap servers of a running broker")
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--metrics", type=int, default=10)
    p.add_argument("--points", type=int, default=1000)
    p.add_argument("--keep", metavar="DIR", help="build the store and chDB here (kept)")
    p.add_argument(
        "--store",
        metavar="FILE",
        help="an MLflow SQLite store this bench built before (not rebuilt)",
    )
    p.add_argument("--inline", action="store_true",
                   help="run the stack in this process (the importer then shares its "
                   "interpreter) instead of `runstream up` in its own")  # fmt: skip
    args = p.parse_args(argv)

    from runstream.integrations.mlflow.moving.moves import import_mlflow

    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-import-"))
    root.mkdir(parents=True, exist_ok=True)
    store = Path(args.store) if args.store else root / "source.db"
    total = args.runs * args.metrics * args.points
    if not args.store:
        t = time.perf_counter()
        build_store(store, args.runs, args.metrics, args.points)
        built = time.perf_counter() - t
        print(f"source: {args.runs} runs x {args.metrics} metrics x {args.points} points = "
              f"{total:,} points, built in {built:.1f} s", flush=True)  # fmt: skip
    suffix = uuid.uuid4().hex[:8]
    topic, database = f"bench.import.{suffix}", f"bench_import_{suffix}"
    with contextlib.ExitStack() as stack:
        if not args.keep:  # removed last, once the stack stopped
            stack.callback(shutil.rmtree, root, True)
        pid: int | None = None  # the stack's process, when it has its own
        if args.inline:
            from runstream.infra.stack import Stack, StackSettings

            running = Stack(
                StackSettings(data_dir=root, kafka=args.kafka, address="127.0.0.1:0",
                              topic=topic, database=database)
            ).start()  # fmt: skip
            stack.callback(running.stop)
            address = running.address
        else:
            server, address = start_stack(stack, root / "stack", args.kafka, root,
                                          ["--topic", topic, "--database", database])  # fmt: skip
            pid = server.proc.pid
        uri, source = f"runstream://{address}", f"sqlite:///{store}"
        rows, problems = [], []
        for label in ("source read alone", "import", "again", "source read alone, after"):
            t, cpu = time.perf_counter(), time.process_time()
            stack_cpu = _cpu_seconds(pid) if pid is not None else 0.0
            if label.startswith("source read"):
                points, runs, written = read_source(source), args.runs, 0
            else:
                summary = import_mlflow(source, uri, out=io.StringIO())
                points = summary.written["metric point"] + summary.present["metric point"]
                runs = summary.written["run"] + summary.present["run"]
                written = summary.written["metric point"]
                problems += [(label, p) for p in summary.problems]
            seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
            stack_cpu = _cpu_seconds(pid) - stack_cpu if pid is not None else 0.0
            rows.append((label, seconds, points / seconds, runs / seconds, written,
                         os.getloadavg()[0], cpu, stack_cpu))  # fmt: skip
        where = "in this process" if args.inline else "`runstream up`, its own process"
        print(f"stack: {where}; cpus: {os.cpu_count()}")
        # CPU seconds of the phase: this process (the importer, or the read alone) and the
        # stack's (0 with --inline: then in this process's); and both per point, in us
        print(f"{'phase':<24}{'seconds':>9}{'points/s':>12}{'runs/s':>9}{'written':>12}"
              f"{'load 1m':>9}{'cpu':>7}{'stack cpu':>11}{'us/point':>10}")  # fmt: skip
        for label, seconds, pps, rps, written, load, cpu, stack_cpu in rows:
            per = (cpu + stack_cpu) / total * 1e6
            print(f"{label:<24}{seconds:>9.1f}{pps:>12,.0f}{rps:>9.1f}{written:>12,}"
                  f"{load:>9.1f}{cpu:>7.1f}{stack_cpu:>11.1f}{per:>10.2f}")  # fmt: skip
        read, full = (rows[0][1] + rows[3][1]) / 2, rows[1][1]
        print(f"the source read (the mean of the two) is {read / full:.0%} of the import's time")
        # what the imports reported skipped (a refused write skips the rest of its run, and
        # the next import sends it): none expected
        print(f"problems reported: {len(problems)}")
        for label, found in problems[:10]:
            print(f"  {label}: {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
