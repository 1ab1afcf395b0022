"""Read-side benchmark: runstream's query service against MLflow's SQLite store.

    python bench/bench_query.py                          # 10k, 100k, 1M runs (a few minutes)
    python bench/bench_query.py --sizes 10000 --reps 10  # quick
    python bench/bench_query.py --mlflow-sizes 10000,100000 --mlflow-budget 120

Measured, as medians over --reps calls after warm-up:
* SearchRuns with a metric-and-param filter and an order_by, one page (--page runs), over
  N runs with 20 params and 10 metric keys each: runstream's service in process, the same
  call through gRPC, and MLflow's ``MlflowClient.search_runs`` on SQLite (at the sizes in
  --mlflow-sizes that MLflow finishes within --mlflow-budget seconds);
* the chart of a 1M-point series sampled to 1,000 points (runstream: M4, keeps extremes)
  and MLflow's own sampler (``get_metric_history_bulk_interval``, even sampling) on the
  same series.

Both sides get identical rows: runstream's tables (from ingest's migrations) are filled in
bulk inside ClickHouse (INSERT ... SELECT over numbers(), deterministic hashes of the row
number), and MLflow's SQLite tables get the same rows read back (executemany).
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

EXPERIMENT = "1"
PARAMS, METRICS = 20, 10
CARDINALITY = (2, 5, 10, 100, 1000)
FILTER = "metrics.m1 < 0.5 and params.p2 = 'v3'"
ORDER_BY = ["metrics.m2 DESC"]
SERIES_RUN, SERIES_KEY = "f" * 32, "curve"
T0 = 1_750_000_000_000


def migrations() -> list[str]:
    root = resources.files("runstream.ingest") / "migrations"
    out = []
    for name in sorted(p.name for p in root.iterdir() if p.name.endswith(".sql")):
        for chunk in (root / name).read_text().split("\n;\n"):
            code = "\n".join(ln for ln in chunk.splitlines() if not ln.strip().startswith("--"))
            if code.strip().strip(";").strip():
                out.append(chunk.strip().rstrip(";"))
    return out


# Deterministic rows, generated inside ClickHouse (INSERT ... SELECT over numbers(): bulk
# and columnar, no per-row Python); MLflow's SQLite store gets the very same rows, read back.
RUN_ID = "lower(hex(MD5(toString(number))))"
GEN_RUNS = f"""
INSERT INTO runs (run_id, experiment_id, run_name, user_id, status, start_time, end_time,
                  artifact_uri, lifecycle_stage, parent_run_id, deleted_time, version)
SELECT {RUN_ID}, '{EXPERIMENT}', concat('run-', toString(number)), 'bench', 'FINISHED',
       {T0} + number * 1000 + cityHash64(number, 'start') % 1000 AS st, st + 60000, '',
       'active', '', NULL, 1
FROM numbers({{lo:UInt64}}, {{count:UInt64}})
"""
GEN_PARAMS = f"""
INSERT INTO params (experiment_id, run_id, key, value)
SELECT '{EXPERIMENT}', {RUN_ID}, concat('p', toString(k)),
       concat('v', toString(cityHash64(number, k) % [2, 5, 10, 100, 1000][k % 5 + 1]))
FROM numbers({{lo:UInt64}}, {{count:UInt64}}) ARRAY JOIN range({PARAMS}) AS k
"""
GEN_METRICS = f"""
INSERT INTO latest_metrics (experiment_id, key, run_id, latest, min_value, max_value, count)
SELECT '{EXPERIMENT}', concat('m', toString(k)), {RUN_ID},
       tuple(toInt64(100), toInt64({T0}), v), v, v, 1
FROM (SELECT number, k, (cityHash64(number, 100 + k) % 1000000) / 1e6 AS v
      FROM numbers({{lo:UInt64}}, {{count:UInt64}}) ARRAY JOIN range({METRICS}) AS k)
"""
GEN_TAGS = f"""
INSERT INTO tags (experiment_id, run_id, key, value, version, is_deleted)
SELECT '{EXPERIMENT}', {RUN_ID}, 'mlflow.runName', concat('run-', toString(number)), 1, 0
FROM numbers({{lo:UInt64}}, {{count:UInt64}})
"""
GEN_SERIES = f"""
INSERT INTO metrics (experiment_id, run_id, key, step, timestamp, value)
SELECT '{EXPERIMENT}', '{SERIES_RUN}', '{SERIES_KEY}', number, {T0} + number * 10,
       exp(-number / ({{n:UInt64}} / 5)) + (cityHash64(number, 'noise') % 1000) / 50000
       + if(cityHash64(number, 'spike') % 50000 = 0, 5, 0)
