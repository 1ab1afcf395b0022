"""runstream and MLflow side by side, in one run, on one workload.

    python -m bench                                  # the default run (about 12-15 minutes)
    python -m bench --runs-sizes 1000,10000,100000,1000000 --time-limit 60

Starts a Kafka broker on free ports in a temporary directory, the runstream stack
(``runstream up``) as a subprocess, and ``mlflow server --workers 1`` on SQLite, then
measures, for runstream, MLflow's SQLite store (``MlflowClient("sqlite:///...")``) and
``mlflow server`` (``MlflowClient("http://...")``):

  1. logging throughput from one training process until the points are queryable;
  2. freshness at a steady logging rate: log call -> get_run returns the point, and -> a
     search finds it (p50, p99);
  3. SearchRuns p50 and p99, metric-and-param filter with order_by, at each --runs-sizes;
  4. metric history: a full series, and a long series sampled to 1,000 points;
  5. peak RSS of the server processes and of the training process;
  6. MLflow's REST API through ``mlflow server`` on ``runstream://`` and on SQLite (create
     run, get it right after, log-batch, runs loaded in a row, the same with 8 other
     clients logging), the UI's chart of a 1,000,000-point series, and write-then-read
     through MLflow's client.

Prints the table (each figure for each system and runstream's advantage), writes the
generated block of --out (text outside the block is kept) and the search-latency plot next
to it.  Everything started is stopped on exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from types import FrameType

from . import report
from .compare import Options, Results, run
from .dataset import FILTER, ORDER_BY, PARAMS
from .harness import HarnessError

logger = logging.getLogger(__name__)

TITLE = "Benchmarks: runstream and MLflow side by side"
PLOT_NAME = "search_latency.png"


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v.replace("_", "")) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _history(text: str) -> tuple[int, int]:
    values = _ints(text)
    if len(values) != 2:
        raise argparse.ArgumentTypeError("expected FULL,SAMPLED (two integers)")
    return values[0], values[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    d = Options()
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--runs-sizes",
        type=_ints,
        default=d.sizes,
        metavar="N,N,...",
        help="run counts for the search figure (default: 1000,10000,100000); "
        "each system's tables are loaded directly with SQL inserts",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=d.repeats,
        metavar="N",
        help="throughput runs per system; the median is reported (default: 3)",
    )
    p.add_argument(
        "--calls",
        type=int,
        default=d.calls,
        metavar="N",
        help="timed calls per read figure after one warm-up call, fewer when "
        "--time-limit runs out first (default: 30)",
    )
    p.add_argument(
        "--history-points",
        type=_history,
        default=(d.full_points, d.sampled_points),
        metavar="FULL,SAMPLED",
        help="points of the series read in full, and of the series sampled to "
        "1,000 points (default: 100000,1000000)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=d.time_limit,
        metavar="S",
        help="seconds of timed calls per read figure and system; a system whose "
        "warm-up call alone takes longer is 'not finished' there, and its larger "
        "search sizes are not run (default: 20)",
    )
    p.add_argument(
        "--throughput-points",
        type=int,
        default=d.throughput_points,
        metavar="N",
        help="points per runstream throughput run (default: 2000000)",
    )
    p.add_argument(
        "--mlflow-throughput-points",
        type=int,
        default=d.mlflow_throughput_points,
        metavar="N",
        help="points per MLflow throughput run, store and server "
        "(default: 50000; MLflow logs about 5-10k points/s)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=d.batch,
        metavar="N",
        help="points per logging call in the throughput runs (default: 1000, "
        "MLflow's log_batch limit)",
    )
    p.add_argument(
        "--freshness-seconds",
        type=float,
        default=d.freshness_seconds,
        metavar="S",
        help="length of each freshness session (default: 15)",
    )
    p.add_argument(
        "--freshness-hz",
        type=float,
        default=d.freshness_hz,
        metavar="HZ",
        help="training steps per second in the freshness sessions, 11 points each (default: 20)",
    )
    p.add_argument(
        "--freshness-load-points",
        type=int,
        default=d.freshness_load_points,
        metavar="N",
        help="points/s of a second, runstream-only freshness session (MLflow cannot log "
        "that fast; default: 100000; 0: skip it)",
    )
    p.add_argument(
        "--page",
        type=int,
        default=d.page,
        metavar="N",
        help="max_results of each search (default: 100)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("docs/benchmarks.md"),
        help="report to write; the plot goes to <out dir>/benchmarks/"
        f"{PLOT_NAME} (default: docs/benchmarks.md)",
    )
    p.add_argument(
        "--no-report",
        action="store_true",
        help="print the table only; write neither the report nor the plot",
    )
    p.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="also write every figure and option as JSON to PATH",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="parent of the temporary work directory (default: the system's)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (data, logs) instead of removing it",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log runstream's own steps")
    args = p.parse_args(argv)
    for name in ("repeats", "calls", "throughput_points", "mlflow_throughput_points",
                 "batch", "page"):  # fmt: skip
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.freshness_load_points < 0:
        p.error("--freshness-load-points must be 0 or more")
    if args.time_limit <= 0 or args.freshness_seconds <= 0 or args.freshness_hz <= 0:
        p.error("--time-limit, --freshness-seconds and --freshness-hz must be positive")
    return args


def command_line(options: Options, out: Path) -> str:
    """The command that regenerates this report: the measurement flags that differ from
    the defaults (no paths of this machine; --out only when it is a relative path)."""
    d = Options()
    flags = {
        "--runs-sizes": (",".join(map(str, options.sizes)), ",".join(map(str, d.sizes))),
        "--repeats": (options.repeats, d.repeats),
        "--calls": (options.calls, d.calls),
        "--history-points": (
            f"{options.full_points},{options.sampled_points}",
            f"{d.full_points},{d.sampled_points}",
        ),
        "--time-limit": (options.time_limit, d.time_limit),
        "--throughput-points": (options.throughput_points, d.throughput_points),
        "--mlflow-throughput-points": (
            options.mlflow_throughput_points, d.mlflow_throughput_points,
        ),
        "--batch": (options.batch, d.batch),
        "--freshness-seconds": (options.freshness_seconds, d.freshness_seconds),
        "--freshness-hz": (options.freshness_hz, d.freshness_hz),
        "--freshness-load-points": (options.freshness_load_points, d.freshness_load_points),
        "--page": (options.page, d.page),
    }  # fmt: skip
    parts = ["python -m bench"]
    parts += [f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}"
              for flag, (value, default) in flags.items() if value != default]  # fmt: skip
    if not out.is_absolute() and out != Path("docs/benchmarks.md"):
        parts.append(f"--out {out}")
    return " ".join(parts)


def generated_markdown(results: Results, command: str, plot: str) -> str:
    o = results.options
    rows = sorted(results.rows, key=lambda r: r.figure)
    lines = [
        f"Generated by `{command}` (run from the repository root) on "
        f"{results.facts.get('date', '?')}, in {results.seconds / 60:.1f} minutes. "
        "Regenerate with the same command; no figure below is typed by hand.",
        "",
        "**Machine** (shared with other work while measured: figures are noisy, read the medians)",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in results.facts.items()),
        "",
        '**Figures.** "runstream ahead by" is MLflow ÷ runstream for times and memory and '
        "runstream ÷ MLflow for throughput: above 1× runstream is better, below 1× MLflow "
        "is. `n` is the number of samples behind a value (runs, calls or logged steps); a "
        "p99 of fewer than 100 samples is close to their maximum.",
        "",
        *report.table(rows),
        "",
        f"![Search latency against run count]({plot})",
        "",
        "**What was measured**",
        "",
        f"1. Throughput: one training process (a subprocess) logs one run's points, 10 "
        f"metric keys, {o.batch:,} points per call (runstream: `log_metric_columns` "
        "straight to Kafka; MLflow: `log_batch` of `Metric` objects). runstream's clock "
        "stops when a read carrying the `flush()` write token returns (SDK -> Kafka -> "
        "ingest -> chDB -> query service); MLflow's when the last `log_batch` returns (its "
        "points are committed, so queryable). Both then check that every point of one key "
        "is readable. The systems log different totals "
        f"({o.throughput_points:,} and {o.mlflow_throughput_points:,} points), so that each "
        "run lasts a few seconds.",
        f"2. Freshness: a writer thread logs one step ({o.freshness_hz:g} steps/s, "
        f"{o.freshness_seconds:g} s, 10 keys + a `probe` key whose value is the step); a "
        "reader thread in the same process polls the run's latest `probe` value "
        "(runstream: GetRun over gRPC without a write token, which shows points ingest has "
        "polled and not yet applied; MLflow: `get_run`) and stamps each step when a poll "
        "first shows it; a second session polls a search instead (`metrics.probe >= 0`: "
        "runstream's SearchRuns, like GetRun, reflects the points ingest has polled; "
        "MLflow: `search_runs`). "
        "runstream's SDK and ingest run with their default batching settings. Then "
        "runstream alone logs "
        f"{o.freshness_load_points:,} points/s the same way (the rows under load; "
        "MLflow's logging does not reach that rate).",
        f"3. Search: `{FILTER}`, order_by `{', '.join(ORDER_BY)}`, max_results "
        f"{o.page}, over an experiment of N runs with {PARAMS} params and 10 metric keys "
        "each (identical rows for both systems). The rows are written straight into each "
        "system's own tables (runstream: column inserts into the ingest tables; MLflow: "
        "SQL inserts into the SQLite schema MLflow created), because loading 100k runs "
        "through either API takes far longer than the measurement. runstream holds every "
        "size in one database (an experiment per size); MLflow gets one SQLite file per "
        "size, served by its own `mlflow server`. One warm-up call, then up to "
        f"{o.calls} calls within {o.time_limit:g} s per size and system.",
        f"4. History: all {o.full_points:,} points of one series (runstream: "
        "GetMetricHistoryColumns, the columnar answer, pages of 100,000; MLflow: "
        "`get_metric_history`), and a "
        f"{o.sampled_points:,}-point series sampled to 1,000 points (runstream: "
        "GetSampledMetricHistory, M4 buckets that keep each bucket's first, last, minimum "
        "and maximum; MLflow: `get_metric_history_bulk_interval`, even sampling in SQL — "
        "through the store object for the SQLite variant, through the "
        "`metrics/get-history-bulk-interval` REST endpoint for the server). The series "
        "are loaded directly into both systems' tables.",
        "5. Memory: peak resident set (`VmHWM` in `/proc/PID/status`) of each process, "
        "read before it stops. The runstream stack process held ingest and the query "
        "service for every figure above; each `mlflow server` ran with `--workers 1` "
        "and `MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false` (its GenAI job runner, unrelated "
        "to tracking, left off to spare the CPU).",
        "",
        "**Checks made during the run**",
        "",
        *(f"- {c}" for c in results.checks),
    ]
    if results.problems:
        lines += ["", "**Problems seen during the run**", ""]
        lines += [f"- {p}" for p in results.problems]
    short = report.shortfalls(rows)
    if short:
        lines += ["", "**Where runstream is less than 20× ahead** (see the analysis below)", ""]
        lines += [f"- {s}" for s in short]
    return "\n".join(lines)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("kafka", "mlflow", "alembic", "urllib3", "runstream"):
        logging.getLogger(noisy).setLevel(logging.INFO if args.verbose else logging.WARNING)
    # Both stop the run cleanly (SIGINT explicitly too: a shell starting this in the
    # background hands it over ignored).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    options = Options(
        sizes=tuple(sorted(set(args.runs_sizes))), repeats=args.repeats, calls=args.calls,
        full_points=args.history_points[0], sampled_points=args.history_points[1],
        time_limit=args.time_limit, throughput_points=args.throughput_points,
        mlflow_throughput_points=args.mlflow_throughput_points, batch=args.batch,
        freshness_seconds=args.freshness_seconds, freshness_hz=args.freshness_hz,
        freshness_load_points=args.freshness_load_points, page=args.page, keep=args.keep,
    )  # fmt: skip
    try:
        results = run(options, args.workdir)
    except KeyboardInterrupt:
        logger.error("interrupted; everything started was stopped")
        return 130
    except HarnessError as exc:
        logger.error("%s\neverything started was stopped", exc)
        return 1
    rows = sorted(results.rows, key=lambda r: r.figure)
    print()
    print("\n".join(report.table(rows)))
    for line in results.checks:
        print(f"check: {line}")
    for line in results.problems:
        print(f"PROBLEM: {line}")
    for line in report.shortfalls(rows):
        print(f"under 20x: {line}")
    print(f"total {results.seconds / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps({
            "options": asdict(options), "facts": results.facts, "seconds": results.seconds,
            "rows": [asdict(r) for r in rows], "search": [asdict(p) for p in results.search],
            "checks": results.checks, "problems": results.problems,
        }, indent=2), encoding="utf-8")  # fmt: skip
    if not args.no_report:
        plot_path = args.out.parent / "benchmarks" / PLOT_NAME
        subtitle = (
            f"{results.facts.get('cores')} cores, {results.facts.get('date')}; "
            f"page of {options.page}"
        )
        report.plot_search(results.search, plot_path, subtitle)
        relative = f"{plot_path.parent.name}/{plot_path.name}"
        command = command_line(options, args.out)
        report.write_document(args.out, generated_markdown(results, command, relative), TITLE)
        print(f"wrote {args.out} and {plot_path}")
    return 1 if results.problems else 0


if __name__ == "__main__":
    sys.exit(main())
