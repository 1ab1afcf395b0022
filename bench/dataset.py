"""The read-side dataset, identical for both systems, loaded straight into their tables.

Loading 100k runs through either API would take far longer than the measurement itself
(MLflow: about 25 runs/s with 20 params and 10 metrics each), so both systems get the same
deterministic rows written directly in their own schemas:

* runstream: column-oriented inserts into the tables that ingest's migrations create
  (``runs``, ``params``, ``tags``, ``latest_metrics``, raw ``metrics``, ``experiments``),
  in the chDB directory the stack then serves;
* MLflow: ``executemany`` inserts into the tables of an MLflow SQLite database whose schema
  MLflow itself created (``runs``, ``params``, ``tags``, ``latest_metrics``, ``metrics``,
  ``experiments``).

``python -m bench.dataset SPEC_JSON`` loads runstream's side (a subprocess: chDB
locks its directory to one process, and the stack process opens it afterwards).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

T0 = 1_750_000_000_000  # epoch ms of the first run
PARAMS, METRICS = 20, 10
CARDINALITY = (2, 5, 10, 100, 1000)  # distinct values of param k: CARDINALITY[k % 5]
FILTER = "metrics.m1 < 0.5 and params.p2 = 'v3'"
ORDER_BY = ("metrics.m2 DESC",)
SERIES_STEP_MS = 10


@dataclass(frozen=True)
class SearchRuns:
    """``n`` finished runs with PARAMS params and METRICS latest metric values each."""

    n: int
    experiment_id: str  # runstream's id; MLflow numbers its own
    experiment_name: str
    run_ids: list[str]
    start_times: np.ndarray  # int64 epoch ms
    params: np.ndarray  # (n, PARAMS) int64: param k of run i is f"v{params[i, k]}"
    metrics: np.ndarray  # (n, METRICS) float64 in [0, 1)


@lru_cache(maxsize=4)
def search_runs(n: int) -> SearchRuns:
    """Deterministic: the same ``n`` always gives the same rows."""
    rng = np.random.default_rng(n)
    run_ids = [hashlib.md5(f"search-{n}-{i}".encode()).hexdigest() for i in range(n)]
    start = T0 + np.arange(n, dtype=np.int64) * 1000 + rng.integers(0, 1000, n)
    card = np.array([CARDINALITY[k % len(CARDINALITY)] for k in range(PARAMS)])
    params = (rng.random((n, PARAMS)) * card).astype(np.int64)
    metrics = np.round(rng.random((n, METRICS)), 6)
    return SearchRuns(n, f"search-{n}", f"bench-search-{n}", run_ids, start, params, metrics)


@dataclass(frozen=True)
class Series:
    """One long metric series: decay plus noise plus a few large spikes."""

    run_id: str
    key: str
    steps: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray

    @property
    def points(self) -> int:
        return int(self.steps.shape[0])


HISTORY_EXPERIMENT = "bench-history"


def series(points: int, key: str) -> Series:
    rng = np.random.default_rng(points)
    steps = np.arange(points, dtype=np.int64)
    values = np.exp(-steps / max(points / 5, 1)) + rng.random(points) / 50
    values[rng.integers(0, points, max(points // 50_000, 1))] += 5.0
    run_id = hashlib.md5(f"series-{key}-{points}".encode()).hexdigest()
    return Series(run_id, key, steps, T0 + steps * SERIES_STEP_MS, values)


def history_series(full_points: int, sampled_points: int) -> tuple[Series, Series]:
    """The series read in full, and the one read as a 1,000-point chart."""
    return series(full_points, "loss"), series(sampled_points, "curve")


# -- runstream (chDB) ---------------------------------------------------------------------
def load_runstream(
    dsn: str, database: str, sizes: Sequence[int], full_points: int, sampled_points: int
) -> None:
    """Create the tables with ingest's migrations and fill them; the caller's process must
    own the chDB directory (nothing else may have it open)."""
    import clickhouse_connect

    from runstream.ingest.clickhouse_sink import ClickHouseStore
    from runstream.ingest.settings import ClickHouseTarget

    store = ClickHouseStore(ClickHouseTarget(dsn, database))
    store.migrate()
    store.close()
    client = clickhouse_connect.get_client(dsn=dsn, database=database)
    try:
        for n in sizes:
            started = time.perf_counter()
            _runstream_search(client, search_runs(n))
            seconds = time.perf_counter() - started
            logger.info("runstream: %s runs loaded in %.1f s", f"{n:,}", seconds)
        started = time.perf_counter()
        _runstream_experiment(client, HISTORY_EXPERIMENT, HISTORY_EXPERIMENT)
        for s in history_series(full_points, sampled_points):
            _runstream_series(client, s)
        logger.info("runstream: history series loaded in %.1f s", time.perf_counter() - started)
    finally:
        client.close()


def _insert(client: Any, table: str, columns: dict[str, Any]) -> None:
    client.insert(table, list(columns.values()), column_names=list(columns), column_oriented=True)


def _runstream_experiment(client: Any, experiment_id: str, name: str) -> None:
    _insert(client, "experiments", {
        "experiment_id": [experiment_id], "name": [name], "artifact_location": [""],
        "lifecycle_stage": ["active"], "creation_time": [T0], "last_update_time": [T0],
        "version": [1],
    })  # fmt: skip


def _runstream_runs(
    client: Any, experiment_id: str, run_ids: list[str], names: list[str], start: list[int]
) -> None:
    n = len(run_ids)
    _insert(client, "runs", {
        "run_id": run_ids, "experiment_id": [experiment_id] * n, "run_name": names,
        "user_id": ["bench"] * n, "status": ["FINISHED"] * n, "start_time": start,
        "end_time": [s + 60_000 for s in start], "artifact_uri": [""] * n,
        "lifecycle_stage": ["active"] * n, "parent_run_id": [""] * n,
        "deleted_time": [None] * n, "version": [1] * n,
    })  # fmt: skip
    _insert(client, "tags", {
        "experiment_id": [experiment_id] * n, "run_id": run_ids,
        "key": ["mlflow.runName"] * n, "value": names, "version": [1] * n,
        "is_deleted": [0] * n,
    })  # fmt: skip


LOAD_CHUNK = 100_000  # runs per insert: bounds the loader's memory at 1M runs


def _runstream_search(client: Any, runs: SearchRuns) -> None:
    _runstream_experiment(client, runs.experiment_id, runs.experiment_name)
    for lo in range(0, runs.n, LOAD_CHUNK):
        _runstream_search_chunk(client, runs, lo, min(runs.n, lo + LOAD_CHUNK))


def _runstream_search_chunk(client: Any, runs: SearchRuns, lo: int, hi: int) -> None:
    """Runs ``lo``..``hi - 1`` of ``runs``, with their params and metrics."""
    n, eid, run_ids = hi - lo, runs.experiment_id, runs.run_ids[lo:hi]
    names = [f"run-{i}" for i in range(lo, hi)]
    _runstream_runs(client, eid, run_ids, names, runs.start_times[lo:hi].tolist())
    run_per_param = [r for r in run_ids for _ in range(PARAMS)]
    _insert(client, "params", {
        "experiment_id": [eid] * (n * PARAMS), "run_id": run_per_param,
        "key": [f"p{k}" for k in range(PARAMS)] * n,
        "value": [f"v{v}" for v in runs.params[lo:hi].ravel().tolist()],
    })  # fmt: skip
    run_per_metric = [r for r in run_ids for _ in range(METRICS)]
    keys = [f"m{k}" for k in range(METRICS)] * n
    values = runs.metrics[lo:hi].ravel().tolist()
    m = n * METRICS
    _insert(client, "latest_metrics", {
        "experiment_id": [eid] * m, "key": keys, "run_id": run_per_metric,
        "latest": [(100, T0, v) for v in values], "min_value": values, "max_value": values,
        "count": [1] * m,
    })  # fmt: skip
    _insert(client, "metrics", {
        "experiment_id": [eid] * m, "run_id": run_per_metric, "key": keys,
        "step": np.full(m, 100, dtype=np.int64), "timestamp": np.full(m, T0, dtype=np.int64),
        "value": runs.metrics[lo:hi].ravel(),
    })  # fmt: skip


def _runstream_series(client: Any, s: Series) -> None:
    eid, n = HISTORY_EXPERIMENT, s.points
    _runstream_runs(client, eid, [s.run_id], [f"series-{s.key}"], [T0])
    _insert(client, "metrics", {
        "experiment_id": [eid] * n, "run_id": [s.run_id] * n, "key": [s.key] * n,
        "step": s.steps, "timestamp": s.timestamps, "value": s.values,
    })  # fmt: skip
    last = int(np.argmax(s.steps))
    _insert(client, "latest_metrics", {
        "experiment_id": [eid], "key": [s.key], "run_id": [s.run_id],
        "latest": [(int(s.steps[last]), int(s.timestamps[last]), float(s.values[last]))],
        "min_value": [float(s.values.min())], "max_value": [float(s.values.max())],
        "count": [n],
    })  # fmt: skip


# -- MLflow (SQLite) ----------------------------------------------------------------------
def create_mlflow_template(path: Path) -> None:
    """An empty MLflow SQLite database, schema made by MLflow (copied for each use: MLflow's
    schema migrations take seconds)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{path}", str(path.parent / "mlartifacts"))
    store.engine.dispose()


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA journal_mode = MEMORY")
    con.execute("PRAGMA cache_size = -1000000")  # 1 GB: random-order index inserts
    return con