FROM numbers({{n:UInt64}})
"""
CHUNK = 500_000


# -- runstream ------------------------------------------------------------------------
def load_runstream(client: Any, n: int, series_points: int) -> None:
    for stmt in migrations():
        client.command(stmt)
    for lo in range(0, n, CHUNK):
        params = {"lo": lo, "count": min(CHUNK, n - lo)}
        for sql in (GEN_RUNS, GEN_PARAMS, GEN_METRICS, GEN_TAGS):
            client.command(sql, parameters=params)
    if series_points:
        client.command(
            "INSERT INTO runs (run_id, experiment_id, run_name, user_id, status, start_time, "
            "lifecycle_stage, version) VALUES "
            f"('{SERIES_RUN}', '{EXPERIMENT}', 'series', 'bench', 'FINISHED', {T0}, 'active', 1)"
        )
        client.command(GEN_SERIES, parameters={"n": series_points})
        client.command(  # the summary row ingest writes next to the points
            "INSERT INTO latest_metrics (experiment_id, key, run_id, latest, min_value, "
            "max_value, count) SELECT experiment_id, key, run_id, "
            "max(tuple(step, timestamp, value)), min(value), max(value), count() FROM metrics "
            "GROUP BY experiment_id, key, run_id"
        )


def settle(client: Any, limit_s: float = 120.0) -> int:
    """Wait for background merges to finish; returns the number of active parts."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if (
            client.query(
                "SELECT count() FROM system.merges WHERE database = currentDatabase()"
            ).result_rows[0][0]
            == 0
        ):
            break
        time.sleep(1)
    return int(
        client.query(
            "SELECT count() FROM system.parts WHERE database = currentDatabase() AND active"
        ).result_rows[0][0]
    )


