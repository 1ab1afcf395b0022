"""One training rank that logs with contexts: joins the run named by RUNSTREAM_RUN_ID, logs
POINTS ``loss`` points (value rank * 1000 + step) under the launcher's context, and
``throughput`` in columns with a device on top.  Then one batch with a bad context: the bad
point is refused (its field printed), the others land.

Run as a script by tests/integration/infra/test_contexts_end_to_end.py.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import numpy as np

import runstream.producer as rs
from runstream.producer import ValidationError

rank = int(os.environ["RANK"])
count = int(os.environ["POINTS"])


@dataclass
class Point:
    key: str
    value: float
    step: int
    context: dict[str, object] = field(default_factory=dict)


with rs.start_run() as run:
    assert run.info.joined
    client = rs.get_client()
    print("CONTEXT", dict(client.context), flush=True)
    for step in range(count):
        rs.log_metric("loss", rank * 1000.0 + step, step=step)
    steps = np.arange(count, dtype=np.int64)
    rs.log_metric_columns(
        "throughput", np.full(count, 100.0 + rank), steps, context={"device": f"cuda:{rank % 2}"}
    )
    try:
        client.log_batch(
            run.info.run_id,
            metrics=[
                Point("checked", 1.0, 0, {"phase": "eval"}),
                Point("checked", 2.0, 1, {"rank": -1}),
                Point("checked", 3.0, 2),
            ],
        )
    except ValidationError as exc:
        print("REFUSED", exc.field, exc.accepted, flush=True)
    rs.flush()
sys.exit(0)
