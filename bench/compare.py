"""One side-by-side run: start what is needed, measure both systems, stop everything.

The phases, in order (one system measured at a time; the others sit idle):

1. a Kafka broker on free ports in a temporary directory; runstream's tables loaded in bulk
   (``bench.dataset``) into a chDB directory, which ``runstream up`` then serves as a
   subprocess; an MLflow SQLite database (schema by MLflow) with the same history series,
   served by ``mlflow server --workers 1``;
2. logging throughput, repeated and interleaved (runstream, MLflow store, mlflow server);
3. freshness, one session per system;
4. metric history, full and sampled; then MLflow's REST API and the UI's chart through
   ``mlflow server`` on both (``bench.bench_mlflow_rest``);
5. search at each size: runstream over gRPC; MLflow from a SQLite database per size, through
   the store in this process and through an ``mlflow server`` started on that database;
6. peak memory of every server process, read before it is stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from runstream.infra.kafka import default_heap as kafka_heap
from runstream.proto.vocabulary import DEFAULT_TOPIC

from . import bench_mlflow_rest, dataset, harness
from .report import (
    MLFLOW_SERVER,
    MLFLOW_SQLITE,
    RUNSTREAM,
    SYSTEMS,
    Cell,
    Row,
    SearchPoint,
    load_average,
    median,
    percentile,
)

logger = logging.getLogger(__name__)

MB = 1024 * 1024
DATABASE = "runstream"
TOPIC = DEFAULT_TOPIC


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    repeats: int = 3
    calls: int = 30
    full_points: int = 100_000
    sampled_points: int = 1_000_000
    time_limit: float = 20.0
    throughput_points: int = 2_000_000
    mlflow_throughput_points: int = 50_000
    batch: int = 1_000
    freshness_seconds: float = 15.0
    freshness_hz: float = 20.0
    freshness_load_points: int = 100_000  # runstream's session under load (points/s; 0: none)
    page: int = 100
    keep: bool = False


@dataclass
class Results:
    options: Options
    rows: list[Row] = field(default_factory=list)
    search: list[SearchPoint] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


# -- timing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    samples_ms: list[float]
    warmup_ms: float
    finished: bool

    def cell(self, q: float, limit_s: float) -> Cell:
        if not self.finished:
            return Cell.missing(
                f"not finished: one call took {self.warmup_ms / 1000:,.1f} s (limit {limit_s:g} s)"
            )
        value = median(self.samples_ms) if q == 50 else percentile(self.samples_ms, q)
        return Cell(value, len(self.samples_ms))


def time_calls(fn: Callable[[], Any], calls: int, limit_s: float) -> Timing:
    """One untimed warm-up call, then up to ``calls`` timed calls while the time spent stays
    under ``limit_s``; a warm-up call longer than ``limit_s`` means "not finished"."""
    t = time.perf_counter()
    fn()
    warmup = time.perf_counter() - t
    if warmup > limit_s:
        return Timing([], warmup * 1000, False)
    samples: list[float] = []
    started = time.monotonic()
    while len(samples) < calls and (not samples or time.monotonic() - started < limit_s):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return Timing(samples, warmup * 1000, True)


# -- machine facts ------------------------------------------------------------------------
def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _proc_field(path: str, key: str) -> str:
    with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine_facts() -> dict[str, str]:
    from runstream.infra.kafka import KAFKA_VERSION

    mem_kib = _proc_field("/proc/meminfo", "MemTotal").split()[0]
    try:
        memory = f"{int(mem_kib) / 1024 / 1024:.1f} GiB"
    except ValueError:
        memory = "unknown"
    load = load_average()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": _proc_field("/proc/cpuinfo", "model name"),
        "memory": memory,
        "os": f"{platform.system()} {'.'.join(platform.release().split('.')[:2])}",
        "python": platform.python_version(),
        "runstream": _version("runstream"),
        "mlflow": _version("mlflow"),
        "chdb": _version("chdb"),
        "clickhouse-connect": _version("clickhouse-connect"),
        "kafka-python": _version("kafka-python"),
        "grpcio": _version("grpcio"),
        "kafka broker": KAFKA_VERSION,
        "load average at start (1, 5, 15 min)": load,
    }


# -- the run ------------------------------------------------------------------------------
class Run:
    """State of one side-by-side run (work directory, processes, results)."""

    def __init__(self, options: Options, stack: contextlib.ExitStack, work: Path) -> None:
        self.o = options
        self.stack = stack
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.results = Results(options)
        self.mlflow_servers: list[harness.Server] = []
        self.kafka_memory = harness.TreeMemory()

    # phase 1 -------------------------------------------------------------------------
    def start(self) -> None:
        o = self.o
        logger.info("starting a Kafka broker")
        self.bootstrap, self.kafka_pid = harness.start_kafka(self.stack, self.work / "kafka")
        self.stack.callback(self.kafka_memory.sample, self.kafka_pid)  # runs before down()
        logger.info("loading runstream's tables: %s runs and the history series",
                    " + ".join(f"{n:,}" for n in o.sizes))  # fmt: skip
        stack_dir = self.work / "stack"
        spec = {
            "dsn": f"chdb://{(stack_dir / 'clickhouse').resolve()}", "database": DATABASE,
            "sizes": list(o.sizes), "full_points": o.full_points,
            "sampled_points": o.sampled_points,
        }  # fmt: skip
        started = time.perf_counter()
        harness.run_child("bench.dataset", spec, self.logs / "load-runstream.log", 3600)
        self.results.checks.append(
            f"runstream tables loaded in bulk in {time.perf_counter() - started:.0f} s"
        )
        logger.info("starting the runstream stack (runstream up)")
        self.rs_server, self.rs_address = harness.start_stack(
            self.stack, stack_dir, self.bootstrap, self.logs
        )
        from runstream.proto.endpoints import ChannelOptions
        from runstream.proto.rpc import open_channel
        from runstream.proto.v1 import query_pb2_grpc

        channel = open_channel(ChannelOptions(self.rs_address, max_message_bytes=256 * MB))
        self.stack.callback(channel.close)
        self.rs = query_pb2_grpc.QueryServiceStub(channel)

        logger.info("creating MLflow's SQLite schema and loading the history series")
        self.template = self.work / "mlflow-template.db"
        self.artifacts = self.work / "mlartifacts"
        dataset.create_mlflow_template(self.template)
        self.main_db = self.work / "mlflow.db"
        shutil.copy(self.template, self.main_db)
        dataset.load_mlflow_history(
            self.main_db, o.full_points, o.sampled_points, str(self.artifacts)
        )
        logger.info("starting mlflow server on it")
        self.ml_server, self.ml_url = self._mlflow_server(self.main_db, "main")

    def _mlflow_server(self, db: Path, label: str) -> tuple[harness.Server, str]:
        server, url = harness.start_mlflow_server(self.stack, db, self.artifacts, self.logs, label)
        self.mlflow_servers.append(server)
        return server, url

    def _mlflow_uri(self, system: str, db: Path | None = None) -> str:
        return f"sqlite:///{db or self.main_db}" if system == MLFLOW_SQLITE else self.ml_url

    # phase 2 -------------------------------------------------------------------------
    def throughput(self) -> None:
        o = self.o
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in SYSTEMS}
        for rep in range(o.repeats):
            for system in SYSTEMS:
                logger.info("throughput %d/%d: %s", rep + 1, o.repeats, system)
                spec: dict[str, Any] = {"figure": "throughput", "batch": o.batch}
                if system == RUNSTREAM:
                    spec |= {
                        "system": "runstream",
                        "points": o.throughput_points,
                        "kafka": self.bootstrap,
                        "topic": TOPIC,
                        "query": self.rs_address,
                    }
                else:
                    spec |= {"system": "mlflow", "points": o.mlflow_throughput_points,
                             "uri": self._mlflow_uri(system)}  # fmt: skip
                result = harness.run_child("bench.trainer", spec, self.logs / "trainer.log", 1800)
                if not result["complete"]:
                    self.results.problems.append(f"throughput, {system}: {result['check']}")
                runs[system].append(result)
        rate, rss = {}, {}
        for system, results in runs.items():
            points = results[0]["points"]
            rate[system] = Cell(median([r["points_per_s"] for r in results]), len(results),
                                f"{points:,} points")  # fmt: skip
            peaks = [r["peak_rss"] / MB for r in results if r.get("peak_rss")]
            rss[system] = Cell(median(peaks), len(peaks)) if peaks else Cell.missing("unread")
        rs = runs[RUNSTREAM]
        self.results.checks.append(
            "throughput, runstream (medians): log calls "
            f"{median([r['log_calls_s'] for r in rs]):.2f} s, flush "
            f"{median([r['flush_s'] for r in rs]):.2f} s, read with the flush token "
            f"{median([r['read_wait_s'] for r in rs]):.2f} s; "
            + "; ".join(f"{s}: {runs[s][-1]['check']}" for s in SYSTEMS)
        )
        self.results.rows.append(Row("1", "logging throughput until queryable (median of "
                                     f"{o.repeats} runs)", "points/s", "higher", rate))  # fmt: skip
        self.training_rss = rss

    # phase 3 -------------------------------------------------------------------------
    def freshness(self) -> None:
        o = self.o
        rss: dict[str, Cell] = {}
        # GetRun (runstream: the run's latest metrics, which show a point once ingest has
        # polled it), then a search (runstream: likewise, docs/query.md).
        for read, what in (("get_run", "get_run returns"), ("search", "a search finds")):
            samples: dict[str, list[float]] = {}
            for system in SYSTEMS:
                logger.info("freshness (%s): %s (%.0f s at %g steps/s)", read, system,
                            o.freshness_seconds, o.freshness_hz)  # fmt: skip
                spec: dict[str, Any] = {
                    "figure": "freshness", "hz": o.freshness_hz, "seconds": o.freshness_seconds,
                    "read": read,
                }  # fmt: skip
                if system == RUNSTREAM:
                    spec |= {"system": "runstream", "kafka": self.bootstrap, "topic": TOPIC,
                             "query": self.rs_address}  # fmt: skip
                else:
                    spec |= {"system": "mlflow", "uri": self._mlflow_uri(system)}
                result = harness.run_child("bench.trainer", spec, self.logs / "trainer.log", 1800)
                if result["seen"] != result["steps"]:
                    self.results.problems.append(
                        f"freshness ({read}), {system}: {result['seen']} of {result['steps']} "
                        "steps seen"
                    )
                samples[system] = result["samples_ms"]
                if read == "get_run":
                    peak = result.get("peak_rss")
                    rss[system] = Cell(peak / MB, 1) if peak else Cell.missing("unread")
            for q in (50, 99):
                cells = {
                    s: Cell(percentile(v, q), len(v)) if v else Cell.missing("no samples")
                    for s, v in samples.items()
                }
                self.results.rows.append(Row(
                    "2", f"freshness p{q}: log call → {what} the point "
                    f"({o.freshness_hz * 11:g} points/s)", "ms", "lower", cells,
                ))  # fmt: skip
        self.freshness_rss = rss
        if o.freshness_load_points:
            self._freshness_under_load()

    def _freshness_under_load(self) -> None:
        """runstream alone at a rate MLflow cannot log (its log_batch takes 5-10k points/s)."""
        o = self.o
        hz = o.freshness_load_points / 11
        logger.info("freshness under load: runstream (%.0f s at %g steps/s)",
                    o.freshness_seconds, hz)  # fmt: skip
        spec = {"figure": "freshness", "hz": hz, "seconds": o.freshness_seconds,
                "system": "runstream", "kafka": self.bootstrap, "topic": TOPIC,
                "query": self.rs_address}  # fmt: skip
        result = harness.run_child("bench.trainer", spec, self.logs / "trainer.log", 1800)
        if result["seen"] != result["steps"]:
            self.results.problems.append(
                f"freshness under load: {result['seen']} of {result['steps']} steps seen"
            )
        v = result["samples_ms"]
        cannot = Cell.missing(f"not run: MLflow logs 5-10k points/s, not {hz * 11:,.0f}")
        for q in (50, 99):
            self.results.rows.append(Row(
                "2", f"freshness p{q} under load ({hz * 11:,.0f} points/s)", "ms", "lower",
                {RUNSTREAM: Cell(percentile(v, q), len(v)) if v else Cell.missing("no samples"),
                 MLFLOW_SQLITE: cannot, MLFLOW_SERVER: cannot},
            ))  # fmt: skip

    # phase 4 -------------------------------------------------------------------------
    def history(self) -> None:
        from mlflow import MlflowClient
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        from runstream.proto.v1 import query_pb2

        o = self.o
        full, sampled = dataset.history_series(o.full_points, o.sampled_points)
        clients = {
            MLFLOW_SQLITE: MlflowClient(self._mlflow_uri(MLFLOW_SQLITE)),
            MLFLOW_SERVER: MlflowClient(self.ml_url),
        }
        store = SqlAlchemyStore(self._mlflow_uri(MLFLOW_SQLITE), str(self.artifacts))
        session = _http_session()
        self.stack.callback(session.close)

        def rs_full() -> int:
            count, token = 0, ""
            while True:  # the columnar answer, pages of 100,000 points
                page = self.rs.GetMetricHistoryColumns(query_pb2.GetMetricHistoryRequest(
                    run_id=full.run_id, metric_key=full.key, page_token=token,
                ))  # fmt: skip
                count += len(page.columns.values)
                token = page.next_page_token
                if not token:
                    return count

        def rs_sampled() -> int:
            answer = self.rs.GetSampledMetricHistory(query_pb2.GetSampledMetricHistoryRequest(
                run_id=sampled.run_id, metric_key=sampled.key, max_points=1000,
            ))  # fmt: skip
            return len(answer.series.values)

        def ml_sampled_rest() -> int:
            answer = session.get(
                f"{self.ml_url}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
                params={"run_ids": sampled.run_id, "metric_key": sampled.key,
                        "max_results": 1000}, timeout=600,
            )  # fmt: skip
            answer.raise_for_status()
            return len(answer.json().get("metrics", []))

        full_fns: dict[str, Callable[[], int]] = {
            RUNSTREAM: rs_full,
            MLFLOW_SQLITE: lambda: len(
                clients[MLFLOW_SQLITE].get_metric_history(full.run_id, full.key)
            ),
            MLFLOW_SERVER: lambda: len(
                clients[MLFLOW_SERVER].get_metric_history(full.run_id, full.key)
            ),
        }
        sampled_fns: dict[str, Callable[[], int]] = {
            RUNSTREAM: rs_sampled,
            MLFLOW_SQLITE: lambda: len(
                store.get_metric_history_bulk_interval(
                    [sampled.run_id], sampled.key, 1000, None, None
                )
            ),  # fmt: skip
            MLFLOW_SERVER: ml_sampled_rest,
        }
        for label, fns, expect in (
            (f"metric history: all {o.full_points:,} points of one series", full_fns,
             lambda n: n == o.full_points),
            (f"metric history: {o.sampled_points:,}-point series sampled to 1,000 points",
             sampled_fns, lambda n: 0 < n <= 1000),
        ):  # fmt: skip
            cells = {}
            for system, fn in fns.items():
                logger.info("%s: %s", label, system)
                got = fn()
                if not expect(got):
                    self.results.problems.append(f"{label}, {system}: returned {got} points")
                cells[system] = time_calls(fn, o.calls, o.time_limit).cell(50, o.time_limit)
            self.results.rows.append(Row("4", f"{label}, p50", "ms", "lower", cells))
        store.engine.dispose()

    # phase 5 -------------------------------------------------------------------------
    def search(self) -> None:
        from mlflow import MlflowClient

        from runstream.proto.v1 import query_pb2

        o = self.o
        self.ml_server.stop()  # the main database is done with; its peak memory is kept
        stopped: dict[str, str] = {}  # MLflow variant -> why larger sizes are not run
        cells: dict[int, dict[str, tuple[Cell, Cell]]] = {}
        over_limit: dict[tuple[int, str], float] = {}  # the one call of "not finished"
        last_call: dict[str, tuple[int, float]] = {}  # MLflow variant -> (runs, warm-up s)
        for n in o.sizes:
            for s, (size, seconds) in last_call.items():
                # MLflow's search grows at least linearly with the runs (quadratically at
                # 100k, docs/benchmarks.md): skip a size even that would put past the limit
                if s not in stopped and seconds * n / size > o.time_limit:
                    stopped[s] = (
                        f"not run: one call took {seconds:,.1f} s at {size:,} runs, so at least "
                        f"{seconds * n / size:,.0f} s at {n:,} (limit {o.time_limit:g} s)"
                    )
            runs = dataset.search_runs(n)
            request = query_pb2.SearchRunsRequest(
                experiment_ids=[runs.experiment_id], filter=dataset.FILTER,
                order_by=list(dataset.ORDER_BY), max_results=o.page,
            )  # fmt: skip
            logger.info("search, %s runs: runstream", f"{n:,}")
            rs_ids = [r.info.run_id for r in self.rs.SearchRuns(request).runs]
            timing = time_calls(partial(self.rs.SearchRuns, request), o.calls, o.time_limit)
            cells[n] = {RUNSTREAM: (timing.cell(50, o.time_limit),
                                    timing.cell(99, o.time_limit))}  # fmt: skip
            variants = [s for s in (MLFLOW_SQLITE, MLFLOW_SERVER) if s not in stopped]
            for s in (MLFLOW_SQLITE, MLFLOW_SERVER):
                if s in stopped:
                    miss = Cell.missing(stopped[s])
                    cells[n][s] = (miss, miss)
            if not variants:
                continue
            db = self.work / f"mlflow-search-{n}.db"
            shutil.copy(self.template, db)
            logger.info("search, %s runs: loading MLflow's SQLite tables", f"{n:,}")
            started = time.perf_counter()
            exp_id = dataset.load_mlflow_search(db, n, str(self.artifacts))
            seconds = time.perf_counter() - started
            self.results.checks.append(
                f"MLflow SQLite tables for {n:,} runs loaded in {seconds:.0f} s"
            )
            server = None
            for system in variants:
                if system == MLFLOW_SERVER:
                    server, url = self._mlflow_server(db, f"search-{n}")
                    client = MlflowClient(url)
                else:
                    client = MlflowClient(f"sqlite:///{db}")
                logger.info("search, %s runs: %s", f"{n:,}", system)

                def call(client: Any = client, exp_id: str = exp_id) -> Any:
                    return client.search_runs([exp_id], dataset.FILTER, max_results=o.page,
                                              order_by=list(dataset.ORDER_BY))  # fmt: skip

                timing = time_calls(call, o.calls, o.time_limit)
                last_call[system] = (n, timing.warmup_ms / 1000)
                cells[n][system] = (timing.cell(50, o.time_limit), timing.cell(99, o.time_limit))
                if not timing.finished:
                    over_limit[(n, system)] = timing.warmup_ms
                    stopped[system] = f"not run: {n:,} runs did not finish"
                elif system == MLFLOW_SQLITE:
                    ml_ids = [r.info.run_id for r in call()]
                    same = "identical" if ml_ids == rs_ids else "DIFFERENT"
                    self.results.checks.append(
                        f"search, {n:,} runs: first page ({len(rs_ids)} runs) {same} in "
                        "runstream and MLflow"
                    )
                    if ml_ids != rs_ids:
                        self.results.problems.append(f"search results differ at {n:,} runs")
            if server is not None:
                server.stop()
            db.unlink(missing_ok=True)
        for n in o.sizes:
            for q in (50, 99):
                row_cells = {s: pair[0 if q == 50 else 1] for s, pair in cells[n].items()}
                self.results.rows.append(Row(
                    "3", f"SearchRuns p{q}, {n:,} runs (page of {o.page})", "ms", "lower",
                    row_cells,
                ))  # fmt: skip
        for n in o.sizes:
            for s, (p50, p99) in cells[n].items():
                self.results.search.append(
                    SearchPoint(s, n, p50.value, p99.value, over_limit.get((n, s)))
                )

    # phase 6 -------------------------------------------------------------------------
    def memory(self) -> None:
        self.rs_server.stop()
        self.kafka_memory.sample(self.kafka_pid)
        for server in self.mlflow_servers:
            server.stop()
        ml_serving = max(s.serving_peak for s in self.mlflow_servers) / MB
        ml_tree = max(s.memory.total() for s in self.mlflow_servers) / MB
        rs_serving = self.rs_server.serving_peak / MB
        kafka = self.kafka_memory.total() / MB
        count = len(self.mlflow_servers)
        no_server = Cell.missing("no server: the store runs in the training process")
        self.results.rows += [
            Row("5", "peak RSS, serving process", "MB", "lower",
                {RUNSTREAM: Cell(rs_serving), MLFLOW_SQLITE: no_server,
                 MLFLOW_SERVER: Cell(ml_serving)}),
            Row("5", "peak RSS, server side in total", "MB", "lower",
                {RUNSTREAM: Cell(rs_serving + kafka), MLFLOW_SQLITE: no_server,
                 MLFLOW_SERVER: Cell(ml_tree)}),
            Row("5", "peak RSS, training process, freshness session (same steps for both)",
                "MB", "lower", self.freshness_rss),
            Row("5", "peak RSS, training process, throughput runs (median; point counts "
                "differ, see 1)", "MB", "lower", self.training_rss),
        ]  # fmt: skip
        self.results.checks.append(
            f"memory: serving process = the runstream stack process (ingest + query service "
            f"+ gateway) and the uvicorn process of mlflow server (the largest of the {count} "
            "mlflow servers of this run); server side in total = runstream stack + Kafka "
            "broker, and mlflow server's CLI process + uvicorn"
        )
        self.results.checks.append(
            f"Kafka broker peak RSS {kafka:,.0f} MB (JVM, heap {kafka_heap()})"
        )


def _http_session() -> Any:
    import requests

    return requests.Session()


def run(options: Options, workdir: Path | None = None) -> Results:
    """Run every phase; whatever was started is stopped, also on error or Ctrl-C."""
    started = time.perf_counter()
    facts = machine_facts()
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="runstream-bench-", dir=workdir))
        if options.keep:
            logger.info("work directory (kept): %s", work)
        else:
            stack.callback(shutil.rmtree, work, True)
        r = Run(options, stack, work)
        r.results.facts = facts
        r.start()
        r.throughput()
        r.freshness()
        r.history()
        r.results.rows += bench_mlflow_rest.measure_run(r)
        r.search()
        r.memory()
    r.results.seconds = time.perf_counter() - started
    with contextlib.suppress(OSError):
        r.results.facts["load average at end (1, 5, 15 min)"] = ", ".join(
            f"{x:.1f}" for x in os.getloadavg()
        )
    return r.results
