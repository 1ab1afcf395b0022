"""One training rank: joins the run named by RUNSTREAM_RUN_ID and logs POINTS points.

Run as a script by the integration tests.  Prints its producer id.  MODE=kill: after
flush() returned, keep logging until killed.
"""

from __future__ import annotations

import os
import sys
import time

import runstream.producer as rs

rank = int(os.environ["RANK"])
count = int(os.environ["POINTS"])
with rs.start_run() as run:
    assert run.info.joined
    client = rs.get_client()
    print(client.producer_id, flush=True)
    for step in range(count):
        rs.log_metric("loss", rank * 1_000_000.0 + step, step=step)
    if os.environ.get("MODE") == "kill":
        rs.flush()
        print("FLUSHED", flush=True)
        step = count
        while True:  # the parent kills us while we keep logging
            rs.log_metric("loss", rank * 1_000_000.0 + step, step=step)
            step += 1
            if step % 1000 == 0:
                time.sleep(0.001)
sys.exit(0)
