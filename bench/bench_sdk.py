"""Benchmark the SDK's write path, per transport (straight to Kafka, through the gateway).

Two figures per transport:

* the time a training thread spends in one ``log_metric`` call (median, p99; µs), while the
  sender publishes in the background;
* points per second from this process into Kafka, counted until ``flush()`` returns, with
  ``log_metric_columns`` (numpy columns) and with ``log_metric`` in a loop.

    python bench/bench_sdk.py --kafka 127.0.0.1:9092
    python bench/bench_sdk.py --kafka 127.0.0.1:9092 --transport grpc --gateway inprocess

Each measurement uses a fresh topic.  ``--profile`` prints where the sender thread's time
goes (building events vs. publishing) and a cProfile of the columnar phase.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np

from runstream.producer import RunstreamClient


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gateway(kafka: str, topic: str, mode: str, compression: str) -> Iterator[str]:
    """A gateway for ``topic``: in this process, or as a subprocess (its own GIL)."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    if mode == "inprocess":
        from runstream.producer.gateway import GatewaySettings, start_gateway

        running = start_gateway(
            GatewaySettings(address=address, kafka=kafka, topic=topic, compression=compression)
        )
        try:
            yield address
        finally:
            running.stop(grace=1)
        return
    script = textwrap.dedent(f"""
        from runstream.producer.gateway import GatewaySettings, serve_gateway
        serve_gateway(GatewaySettings(address={address!r}, kafka={kafka!r}, topic={topic!r},
                                      compression={compression!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        _wait_serving(address)
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_serving(address: str, timeout: float = 30.0) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from runstream.proto.endpoints import ChannelOptions
    from runstream.proto.rpc import open_channel

    deadline = time.monotonic() + timeout
    with open_channel(ChannelOptions(address)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)


def _client(uri: str, topic: str, compression: str) -> RunstreamClient:
    return RunstreamClient(uri, topic=topic, compression=compression)


def latency(uri: str, topic: str, args: argparse.Namespace) -> dict[str, float]:
    """Microseconds per ``log_metric`` call, each call timed on its own."""
    with _client(uri, topic, args.compression) as client:
        run = client.create_run("0", run_name="bench-latency").run_id
        keys = [f"metric_{k}" for k in range(args.keys)]
        clock = time.perf_counter_ns
        samples = np.empty(args.latency_calls, dtype=np.int64)
        log = client.log_metric
        for i in range(args.latency_calls):
            key = keys[i % args.keys]
            started = clock()
            log(run, key, 0.5, step=i)
            samples[i] = clock() - started
        client.flush()
    us = samples / 1000
    return {
        "median_us": float(np.median(us)),
        "p90_us": float(np.percentile(us, 90)),
        "p99_us": float(np.percentile(us, 99)),
        "calls": args.latency_calls,
    }


def columns_throughput(uri: str, topic: str, args: argparse.Namespace) -> dict[str, Any]:
    """Points/s with ``log_metric_columns``, until ``flush()`` returns."""
    batch = args.batch
    keys = [f"metric_{k}" for k in range(args.keys)]
    key_index = np.arange(batch, dtype=np.uint16) % args.keys
    values = np.random.default_rng(1).random(batch)
    base_steps = np.arange(batch, dtype=np.int64) // args.keys
    with _client(uri, topic, args.compression) as client:
        run = client.create_run("0", run_name="bench-columns").run_id
        client.flush()
        profile = cProfile.Profile() if args.profile else None
        calls = args.points // batch
        started = time.perf_counter()
        if profile:
            profile.enable()
        for i in range(calls):
            stamps = np.full(batch, time.time_ns() // 1_000_000, dtype=np.int64)
            client.log_metric_columns(
                run,
                keys,
                values,
                base_steps + i * (batch // args.keys),
                stamps,
                key_index=key_index,
            )
        logged = time.perf_counter()
        client.flush()
        done = time.perf_counter()
        if profile:
            profile.disable()
        stats = client.stats()
    result = {
        "points": calls * batch,
        "seconds": round(done - started, 3),
        "points_per_s": round(calls * batch / (done - started)),
        "logging_s": round(logged - started, 3),
        "sender": stats.__repr__(),
    }
    if profile:
        print(f"\n-- cProfile of the columnar phase ({uri}) --")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(15)
    return result


def loop_throughput(uri: str, topic: str, args: argparse.Namespace) -> dict[str, Any]:
    """Points/s with ``log_metric`` in a loop, until ``flush()`` returns."""
    keys = [f"metric_{k}" for k in range(args.keys)]
    with _client(uri, topic, args.compression) as client:
        run = client.create_run("0", run_name="bench-loop").run_id
        client.flush()
        log = client.log_metric
        n = args.loop_points
        per_key = len(keys)
        started = time.perf_counter()
        for step in range(n // per_key):
            for key in keys:
                log(run, key, 0.25, step=step)
        logged = time.perf_counter()
        client.flush()
        done = time.perf_counter()
        stats = client.stats()
    points = (n // per_key) * per_key
    return {
        "points": points,
        "seconds": round(done - started, 3),
        "points_per_s": round(points / (done - started)),
        "logging_s": round(logged - started, 3),
        "sender": stats.__repr__(),
    }


def run_transport(name: str, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for phase, fn in (
        ("log_metric_latency", latency),
        ("columns_throughput", columns_throughput),
        ("loop_throughput", loop_throughput),
    ):
        topic = f"bench.{name}.{uuid.uuid4().hex[:8]}"
        if name == "kafka":
            results[phase] = fn(f"kafka://{args.kafka}", topic, args)
        else:
            with gateway(args.kafka, topic, args.gateway, args.compression) as address:
                results[phase] = fn(f"grpc://{address}", topic, args)
        print(f"{name:5} {phase:20} {json.dumps(results[phase])}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kafka",
        default=os.environ.get("RUNSTREAM_KAFKA", "127.0.0.1:9092"),
        help="Kafka bootstrap host:port (RUNSTREAM_KAFKA)",
    )
    parser.add_argument("--transport", choices=("kafka", "grpc", "both"), default="both")
    parser.add_argument(
        "--gateway",
        choices=("subprocess", "inprocess"),
        default="subprocess",
        help="where the gateway runs for the grpc transport",
    )
    parser.add_argument(
        "--points",
        type=int,
        default=5_000_000,
        help="points for the columnar throughput (default 5,000,000)",
    )
    parser.add_argument(
        "--loop-points",
        type=int,
        default=1_000_000,
        help="points for the log_metric loop (default 1,000,000)",
    )
    parser.add_argument(
        "--latency-calls",
        type=int,
        default=200_000,
        help="log_metric calls timed one by one (default 200,000)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=10_000,
        help="points per log_metric_columns call (default 10,000)",
    )
    parser.add_argument("--keys", type=int, default=4, help="distinct metric keys (default 4)")
    parser.add_argument("--compression", default="lz4", choices=("lz4", "zstd", "gzip", "none"))
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    transports = ("kafka", "grpc") if args.transport == "both" else (args.transport,)
    results = {t: run_transport(t, args) for t in transports}
    print("\nsummary (median µs per log_metric call; points/s until flush() returned)")
    for name, r in results.items():
        print(
            f"  {name:5}  log_metric median {r['log_metric_latency']['median_us']:.2f} µs "
            f"(p99 {r['log_metric_latency']['p99_us']:.2f}) | "
            f"log_metric_columns {r['columns_throughput']['points_per_s']:,} points/s | "
            f"log_metric loop {r['loop_throughput']['points_per_s']:,} points/s"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"args": vars(args), "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
