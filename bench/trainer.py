"""A training process, as a subprocess of ``python -m bench``: it logs, measures itself and
prints one JSON object (its figures and its own peak RSS).

    python -m bench.trainer '{"figure": "throughput", "system": "runstream", ...}'

Figures:

* ``throughput``: ``points`` points of one run (10 keys, steps 0.., values from a seeded
  generator) in batches of ``batch`` points.  runstream: ``log_metric_columns`` straight to
  Kafka, then ``flush()`` and one read carrying the flush's write token (it returns once
  ingest has applied every point); the clock stops when that read returns.  MLflow:
  ``log_batch`` of ``batch`` ``Metric`` objects (each call returns once the points are
  committed, i.e. queryable); the clock stops when the last call returns.  Both then check,
  untimed, that every point of one key is there.
* ``freshness``: a writer thread logs one training step every 1/``hz`` s for ``seconds`` s
  (10 metric keys plus a ``probe`` key whose value is the step); a reader thread polls the
  run's latest ``probe`` value (runstream: GetRun over gRPC, no write token; MLflow:
  ``get_run``).  Step i's freshness = when a poll first returned a value >= i, minus when
  step i's log call started.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from typing import Any

import numpy as np

from .harness import self_peak_rss_bytes

KEYS = tuple(f"m{k}" for k in range(10))
PROBE = "probe"


def _columns(points: int, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Key index, step and value of every point: step-major, 10 keys per step."""
    idx = np.arange(points, dtype=np.int64)
    key_index = (idx % len(KEYS)).astype(np.uint16)
    steps = idx // len(KEYS)
    values = np.random.default_rng(7).random(points)
    return key_index, steps, values


# -- runstream ----------------------------------------------------------------------------
def _query_stub(address: str) -> Any:
    from runstream.proto.endpoints import ChannelOptions
    from runstream.proto.rpc import open_channel
    from runstream.proto.v1 import query_pb2_grpc

    channel = open_channel(ChannelOptions(address))
    return query_pb2_grpc.QueryServiceStub(channel)


