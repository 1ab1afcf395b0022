"""MLflow's REST API and the UI's chart, side by side (figure 6).

The same plain REST requests (``requests``, no MLflow client) against ``mlflow server`` on
``runstream://`` and against ``mlflow server`` on SQLite: create a run, read it back at once,
log a batch, load runs one after another (create, log a batch, finish), and create-run and
get-run again while 8 other processes log through the same server.  The UI's chart call
(``get-history-bulk-interval``, 320 points of the 1,000,000-point series) through both
servers.  And the MLflow client's write-then-read through the plugin in this process
(create a run then get it; log a metric then search on it) against MLflow's SQLite store
and ``mlflow server``.

``python -m bench`` runs this as one of its phases; ``python -m bench.bench_mlflow_rest``
runs only this figure (its own broker, stack and servers, the chart series loaded in bulk).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import dataset, harness
from .report import MLFLOW_SERVER, MLFLOW_SQLITE, RUNSTREAM, Cell, Row, load_average, median, table

logger = logging.getLogger(__name__)

FIGURE = "6"
API = "/api/2.0/mlflow"
UI_CHART_POINTS = 320  # what MLflow's UI asks get-history-bulk-interval for
LOGGERS = 8
REST_ONLY = Cell.missing("REST figure: servers only")


class Rest:
    """A plain JSON client of one MLflow server."""

    def __init__(self, url: str) -> None:
        import requests

        self.url = url
        self.session = requests.Session()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.session.post(f"{self.url}{API}/{path}", json=body, timeout=120)
        answer.raise_for_status()
        return dict(answer.json())

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = self.session.get(f"{self.url}{API}/{path}", params=params, timeout=600)
        answer.raise_for_status()
        return dict(answer.json())

    def experiment(self) -> str:
        body = {"name": f"rest-{uuid.uuid4().hex[:10]}"}
        return str(self.post("experiments/create", body)["experiment_id"])

    def create_run(self, experiment_id: str) -> str:
        body = {"experiment_id": experiment_id, "start_time": int(time.time() * 1000)}
        return str(self.post("runs/create", body)["run"]["info"]["run_id"])

    def log_batch(self, run_id: str, step: int, params: int = 0) -> None:
        now = int(time.time() * 1000)
        self.post("runs/log-batch", {
            "run_id": run_id,
            "metrics": [{"key": f"m{k}", "value": step * 0.5 + k, "timestamp": now, "step": step}
                        for k in range(10)],
            "params": [{"key": f"p{k}", "value": str(k)} for k in range(params)],
        })  # fmt: skip

    def close(self) -> None:
        self.session.close()


def _p50(samples: list[float]) -> Cell:
    return Cell(median(samples), len(samples)) if samples else Cell.missing("no samples")


def create_then_get(rest: Rest, experiment_id: str, calls: int) -> tuple[Cell, Cell]:
    """create-run p50 and get-run p50, each get right after its create."""
    creates, gets = [], []
    for _ in range(calls + 1):
        t = time.perf_counter()
        run_id = rest.create_run(experiment_id)
        t1 = time.perf_counter()
        got = rest.get("runs/get", {"run_id": run_id})
        t2 = time.perf_counter()
        if got["run"]["info"]["run_id"] != run_id:
            raise harness.HarnessError(f"get-run answered another run than {run_id}")
        creates.append((t1 - t) * 1000)
        gets.append((t2 - t1) * 1000)
    return _p50(creates[1:]), _p50(gets[1:])  # the first pair warms up


def rest_figures(url: str, calls: int, seconds: float) -> dict[str, Cell]:
    rest = Rest(url)
    try:
        exp = rest.experiment()
        out: dict[str, Cell] = {}
        out["create"], out["get"] = create_then_get(rest, exp, calls)
        run_id = rest.create_run(exp)
        samples = []
        for step in range(calls + 1):
            t = time.perf_counter()
            rest.log_batch(run_id, step)
            samples.append((time.perf_counter() - t) * 1000)
        out["log"] = _p50(samples[1:])
        loaded, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            rid = rest.create_run(exp)
            rest.log_batch(rid, 0, params=5)
            rest.post("runs/update", {"run_id": rid, "status": "FINISHED",
                                      "end_time": int(time.time() * 1000)})  # fmt: skip
            loaded += 1
        out["load"] = Cell(loaded / (time.perf_counter() - started), loaded)
        return out
    finally:
        rest.close()


@contextlib.contextmanager
def loggers(url: str, count: int, log_path: Path) -> Iterator[None]:
    """``count`` processes logging batches through the server until stopped."""
    spec = json.dumps({"logger": url})
    argv = [sys.executable, "-m", "bench.bench_mlflow_rest", spec]
    procs = [harness.spawn(argv, log_path) for _ in range(count)]
    try:
        time.sleep(3.0)  # every logger has its run and is logging
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)


def _log_forever(url: str) -> None:
    rest = Rest(url)
    exp = rest.experiment()
    run_id = rest.create_run(exp)
    step = 0
    while True:
        rest.log_batch(run_id, step)
        step += 1


def chart(url: str, series: dataset.Series, calls: int, limit_s: float) -> Cell:
    from .compare import time_calls

    rest = Rest(url)
    params = {"run_ids": series.run_id, "metric_key": series.key, "max_results": UI_CHART_POINTS}

    def call() -> int:
        return len(rest.get("metrics/get-history-bulk-interval", params).get("metrics", []))

    try:
        got = call()
        if not 0 < got <= UI_CHART_POINTS:
            return Cell.missing(f"answered {got} points")
        return time_calls(call, calls, limit_s).cell(50, limit_s)
    finally:
        rest.close()


def write_then_read(uri: str, calls: int) -> tuple[Cell, Cell]:
    """Through MLflow's client: create a run then get it; log a metric then search on it."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment(f"wtr-{uuid.uuid4().hex[:10]}")
    gets, searches = [], []
    for i in range(calls + 1):
        t = time.perf_counter()
        run_id = client.create_run(exp).info.run_id
        client.get_run(run_id)
        t1 = time.perf_counter()
        client.log_metric(run_id, "wtr", float(i), step=i)
        found = client.search_runs([exp], f"metrics.wtr = {i}")
        t2 = time.perf_counter()
        if [r.info.run_id for r in found] != [run_id]:
            raise harness.HarnessError(f"{uri}: the search did not find the metric just logged")
        gets.append((t1 - t) * 1000)
        searches.append((t2 - t1) * 1000)
    return _p50(gets[1:]), _p50(searches[1:])


