"""Distributed training as one run: N processes (simulated ranks over M "nodes") log into
one run at once, with point contexts and, for comparison, without.

    python -m bench.bench_ranks                        # 32 ranks over 4 nodes, 60 s per mode
    python -m bench.bench_ranks --seconds 15 --hz 0    # a quick run, unpaced

It starts a local broker and ``runstream up`` (or uses ``--kafka``), creates one run, then
per mode starts the ranks as subprocesses (``RANK``, ``LOCAL_RANK``, ``NODE_RANK``,
``WORLD_SIZE`` set as a launcher would; ``RUNSTREAM_PROCESS_CONTEXT=0`` for the mode without
contexts).  Each rank logs one training step of 10 keys plus a ``probe`` key (11 points) every
1/``hz`` s (``--hz 0``: as fast as the SDK takes them) for ``--seconds`` s, then flushes.

Figures per mode:

* points/s: every rank's points over the time from the start until the last rank's points
  were all queryable (the ingest-side rate, so it is sustainable by construction: a rate
  ingest cannot keep up with shows as a long drain), and the logging-side rate;
* freshness p50/p99: while the ranks log, a reader polls ``GetLatestMetricsByContext`` for
  ``probe`` every 0.2 s; each poll's age of the newest visible point (now minus its
  timestamp) per rank (per run without contexts) is one sample;
* drain: from the ranks' end of logging until every point was queryable;
* SDK CPU per point: the ranks' user+system CPU over their points (the cost of a context
  on the logging side).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from runstream.proto.vocabulary import DEFAULT_TOPIC

from .harness import REPO, start_kafka, start_stack

KEYS = tuple(f"m{k}" for k in range(10))
PROBE = "probe"


# -- one rank (a subprocess) ---------------------------------------------------------------
def rank_main(spec: dict[str, Any]) -> None:
    from runstream.producer import RunstreamClient

    hz, seconds = float(spec["hz"]), float(spec["seconds"])
    with RunstreamClient(f"kafka://{spec['kafka']}", topic=spec["topic"]) as client:
        client.join_run(spec["run_id"], spec["experiment_id"])
        start_cpu = os.times()
        start = time.monotonic()
        end = start + seconds
        step = 0
        while True:
            now = time.monotonic()
            if now >= end:
                break
            metrics = {k: float(step % 97) / 97 for k in KEYS}
            metrics[PROBE] = float(step)
            client.log_metrics(spec["run_id"], metrics, step=step)
            step += 1
            if hz > 0:
                delay = start + step / hz - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        logged = time.monotonic()
        client.flush(timeout=600)
        cpu = os.times()
        print(
            json.dumps(
                {
                    "steps": step,
                    "points": step * (len(KEYS) + 1),
                    "log_s": logged - start,
                    "cpu_s": (cpu.user - start_cpu.user) + (cpu.system - start_cpu.system),
                    "context": [list(p) for p in client.context],
                }
            ),
            flush=True,
        )


# -- the runner -----------------------------------------------------------------------------
def _stub(address: str) -> Any:
    import grpc

    from runstream.proto.v1 import query_pb2_grpc

    return query_pb2_grpc.QueryServiceStub(grpc.insecure_channel(address))


def _latest_probe(stub: Any, run_id: str) -> list[tuple[int, int]]:
    """Per context: (step, timestamp ms) of the newest visible probe point."""
    from runstream.proto.v1 import query_pb2

    got = stub.GetLatestMetricsByContext(
        query_pb2.GetLatestMetricsByContextRequest(run_id=run_id, metric_keys=[PROBE]),
        timeout=30,
    )
    return [(m.step, m.timestamp) for m in got.metrics]


def run_mode(
    args: argparse.Namespace, bootstrap: str, topic: str, address: str, contexts: bool
) -> dict[str, Any]:
    from runstream.producer import RunstreamClient

    with RunstreamClient(f"kafka://{bootstrap}", topic=topic, process_context=False) as c:
        exp = c.create_experiment(f"bench-ranks-{uuid.uuid4().hex[:8]}")
        run_id = c.create_run(exp, run_name=f"ranks-{'ctx' if contexts else 'plain'}").run_id
        c.flush(timeout=60)
    stub = _stub(address)
    while True:  # the run must be visible before the clock starts
        try:
            _latest_probe(stub, run_id)
            break
        except Exception:
            time.sleep(0.2)
    per_node = max(1, args.processes // args.nodes)
    spec = {"kafka": bootstrap, "topic": topic, "run_id": run_id, "experiment_id": exp}
    spec.update(hz=args.hz, seconds=args.seconds)
    env_base = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    env_base["PYTHONPATH"] = str(REPO) + os.pathsep + env_base.get("PYTHONPATH", "")
    env_base["RUNSTREAM_PROCESS_CONTEXT"] = "1" if contexts else "0"
    ages: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            now = time.time() * 1000
            with contextlib.suppress(Exception):  # a slow answer: the next poll
                ages.extend(now - ts for _, ts in _latest_probe(stub, run_id) if ts)
            stop.wait(0.2)

    start = time.monotonic()
    procs = []
    for rank in range(args.processes):
        env = dict(env_base)
        env.update(
            RANK=str(rank),
            LOCAL_RANK=str(rank % per_node),
            NODE_RANK=str(rank // per_node),
            WORLD_SIZE=str(args.processes),
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.bench_ranks", "--rank", json.dumps(spec)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd=REPO,
            )
        )
    reader = threading.Thread(target=poll, daemon=True)
    time.sleep(min(2.0, args.seconds / 4))  # past the ranks' start-up
    reader.start()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=args.seconds + 900)
        if proc.returncode != 0:
            raise RuntimeError(f"a rank failed ({proc.returncode}): {out[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    stop.set()
    reader.join()
    logged_end = time.monotonic()
    last_steps = sorted(r["steps"] - 1 for r in results)
    while True:  # every point queryable: every rank's last probe visible
        seen = _latest_probe(stub, run_id)
        visible = sorted(s for s, _ in seen)
        if contexts and visible == last_steps:
            break
        if not contexts and visible and visible[0] >= max(last_steps):
            break
        time.sleep(0.05)
    done = time.monotonic()
    points = sum(r["points"] for r in results)
    cpu = sum(r["cpu_s"] for r in results)
    return {
        "mode": "contexts" if contexts else "no contexts",
        "points": points,
        "points_per_s": points / (done - start),
        "logged_points_per_s": points / max(r["log_s"] for r in results),
        "freshness_p50_ms": float(np.percentile(ages, 50)) if ages else None,
        "freshness_p99_ms": float(np.percentile(ages, 99)) if ages else None,
        "drain_s": done - logged_end,
        "sdk_cpu_us_per_point": 1e6 * cpu / max(points, 1),
        "contexts_seen": len(_latest_probe(stub, run_id)),
        "example_context": results[0]["context"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_ranks", description=__doc__)
    p.add_argument("--processes", type=int, default=32)
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--hz", type=float, default=0.0, help="steps/s per rank; 0: unpaced")
    p.add_argument("--kafka", default="", help="an existing broker (default: start one)")
    p.add_argument("--modes", default="contexts,plain")
    p.add_argument("--rank", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rank:
        rank_main(json.loads(args.rank))
        return 0
    rows = []
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bootstrap = args.kafka or start_kafka(stack, root / "kafka")[0]
        _, address = start_stack(stack, root / "stack", bootstrap, root)
        topic = DEFAULT_TOPIC
        for mode in args.modes.split(","):
            row = run_mode(args, bootstrap, topic, address, contexts=mode == "contexts")
            print(json.dumps(row), flush=True)
            rows.append(row)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