def runstream_throughput(spec: dict[str, Any]) -> dict[str, Any]:
    from runstream.producer import RunstreamClient
    from runstream.proto.v1 import query_pb2

    points, batch = spec["points"], spec["batch"]
    key_index, steps, values = _columns(points, batch)
    stub = _query_stub(spec["query"])
    with RunstreamClient(f"kafka://{spec['kafka']}", topic=spec["topic"]) as client:
        exp = client.create_experiment(f"bench-throughput-{uuid.uuid4().hex[:8]}")
        run = client.create_run(exp, run_name="throughput").run_id
        client.flush()
        keys = list(KEYS)
        started = time.perf_counter()
        for lo in range(0, points, batch):
            s = slice(lo, lo + batch)
            n = len(values[s])
            stamps = np.full(n, time.time_ns() // 1_000_000, dtype=np.int64)
            client.log_metric_columns(
                run, keys, values[s], steps[s], stamps, key_index=key_index[s]
            )
        logged = time.perf_counter()
        token = client.flush()
        flushed = time.perf_counter()
        answer = stub.GetSampledMetricHistory(
            query_pb2.GetSampledMetricHistoryRequest(
                run_id=run, metric_key=KEYS[0], max_points=1000,
                read=query_pb2.ReadOptions(write_token=token.to_proto(), wait_timeout_ms=600_000),
            )
        )  # fmt: skip
        done = time.perf_counter()
    expected = int(np.count_nonzero(key_index == 0))
    complete = answer.series.total_points == expected
    return {
        "points": points,
        "seconds": done - started,
        "points_per_s": points / (done - started),
        "log_calls_s": logged - started,
        "flush_s": flushed - logged,
        "read_wait_s": done - flushed,
        "complete": complete,
        "check": f"{answer.series.total_points} of {expected} points of {KEYS[0]} readable",
    }


def runstream_freshness(spec: dict[str, Any]) -> dict[str, Any]:
    import grpc

    from runstream.producer import RunstreamClient
    from runstream.proto.v1 import query_pb2

    stub = _query_stub(spec["query"])
    options = spec.get("client_options", {})  # ProducerSettings overrides, for experiments
    with RunstreamClient(f"kafka://{spec['kafka']}", topic=spec["topic"], **options) as client:
        exp = client.create_experiment(f"bench-freshness-{uuid.uuid4().hex[:8]}")
        run = client.create_run(exp, run_name="freshness").run_id
        client.flush()

        def log(step: int) -> None:
            metrics = {k: float(step % 97) / 97 for k in KEYS}
            metrics[PROBE] = float(step)
            client.log_metrics(run, metrics, step=step)

        def latest() -> float | None:
            try:
                got = stub.GetRun(query_pb2.GetRunRequest(run_id=run), timeout=10)
            except grpc.RpcError:
                return None  # the run is not ingested yet
            return _probe(got.run.data.metrics)

        def searched() -> float | None:
            request = query_pb2.SearchRunsRequest(
                experiment_ids=[exp], filter=f"metrics.{PROBE} >= 0", max_results=10
            )
            found = stub.SearchRuns(request, timeout=10).runs
            return _probe(found[0].data.metrics) if found else None

        return _freshness(spec, log, searched if spec.get("read") == "search" else latest)


def _probe(metrics: Any) -> float | None:
    for m in metrics:
        if m.key == PROBE:
            return float(m.value)
    return None


# -- MLflow -------------------------------------------------------------------------------
def _mlflow_client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def mlflow_throughput(spec: dict[str, Any]) -> dict[str, Any]:
    from mlflow.entities import Metric

    points, batch = spec["points"], spec["batch"]
    key_index, steps, values = _columns(points, batch)
    client = _mlflow_client(spec["uri"])
    exp = client.create_experiment(f"bench-throughput-{uuid.uuid4().hex[:8]}")
    run = client.create_run(exp, run_name="throughput").info.run_id
    started = time.perf_counter()
    for lo in range(0, points, batch):
        s = slice(lo, lo + batch)
        stamp = time.time_ns() // 1_000_000
        metrics = [
            Metric(KEYS[k], v, stamp, st)
            for k, v, st in zip(
                key_index[s].tolist(), values[s].tolist(), steps[s].tolist(), strict=True
            )
        ]
        client.log_batch(run, metrics=metrics)
    done = time.perf_counter()
    expected = int(np.count_nonzero(key_index == 0))
    got = len(client.get_metric_history(run, KEYS[0]))
    return {
        "points": points,
        "seconds": done - started,
        "points_per_s": points / (done - started),
        "complete": got == expected,
        "check": f"{got} of {expected} points of {KEYS[0]} readable",
    }


def mlflow_freshness(spec: dict[str, Any]) -> dict[str, Any]:
    from mlflow.entities import Metric

    writer = _mlflow_client(spec["uri"])
    reader = _mlflow_client(spec["uri"])
    exp = writer.create_experiment(f"bench-freshness-{uuid.uuid4().hex[:8]}")
    run = writer.create_run(exp, run_name="freshness").info.run_id

    def log(step: int) -> None:
        stamp = time.time_ns() // 1_000_000
        metrics = [Metric(k, float(step % 97) / 97, stamp, step) for k in KEYS]
        metrics.append(Metric(PROBE, float(step), stamp, step))
        writer.log_batch(run, metrics=metrics)

    def latest() -> float | None:
        value = reader.get_run(run).data.metrics.get(PROBE)
        return None if value is None else float(value)

    def searched() -> float | None:
        found = reader.search_runs([exp], f"metrics.{PROBE} >= 0", max_results=10)
        value = found[0].data.metrics.get(PROBE) if found else None
        return None if value is None else float(value)

    return _freshness(spec, log, searched if spec.get("read") == "search" else latest)


# -- freshness, for both ------------------------------------------------------------------
def _freshness(spec: dict[str, Any], log: Any, latest: Any) -> dict[str, Any]:
    hz, seconds = spec["hz"], spec["seconds"]
    steps = int(hz * seconds)
    logged_at = np.full(steps, np.nan)  # monotonic time each step's log call started
    seen_at = np.full(steps, np.nan)
    writer_done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            t0 = time.monotonic()
            for step in range(steps):
                delay = t0 + step / hz - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                logged_at[step] = time.monotonic()
                log(step)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            writer_done.set()

    thread = threading.Thread(target=write, name="writer", daemon=True)
    polls = 0
    next_unseen = 0
    thread.start()
    deadline = time.monotonic() + seconds + spec.get("drain_s", 60)
    while next_unseen < steps and time.monotonic() < deadline and not errors:
        value = latest()
        now = time.monotonic()
        polls += 1
        if value is not None:
            upto = min(int(value), steps - 1)
            while next_unseen <= upto:
                seen_at[next_unseen] = now
                next_unseen += 1
        time.sleep(spec.get("poll_s", 0.002))
    writer_done.wait(30)
    if errors:
        raise errors[0]
    lat = (seen_at - logged_at)[~np.isnan(seen_at)]
    return {
        "samples_ms": [round(float(x) * 1000, 3) for x in lat],
        "steps": steps,
        "seen": int(lat.shape[0]),
        "polls": polls,
        "points_per_s": hz * (len(KEYS) + 1),
    }


FIGURES = {
    ("throughput", "runstream"): runstream_throughput,
    ("throughput", "mlflow"): mlflow_throughput,
    ("freshness", "runstream"): runstream_freshness,
    ("freshness", "mlflow"): mlflow_freshness,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.trainer SPEC_JSON", file=sys.stderr)
        return 2
    spec = json.loads(args[0])
    result = FIGURES[(spec["figure"], spec["system"])](spec)
    result["peak_rss"] = self_peak_rss_bytes()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
