"""Bytes per metric point, and insert and read speed, before and after the column codecs.

    python -m bench.storage                          # 20 runs x 10 keys x 5,000 steps
    python -m bench.storage --runs 50 --steps 20000 --repeats 5

Builds two databases in one chDB directory (a temporary one by default): ``before`` with
every ingest migration except 0010 (the column codecs), ``after`` with all of them, so
the two metrics tables differ by the codecs alone.  For two workloads of the same shape
(runs x keys x steps points; the keys of one step share a timestamp 80-120 ms after the
previous step's):

* curve: a realistic loss curve, ``a * exp(-step / tau) + b`` plus Gaussian noise (sd
  0.02), cast to float32 (as a framework logs it) and stored as Float64;
* noise: uniform random Float64 values (every mantissa bit random: the worst case);

it inserts the points the way the ingest worker does (an Arrow table with
dictionary-encoded strings, in blocks of --block points) into both tables, alternating
which goes first, --repeats times (each repeat into fresh tables; the median is
reported); then merges the last tables (OPTIMIZE FINAL) and reads:

* bytes per point: the compressed bytes of each column (``system.columns``) and every
  byte of the active parts on disk (``system.parts.bytes_on_disk``: columns, marks and
  primary index), over the point count, as written and after the merge;
* reads, with the query service's own SQL: a full series page (``history_page_sql``)
  and an M4-sampled series (``m4_sql``, 1,000 points), plus a scan of every point (min,
  max, count per series): --calls calls each, the two tables' calls interleaved.

Every time is given as wall time and as CPU time of this process (chDB runs in it, so its
threads count): on a shared machine the CPU figure is the steadier one.

Prints a markdown table.  Timings are on whatever else the machine is doing: the load
average at start and end is printed with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

CODEC_VERSION = 10  # the migration under test
WORKLOADS = ("curve", "noise")


@dataclass
class Shape:
    runs: int
    keys: int
    steps: int

    @property
    def points(self) -> int:
        return self.runs * self.keys * self.steps


def make_columns(shape: Shape, workload: str, seed: int = 7) -> dict[str, np.ndarray]:
    """Point columns in the table's sort order: run, key, step."""
    rng = np.random.default_rng(seed)
    n = shape.points
    run = np.repeat(np.arange(shape.runs), shape.keys * shape.steps)
    key = np.tile(np.repeat(np.arange(shape.keys), shape.steps), shape.runs)
    step = np.tile(np.arange(shape.steps, dtype=np.int64), shape.runs * shape.keys)
    start = 1_760_000_000_000 + np.arange(shape.runs, dtype=np.int64) * 86_400_000
    stamps = start[:, None] + rng.integers(80, 121, (shape.runs, shape.steps)).cumsum(axis=1)
    timestamp = stamps[run, step].astype(np.int64)
    if workload == "curve":
        a = rng.uniform(1.0, 3.0, (shape.runs, shape.keys))
        tau = rng.uniform(0.1, 0.6, (shape.runs, shape.keys)) * shape.steps
        b = rng.uniform(0.05, 0.3, (shape.runs, shape.keys))
        loss = a[run, key] * np.exp(-step / tau[run, key]) + b[run, key]
        value = (loss + rng.normal(0.0, 0.02, n)).astype(np.float32).astype(np.float64)
    elif workload == "noise":
        value = rng.random(n)
    else:
        raise ValueError(f"unknown workload {workload!r}")
    return {"run": run, "key": key, "step": step, "timestamp": timestamp, "value": value}


def _arrow_blocks(shape: Shape, cols: dict[str, np.ndarray], block: int) -> list:
    import pyarrow as pa

    run_ids = pa.array([f"{r:032x}" for r in range(shape.runs)])
    keys = pa.array([f"metric_{k}" for k in range(shape.keys)])
    table = pa.Table.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(shape.points, np.int32)), ["1"]),
            pa.DictionaryArray.from_arrays(pa.array(cols["run"].astype(np.int32)), run_ids),
            pa.DictionaryArray.from_arrays(pa.array(cols["key"].astype(np.int32)), keys),
            pa.array(cols["step"]),
            pa.array(cols["timestamp"]),
            pa.array(cols["value"]),
        ],
        names=["experiment_id", "run_id", "key", "step", "timestamp", "value"],
    )
    return [table.slice(i, block) for i in range(0, shape.points, block)]