def _mlflow_experiment(con: sqlite3.Connection, name: str, artifacts: str) -> int:
    cur = con.execute(
        "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, "
        "last_update_time) VALUES (?, ?, 'active', ?, ?)",
        (name, artifacts, T0, T0),
    )
    return int(cur.lastrowid or 0)


_BULK_TABLES = ("runs", "params", "tags", "latest_metrics", "metrics")


@contextmanager
def _indexes_rebuilt(con: sqlite3.Connection) -> Iterator[None]:
    """Drop the secondary indexes of the bulk-loaded tables and create them again (same
    DDL) afterwards: one sort per index instead of a random-order insert per row."""
    marks = ",".join("?" * len(_BULK_TABLES))
    indexes = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks})",
        _BULK_TABLES,
    ).fetchall()
    for name, _ in indexes:
        con.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        for _, sql in indexes:
            con.execute(sql)


def _mlflow_runs(
    con: sqlite3.Connection,
    experiment_id: int,
    run_ids: list[str],
    names: list[str],
    start: list[int],
) -> None:
    con.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
        "experiment_id) VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', "
        f"'active', '', {int(experiment_id)})",
        sorted(zip(run_ids, names, start, [s + 60_000 for s in start], strict=True)),
    )
    con.executemany(
        "INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', ?, ?)",
        [(name, run_id) for run_id, name in sorted(zip(run_ids, names, strict=True))],
    )