def measure(
    stack: contextlib.ExitStack,
    logs: Path,
    artifacts: Path,
    rs_address: str,
    ml_url: str,
    ml_db: Path,
    sampled: dataset.Series,
    calls: int,
    time_limit: float,
) -> list[Row]:
    """Figure 6's rows; starts (and stops at the end of ``stack``) an ``mlflow server`` on
    ``runstream://rs_address``."""
    logger.info("MLflow REST: starting mlflow server on runstream://%s", rs_address)
    _, rs_url = harness.start_mlflow_server(
        stack, ml_db, artifacts, logs, "runstream", backend=f"runstream://{rs_address}"
    )
    servers = {RUNSTREAM: rs_url, MLFLOW_SERVER: ml_url}
    alone: dict[str, dict[str, Cell]] = {}
    busy: dict[str, dict[str, Cell]] = {}
    charts: dict[str, Cell] = {MLFLOW_SQLITE: REST_ONLY}
    for system, url in servers.items():
        logger.info("MLflow REST: %s", system)
        alone[system] = _or_failed(lambda url=url: rest_figures(url, calls, min(time_limit, 10)))
        with loggers(url, LOGGERS, logs / f"rest-loggers-{system}.log"):
            busy[system] = _or_failed(lambda url=url: _busy(url, calls))
        logger.info("UI chart: %s", system)
        charts[system] = _or_failed(lambda url=url: {"": chart(url, sampled, calls, time_limit)})[
            ""
        ]
    wtr: dict[str, tuple[Cell, Cell]] = {}
    uris = {
        RUNSTREAM: f"runstream://{rs_address}",
        MLFLOW_SQLITE: f"sqlite:///{ml_db}",
        MLFLOW_SERVER: ml_url,
    }
    for system, uri in uris.items():
        logger.info("write-then-read through MLflow's client: %s", system)
        try:
            wtr[system] = write_then_read(uri, calls)
        except Exception as exc:  # noqa: BLE001 - any client error: the row says which
            logger.warning("write-then-read, %s: %s", system, exc)
            failed = Cell.missing(f"failed: {str(exc)[:80]}")
            wtr[system] = (failed, failed)

    def row(label: str, unit: str, better: Any, cells: dict[str, Cell]) -> Row:
        return Row(FIGURE, label, unit, better, {MLFLOW_SQLITE: REST_ONLY, **cells})

    def pick(source: dict[str, dict[str, Cell]], name: str) -> dict[str, Cell]:
        return {s: figures[name] for s, figures in source.items()}

    n = LOGGERS
    return [
        row("MLflow REST: create-run p50", "ms", "lower", pick(alone, "create")),
        row("MLflow REST: get-run right after create, p50", "ms", "lower", pick(alone, "get")),
        row("MLflow REST: log-batch (10 metrics) p50", "ms", "lower", pick(alone, "log")),
        row("MLflow REST: runs loaded sequentially (create, log-batch, finish)", "runs/s",
            "higher", pick(alone, "load")),
        row(f"MLflow REST: create-run p50, {n} other clients logging", "ms", "lower",
            pick(busy, "create")),
        row(f"MLflow REST: get-run right after create p50, {n} other clients logging", "ms",
            "lower", pick(busy, "get")),
        Row(FIGURE, f"UI chart: get-history-bulk-interval, {sampled.points:,}-point series to "
            f"{UI_CHART_POINTS} points, through mlflow server, p50", "ms", "lower", charts),
        Row(FIGURE, "MLflow client write-then-read: create run, then get it, p50", "ms",
            "lower", {s: pair[0] for s, pair in wtr.items()}),
        Row(FIGURE, "MLflow client write-then-read: log metric, then search on it, p50", "ms",
            "lower", {s: pair[1] for s, pair in wtr.items()}),
    ]  # fmt: skip