def _database(dsn: str, name: str, with_codecs: bool) -> object:
    import clickhouse_connect

    from runstream.ingest.migrations import apply_migrations, load_migrations

    boot = clickhouse_connect.get_client(dsn=dsn)
    boot.command(f"DROP DATABASE IF EXISTS {name}")
    boot.command(f"CREATE DATABASE {name}")
    boot.close()
    client = clickhouse_connect.get_client(dsn=dsn, database=name)

    class Runner:
        def command(self, sql: str) -> None:
            client.command(sql)

        def rows(self, sql: str) -> list[tuple[object, ...]]:
            return [tuple(r) for r in client.query(sql).result_rows]

    migrations = [m for m in load_migrations() if with_codecs or m.version != CODEC_VERSION]
    apply_migrations(Runner(), migrations)
    return client


def _bytes(client, database: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    found = {
        str(name): float(size)
        for name, size in client.query(
            "SELECT name, data_compressed_bytes FROM system.columns "
            f"WHERE database = '{database}' AND table = 'metrics'"
        ).result_rows
    }
    found["on disk"] = float(
        client.command(
            "SELECT sum(bytes_on_disk) FROM system.parts "
            f"WHERE active AND database = '{database}' AND table = 'metrics'"
        )
    )
    return found


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call (chDB runs in this process: its threads' CPU is
    counted, so the CPU figure does not depend on what else the machine runs)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _queries(client, shape: Shape) -> dict[str, Callable[[], object]]:  # type: ignore[no-untyped-def]
    from runstream.query.entities import XAxis
    from runstream.query.history_sql import Bucketing, history_page_sql, m4_sql

    run_id, key = f"{shape.runs // 2:032x}", f"metric_{shape.keys // 2}"
    page = history_page_sql("1", run_id, key, shape.steps, None)
    width = max(1, -(-shape.steps // 250))
    m4 = m4_sql(["1"], key, XAxis.STEP, None, None, Bucketing([run_id], [0], [width]))
    scan = "SELECT run_id, key, min(value), max(value), count() FROM metrics GROUP BY run_id, key"

    def run(sql) -> int:  # type: ignore[no-untyped-def]
        return len(client.query(sql.text, parameters=sql.params, settings=sql.settings).result_rows)

    if run(page) != shape.steps:
        raise SystemExit("the full series page did not return every step")
    return {
        "full series": lambda: run(page),
        "M4-sampled series": lambda: run(m4),
        "scan of every point": lambda: client.query(scan).result_rows,
    }


def _reads(clients: dict[str, object], shape: Shape, calls: int) -> dict[str, dict[str, float]]:
    """Median wall and CPU ms per read, the two sides' calls interleaved (same load)."""
    queries = {side: _queries(c, shape) for side, c in clients.items()}
    out: dict[str, dict[str, float]] = {side: {} for side in clients}
    for name in next(iter(queries.values())):
        samples: dict[str, list[tuple[float, float]]] = {side: [] for side in clients}
        for side in clients:
            queries[side][name]()  # warm-up
        for i in range(calls):
            sides = list(clients) if i % 2 == 0 else list(reversed(list(clients)))
            for side in sides:
                samples[side].append(_timed(queries[side][name]))
        for side, got in samples.items():
            out[side][f"read: {name}, wall ms"] = statistics.median(w for w, _ in got) * 1000
            out[side][f"read: {name}, CPU ms"] = statistics.median(c for _, c in got) * 1000
    return out


def measure(dsn: str, shape: Shape, workload: str, repeats: int, block: int, calls: int) -> dict:
    cols = make_columns(shape, workload)
    blocks = _arrow_blocks(shape, cols, block)
    inserts: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    clients: dict[str, object] = {}
    for r in range(repeats):
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        for side in order:
            name = f"storage_{workload}_{side}"
            client = _database(dsn, name, with_codecs=side == "after")

            def insert(c=client) -> None:  # type: ignore[no-untyped-def]
                for part in blocks:
                    c.insert_arrow("metrics", part)

            inserts[side].append(_timed(insert))
            if r < repeats - 1:
                client.close()  # type: ignore[attr-defined]
            else:
                clients[side] = client
    out: dict = {}
    for side in ("before", "after"):
        client = clients[side]
        name = f"storage_{workload}_{side}"
        written = _bytes(client, name)
        client.command("OPTIMIZE TABLE metrics FINAL")  # type: ignore[attr-defined]
        merged = _bytes(client, name)
        count = int(client.command("SELECT count() FROM metrics"))  # type: ignore[attr-defined]
        if count != shape.points:
            raise SystemExit(f"{name}: {count} rows, expected {shape.points}")
        wall = statistics.median(w for w, _ in inserts[side])
        cpu = statistics.median(c for _, c in inserts[side])
        out[side] = {
            "insert: points/s (wall)": shape.points / wall,
            "insert: CPU s per million points": cpu / shape.points * 1e6,
            "written": {k: v / count for k, v in written.items()},
            "merged": {k: v / count for k, v in merged.items()},
        }
    for side, figures in _reads(clients, shape, calls).items():
        out[side].update(figures)
    for client in clients.values():
        client.close()  # type: ignore[attr-defined]
    return out


def _row(label: str, before: float, after: float, fmt: str) -> str:
    ratio = after / before if before else float("nan")
    return f"| {label} | {before:{fmt}} | {after:{fmt}} | {ratio:.2f}× |"


def report(shape: Shape, results: dict[str, dict]) -> str:
    lines = []
    for workload, sides in results.items():
        b, a = sides["before"], sides["after"]
        lines += [
            f"**{workload}** ({shape.points:,} points: {shape.runs} runs × {shape.keys} keys "
            f"× {shape.steps:,} steps)",
            "",
            "| figure | before (LZ4) | after (0010 codecs) | after ÷ before |",
            "|---|---:|---:|---:|",
            _row("bytes per point on disk, as written", b["written"]["on disk"],
                 a["written"]["on disk"], ".2f"),
            _row("bytes per point on disk, merged", b["merged"]["on disk"],
                 a["merged"]["on disk"], ".2f"),
        ]  # fmt: skip
        for column in ("experiment_id", "run_id", "key", "step", "timestamp", "value"):
            if b["merged"][column] and a["merged"][column]:  # 0 in a compact (small) part
                lines.append(
                    _row(f"— `{column}`, merged", b["merged"][column], a["merged"][column], ".2f")
                )
        lines.append(_row("insert: points/s (wall, median)", b["insert: points/s (wall)"],
                          a["insert: points/s (wall)"], ",.0f"))  # fmt: skip
        key = "insert: CPU s per million points"
        lines.append(_row(key + " (median)", b[key], a[key], ".2f"))
        for figure in [k for k in b if k.startswith("read: ")]:
            lines.append(_row(f"{figure} (median)", b[figure], a[figure], ".1f"))
        lines.append("")
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.storage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--runs", type=int, default=20, help="runs (default: 20)")
    p.add_argument("--keys", type=int, default=10, help="metric keys per run (default: 10)")
    p.add_argument("--steps", type=int, default=5_000, help="steps per series (default: 5000)")
    p.add_argument("--repeats", type=int, default=3, help="insert repeats (default: 3)")
    p.add_argument("--block", type=int, default=100_000, help="points per insert (default: 100000)")
    p.add_argument("--calls", type=int, default=20, help="timed calls per read (default: 20)")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="curve,noise (default: both)")
    p.add_argument("--dsn", default=None, help="chdb:///DIR (default: a temporary directory)")
    args = p.parse_args(argv)
    for name in ("runs", "keys", "steps", "repeats", "block", "calls"):
        if getattr(args, name) <= 0:
            p.error(f"--{name} must be positive")
    args.workloads = [w for w in args.workloads.split(",") if w]
    if not args.workloads or set(args.workloads) - set(WORKLOADS):
        p.error(f"--workloads: choose from {', '.join(WORKLOADS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    shape = Shape(args.runs, args.keys, args.steps)
    tmp = None
    dsn = args.dsn
    if dsn is None:
        tmp = tempfile.mkdtemp(prefix="bench-storage-")
        dsn = "chdb://" + tmp
    load_start = os.getloadavg()
    started = time.time()
    try:
        results = {
            w: measure(dsn, shape, w, args.repeats, args.block, args.calls) for w in args.workloads
        }
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    load_end = os.getloadavg()
    print(report(shape, results))
    print(
        f"{os.cpu_count()} cores; load average (1, 5, 15 min) at start "
        f"{', '.join(f'{v:.1f}' for v in load_start)}, at end "
        f"{', '.join(f'{v:.1f}' for v in load_end)}; {time.time() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