def load_mlflow_search(path: Path, n: int, artifacts: str) -> str:
    """Fill an MLflow SQLite database (made from the template) with ``search_runs(n)``;
    returns MLflow's experiment id.  Rows go in primary-key order, secondary indexes are
    rebuilt afterwards (the schema ends up as MLflow made it)."""
    runs = search_runs(n)
    order = sorted(range(n), key=runs.run_ids.__getitem__)  # runs by run id
    ids = [runs.run_ids[i] for i in order]
    con = _connect(path)
    try:
        with _indexes_rebuilt(con):
            eid = _mlflow_experiment(con, runs.experiment_name, artifacts)
            _mlflow_runs(
                con, eid, runs.run_ids, [f"run-{i}" for i in range(n)], runs.start_times.tolist()
            )
            # params and metrics: by (key, run_uuid), the primary keys' order
            keys = sorted(range(PARAMS), key=lambda k: f"p{k}")
            con.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                (
                    (f"p{k}", f"v{v}", run_id)
                    for k in keys
                    for v, run_id in zip(runs.params[order, k].tolist(), ids, strict=True)
                ),
            )
            for table in ("latest_metrics", "metrics"):
                con.executemany(
                    f"INSERT INTO {table} (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (?, ?, ?, 100, 0, ?)",
                    (
                        (f"m{k}", v, T0, run_id)
                        for k in range(METRICS)
                        for v, run_id in zip(runs.metrics[order, k].tolist(), ids, strict=True)
                    ),
                )
        con.commit()
    finally:
        con.close()
    return str(eid)


def load_mlflow_history(path: Path, full_points: int, sampled_points: int, artifacts: str) -> str:
    """Add the two history series (and their runs) to an MLflow SQLite database."""
    con = _connect(path)
    try:
        with _indexes_rebuilt(con):
            eid = _mlflow_experiment(con, HISTORY_EXPERIMENT, artifacts)
            for s in history_series(full_points, sampled_points):
                _mlflow_runs(con, eid, [s.run_id], [f"series-{s.key}"], [T0])
                # primary key (key, timestamp, step, ...): timestamps grow with steps
                con.executemany(
                    "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    f"VALUES ('{s.key}', ?, ?, ?, 0, '{s.run_id}')",
                    zip(s.values.tolist(), s.timestamps.tolist(), s.steps.tolist(), strict=True),
                )
                last = s.points - 1
                con.execute(
                    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (?, ?, ?, ?, 0, ?)",
                    (s.key, float(s.values[last]), int(s.timestamps[last]), int(s.steps[last]),
                     s.run_id),
                )  # fmt: skip
        con.commit()
    finally:
        con.close()
    return str(eid)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m bench.dataset SPEC_JSON", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    spec = json.loads(args[0])
    started = time.perf_counter()
    load_runstream(
        spec["dsn"], spec["database"], spec["sizes"], spec["full_points"],
        spec["sampled_points"],
    )  # fmt: skip
    print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
