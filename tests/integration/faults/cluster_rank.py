"""One training rank of the cluster fault tests, run as a process of its own.

``python cluster_rank.py SPEC_JSON``: joins the run and logs ``points`` points of its own
key through the SDK (``kafka://`` with the cluster's broker list), calling ``flush()``
after each chunk: the moment ``flush()`` returns is an acknowledged write (acks=all on the
cluster).  Until the file ``over`` exists (the test writes it once the fault is over) it
logs ``chunk`` points every ``pause_s``, so writes go on before, during and after the
fault whatever the fault takes; then the rest at full speed, ``fast_chunk`` at a time.
Writes ``ready`` when set up, starts once the file ``go`` exists, and writes its
acknowledgement times (``time.monotonic()``, one clock for every process of the machine)
to ``out`` at the end.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from runstream.producer import RunstreamClient


def values(rank: int, steps: np.ndarray) -> np.ndarray:
    return ((rank * 7 + steps) % 97).astype(np.float64) * 0.5  # exact in binary


def main(spec: dict) -> None:
    client = RunstreamClient(
        uri=f"kafka://{spec['bootstrap']}", topic=spec["topic"], flush_timeout_s=300.0
    )
    client.join_run(spec["run_id"], spec["experiment_id"])
    rank, chunk = spec["rank"], spec["chunk"]
    key = f"rank{rank}.loss"
    Path(spec["ready"]).write_text("ready")
    go = Path(spec["go"])
    while not go.exists():
        time.sleep(0.01)
    over = Path(spec["over"])
    acks: list[float] = []
    started = time.monotonic()
    sent, paced = 0, 0
    while sent < spec["points"]:
        fast = over.exists()
        size = spec["fast_chunk"] if fast else chunk
        steps = np.arange(sent, min(sent + size, spec["points"]), dtype=np.int64)
        client.log_metric_columns(spec["run_id"], key, values(rank, steps), steps)
        client.flush()
        acks.append(time.monotonic())
        sent += len(steps)
        if not fast:
            paced += 1
            wait = started + paced * spec["pause_s"] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
    token = client.flush()
    client.close()
    stats = client.stats()
    Path(spec["out"]).write_text(
        json.dumps(
            {
                "acks": acks,
                "offsets": [list(pair) for pair in token.offsets],
                "events": stats.events_published,
            }
        )
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
