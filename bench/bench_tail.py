"""The live tail's delivery latency: a log call in one process -> the point arrives on a
``Tail`` stream of the query service.

    python -m bench.bench_tail                        # 20 points/s for 30 s, own broker
    python -m bench.bench_tail --kafka 127.0.0.1:9092 --rate 100 --seconds 60

Starts the all-in-one stack in process (ingest worker, chDB, gRPC services; a Kafka broker
on free ports unless --kafka is given, with default settings otherwise), creates a run,
opens a Tail stream on it, and starts a training process that logs one point every
1/--rate s, its value the wall clock of the log call.  For every point the stream delivers,
latency = arrival wall clock - value.  Prints p50, p90, p99 and max, and the count (every
point must arrive exactly once); beside it, the same points' freshness through polling
(GetRun every --poll s shows the step), to tell the tail's own share from ingest's.  Both
processes run on one machine, so the clocks agree.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import grpc

from runstream.infra.stack import Stack, StackSettings
from runstream.producer import RunstreamClient
from runstream.proto.v1 import query_pb2, query_pb2_grpc

from .harness import start_kafka

TRAINER = """
import os, sys, time
from runstream.producer import RunstreamClient
rate, seconds = float(os.environ["RATE"]), float(os.environ["SECONDS"])
run_id = os.environ["RUN_ID"]
with RunstreamClient(os.environ["URI"], topic=os.environ["TOPIC"]) as client:
    client.join_run(run_id, "1")
    start = time.monotonic()
    step = 0
    while time.monotonic() - start < seconds:
        client.log_metric(run_id, "wall", time.time(), step=step)
        step += 1
        time.sleep(max(0.0, start + step / rate - time.monotonic()))
    client.flush(timeout=60)
print(step, flush=True)
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def measure(bootstrap: str, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    settings = StackSettings(
        kafka=bootstrap,
        data_dir=data_dir,
        topic=f"bench.tail.{uuid.uuid4().hex[:6]}",
        address="127.0.0.1:0",
    )
    with Stack(settings) as stack:
        with RunstreamClient(f"kafka://{bootstrap}", topic=settings.topic) as creator:
            run_id = creator.create_run("1", run_name="tail-bench").run_id
            token = creator.flush(timeout=60)
        arrivals: queue.Queue[tuple[float, float] | None] = queue.Queue()
        channel = grpc.insecure_channel(stack.address)
        stub = query_pb2_grpc.QueryServiceStub(channel)
        call = stub.Tail(query_pb2.TailRequest(run_id=run_id, after=token.to_proto()))

        def read() -> None:
            try:
                for message in call:
                    now = time.time()
                    for p in message.points:
                        arrivals.put((now, p.value))
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.CANCELLED:
                    print(f"stream ended: {exc.code().name} {exc.details()}", file=sys.stderr)
            arrivals.put(None)

        threading.Thread(target=read, daemon=True).start()
        readable: dict[int, float] = {}  # step -> when GetRun first showed it (freshness)
        polling = threading.Event()

        def poll() -> None:
            seen = -1
            while not polling.wait(args.poll):
                try:
                    run = stub.GetRun(query_pb2.GetRunRequest(run_id=run_id), timeout=10).run
                except grpc.RpcError:
                    continue
                now = time.time()
                latest = max((m.step for m in run.data.metrics if m.key == "wall"), default=-1)
                for step in range(seen + 1, latest + 1):
                    readable[step] = now
                seen = max(seen, latest)

        threading.Thread(target=poll, daemon=True).start()
        env = dict(os.environ, URI=f"kafka://{bootstrap}", TOPIC=settings.topic, RUN_ID=run_id)
        env.update(RATE=str(args.rate), SECONDS=str(args.seconds))
        trainer = subprocess.run(
            [sys.executable, "-c", TRAINER], env=env, capture_output=True, text=True, check=True
        )
        logged = int(trainer.stdout.split()[-1])
        latencies: list[float] = []
        logged_at: dict[int, float] = {}  # step -> wall clock of its log call
        deadline = time.monotonic() + 60
        while len(latencies) < logged and time.monotonic() < deadline:
            try:
                got = arrivals.get(timeout=1)
            except queue.Empty:
                continue
            if got is None:
                break
            latencies.append(got[0] - got[1])
            logged_at[len(latencies) - 1] = got[1]
        time.sleep(2 * args.poll)
        polling.set()
        call.cancel()
        channel.close()
    ms = [x * 1000 for x in latencies]
    fresh = [(readable[s] - at) * 1000 for s, at in logged_at.items() if s in readable]
    return {
        "logged": logged,
        "delivered": len(ms),
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "p50_ms": round(statistics.median(ms), 1) if ms else None,
        "p90_ms": round(_percentile(ms, 90), 1) if ms else None,
        "p99_ms": round(_percentile(ms, 99), 1) if ms else None,
        "max_ms": round(max(ms), 1) if ms else None,
        # the same points' freshness: log call -> GetRun (polled every --poll s) shows them
        "getrun_p50_ms": round(statistics.median(fresh), 1) if fresh else None,
        "getrun_p99_ms": round(_percentile(fresh, 99), 1) if fresh else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", help="bootstrap servers (default: start a broker)")
    parser.add_argument("--rate", type=float, default=20.0, help="points per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to log")
    parser.add_argument(
        "--poll", type=float, default=0.05, help="seconds between GetRun polls (freshness)"
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tail-") as tmp, contextlib.ExitStack() as stop:
        bootstrap = args.kafka or start_kafka(stop, Path(tmp) / "kafka")[0]
        result = measure(bootstrap, args, Path(tmp))
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["delivered"] == result["logged"] else 1


if __name__ == "__main__":
    sys.exit(main())