# -- MLflow (SQLite) ------------------------------------------------------------------
def load_mlflow(path: Path, ch: Any, n: int, series_points: int) -> Any:
    """MLflow's SQLite store with the rows of runstream's tables (read back from ClickHouse)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    exp_id = client.create_experiment("bench")
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous = OFF")

    def rows(sql: str) -> Any:
        with ch.query_row_block_stream(sql) as stream:
            for block in stream:
                yield from block

    con.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
        f"experiment_id) VALUES (?, ?, 'LOCAL', '', '', ?, ?, ?, ?, '', ?, ?, {int(exp_id)})",
        rows(
            "SELECT run_id, run_name, user_id, status, start_time, end_time, lifecycle_stage, "
            "artifact_uri FROM runs FINAL"
        ),
    )
    con.executemany(
        "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
        rows("SELECT key, value, run_id FROM params"),
    )
    latest = (
        "SELECT key, tupleElement(latest, 3), tupleElement(latest, 2), "
        "tupleElement(latest, 1), run_id FROM latest_metrics"
    )
    con.executemany(
        "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
        "VALUES (?, ?, ?, ?, 0, ?)",
        rows(latest),
    )
    con.executemany(  # the runs' single points (the long series is copied below)
        "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
        "VALUES (?, ?, ?, ?, 0, ?)",
        rows(f"{latest} WHERE run_id != '{SERIES_RUN}'"),
    )
    con.executemany(
        "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
        rows("SELECT key, value, run_id FROM tags"),
    )
    if series_points:
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (?, ?, ?, ?, 0, ?)",
            rows("SELECT key, value, timestamp, step, run_id FROM metrics"),
        )
    con.commit()
    con.close()
    return client, exp_id


# -- measuring ------------------------------------------------------------------------
def median_ms(fn: Callable[[], Any], reps: int, budget_s: float = math.inf) -> tuple[float, int]:
    fn()  # warm-up
    times: list[float] = []
    started = time.monotonic()
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if time.monotonic() - started > budget_s:
            break
    return statistics.median(times) * 1000, len(times)


def bench_size(n: int, args: argparse.Namespace, report: list[str]) -> None:
    import clickhouse_connect

    series_points = args.series_points if n == args.series_at else 0
    with tempfile.TemporaryDirectory(dir=args.data_dir) as tmp:
        dsn = f"chdb://{Path(tmp) / 'ch'}"
        t = time.perf_counter()
        boot = clickhouse_connect.get_client(dsn=dsn)
        boot.command("CREATE DATABASE IF NOT EXISTS bench")
        client = clickhouse_connect.get_client(dsn=dsn, database="bench")
        load_runstream(client, n, series_points)
        parts = settle(client)
        print(
            f"[{n:>9,} runs] runstream load {time.perf_counter() - t:.1f} s, {parts} parts",
            file=sys.stderr,
        )
        bench_runstream(n, dsn, series_points, args, report)
        if n in args.mlflow_sizes:
            bench_mlflow(n, client, Path(tmp), series_points, args, report)
        client.close()
        boot.close()


def bench_runstream(
    n: int, dsn: str, series_points: int, args: argparse.Namespace, report: list[str]
) -> None:
    from runstream.proto.endpoints import ChannelOptions
    from runstream.proto.rpc import open_channel
    from runstream.proto.v1 import query_pb2, query_pb2_grpc
    from runstream.query import QueryServer, QuerySettings, RunSelection, SeriesRequest

    settings = QuerySettings(
        clickhouse=dsn, database="bench", address="127.0.0.1:0", create_views=False
    )
    server = QueryServer(settings).start()
    svc = server.service
    channel = open_channel(ChannelOptions(server.address))
    stub = query_pb2_grpc.QueryServiceStub(channel)
    try:
        sel = RunSelection((EXPERIMENT,), FILTER)
        matching = sum(svc.count_runs_by_status(sel).values())
        assert len(svc.search_runs(sel, ORDER_BY, args.page).items) == min(args.page, matching)
        ms, k = median_ms(lambda: svc.search_runs(sel, ORDER_BY, args.page), args.reps, args.budget)
        what = f"SearchRuns, {n:,} runs ({matching:,} match), page {args.page}"
        report.append(f"| {what} | runstream, service call | {ms:.1f} ms | {k} |")
        req = query_pb2.SearchRunsRequest(
            experiment_ids=[EXPERIMENT], filter=FILTER, order_by=ORDER_BY, max_results=args.page
        )
        ms, k = median_ms(lambda: stub.SearchRuns(req), args.reps, args.budget)
        report.append(f"| {what} | runstream, gRPC | {ms:.1f} ms | {k} |")
        if series_points:
            what = f"chart: {series_points:,}-point series -> 1,000 points"
            sreq = SeriesRequest(SERIES_KEY, 1000)
            got = svc.sampled_history([SERIES_RUN], sreq)[0]
            assert got.sampled and len(got.steps) <= 1000 and max(got.values) > 5
            ms, k = median_ms(
                lambda: svc.sampled_history([SERIES_RUN], sreq), args.reps, args.budget
            )
            report.append(f"| {what} | runstream M4, service call | {ms:.1f} ms | {k} |")
            hreq = query_pb2.GetSampledMetricHistoryRequest(
                run_id=SERIES_RUN, metric_key=SERIES_KEY, max_points=1000
            )
            ms, k = median_ms(lambda: stub.GetSampledMetricHistory(hreq), args.reps, args.budget)
            report.append(f"| {what} | runstream M4, gRPC | {ms:.1f} ms | {k} |")
    finally:
        channel.close()
        server.stop(grace=1)


def bench_mlflow(
    n: int, ch: Any, tmp: Path, series_points: int, args: argparse.Namespace, report: list[str]
) -> None:
    t = time.perf_counter()
    client, exp_id = load_mlflow(tmp / "mlflow.db", ch, n, series_points)
    print(f"[{n:>9,} runs] MLflow load {time.perf_counter() - t:.1f} s", file=sys.stderr)

    def search() -> Any:
        return client.search_runs([exp_id], FILTER, max_results=args.page, order_by=ORDER_BY)

    t = time.perf_counter()
    assert len(search()) > 0
    once = time.perf_counter() - t
    what = f"SearchRuns, {n:,} runs, page {args.page}"
    if once * 3 > args.mlflow_budget:
        report.append(f"| {what} | MLflow SQLite | {once * 1000:.0f} ms | 1 |")
    else:
        ms, k = median_ms(search, args.reps, args.mlflow_budget)
        report.append(f"| {what} | MLflow SQLite | {ms:.1f} ms | {k} |")
    if series_points:
        store = client._tracking_client.store
        ms, k = median_ms(
            lambda: store.get_metric_history_bulk_interval(
                [SERIES_RUN], SERIES_KEY, 1000, None, None
            ),
            args.reps,
            args.mlflow_budget,
        )
        report.append(
            f"| chart: {series_points:,}-point series -> 1,000 points | "
            f"MLflow SQLite sampler (even) | {ms:.1f} ms | {k} |"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument(
        "--mlflow-sizes",
        default="10000,100000",
        help="sizes at which MLflow's SQLite store is measured too",
    )
    p.add_argument(
        "--mlflow-budget",
        type=float,
        default=60.0,
        help="seconds of MLflow search calls per size (fewer reps when slow)",
    )
    p.add_argument("--reps", type=int, default=21)
    p.add_argument(
        "--budget",
        type=float,
        default=20.0,
        help="seconds per runstream measurement (fewer reps when slow)",
    )
    p.add_argument("--page", type=int, default=100, help="max_results of each search")
    p.add_argument("--series-points", type=int, default=1_000_000)
    p.add_argument(
        "--series-at",
        type=int,
        default=100_000,
        help="the size whose dataset also holds the long series",
    )
    p.add_argument("--data-dir", default=None, help="where temporary data directories go")
    args = p.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.mlflow_sizes = {int(s) for s in args.mlflow_sizes.split(",") if s}
    report = ["| what | system | p50 | calls |", "|---|---|---|---|"]
    t = time.perf_counter()
    for n in args.sizes:
        bench_size(n, args, report)
    print("\n".join(report))
    print(
        f"\nfilter: {FILTER!r}, order_by: {ORDER_BY}, {PARAMS} params and {METRICS} metric "
        f"keys per run; total {time.perf_counter() - t:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