class _Failed(dict[str, Cell]):
    """Every figure of a system whose server answered an error: missing, with the error."""

    def __init__(self, note: str) -> None:
        super().__init__()
        self.note = note

    def __missing__(self, key: str) -> Cell:
        return Cell.missing(self.note)


def _or_failed(figures: Callable[[], dict[str, Cell]]) -> dict[str, Cell]:
    import requests

    try:
        return figures()
    except requests.RequestException as exc:
        logger.warning("MLflow REST: %s", exc)
        return _Failed(f"failed: {str(exc)[:80]}")


def _busy(url: str, calls: int) -> dict[str, Cell]:
    rest = Rest(url)
    try:
        create, get = create_then_get(rest, rest.experiment(), calls)
        return {"create": create, "get": get}
    finally:
        rest.close()


def measure_run(run: Any) -> list[Row]:
    """Figure 6 inside ``python -m bench`` (a ``bench.compare.Run`` after its history
    phase: the stack, mlflow server on the main SQLite database, the sampled series)."""
    o = run.o
    _, sampled = dataset.history_series(o.full_points, o.sampled_points)
    started = load_average(1)
    rows = measure(run.stack, run.logs, run.artifacts, run.rs_address, run.ml_url,
                   run.main_db, sampled, o.calls, o.time_limit)  # fmt: skip
    # Its rows cross more processes on runstream's side than on MLflow's, so they follow
    # the machine's load more (docs/benchmarks.md, section 6): say what the load was.
    run.results.checks.append(
        f"MLflow REST figure (6): load average (1 min) {started} at its start, "
        f"{load_average(1)} at its end"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0].startswith("{"):
        _log_forever(json.loads(args[0])["logger"])  # a logger child, until terminated
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.bench_mlflow_rest", description=__doc__)
    p.add_argument("--calls", type=int, default=30, help="timed calls per figure")
    p.add_argument("--time-limit", type=float, default=20.0, help="seconds per read figure")
    p.add_argument("--chart-points", type=int, default=1_000_000, help="points of the series")
    options = p.parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("kafka", "mlflow", "alembic", "urllib3", "runstream"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    rows = run_alone(options.calls, options.time_limit, options.chart_points)
    print("\n".join(table(rows)))
    return 0


def run_alone(calls: int, time_limit: float, points: int) -> list[Row]:
    """Figure 6 on its own: a broker, the stack and mlflow server on SQLite, started here."""
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="runstream-bench-rest-"))
        stack.callback(shutil.rmtree, work, True)
        logs, artifacts = work / "logs", work / "mlartifacts"
        logs.mkdir()
        bootstrap, _ = harness.start_kafka(stack, work / "kafka")
        spec = {"dsn": f"chdb://{(work / 'stack' / 'clickhouse').resolve()}",
                "database": "runstream", "sizes": [], "full_points": 1,
                "sampled_points": points}  # fmt: skip
        harness.run_child("bench.dataset", spec, logs / "load-runstream.log", 3600)
        _, rs_address = harness.start_stack(stack, work / "stack", bootstrap, logs)
        db = work / "mlflow.db"
        dataset.create_mlflow_template(db)
        dataset.load_mlflow_history(db, 1, points, str(artifacts))
        _, ml_url = harness.start_mlflow_server(stack, db, artifacts, logs, "sqlite")
        _, sampled = dataset.history_series(1, points)
        return measure(stack, logs, artifacts, rs_address, ml_url, db, sampled, calls, time_limit)


if __name__ == "__main__":
    sys.exit(main())
