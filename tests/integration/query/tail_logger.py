"""Another process that logs into one run, line by line from stdin (the tail tests' writer).

    log KEY FIRST COUNT   COUNT points of KEY, steps FIRST.., value = step; then flush
    tag KEY VALUE         set a tag; then flush
    end                   mark the run FINISHED; then flush
    quit

After each command it prints the write token of its flush (encoded) and the wall clock of
its log call (``time.time()``), so the parent can check resumes and measure delivery.
"""

from __future__ import annotations

import os
import sys
import time

from runstream.producer import RunstreamClient

run_id = os.environ["TAIL_RUN_ID"]
with RunstreamClient(os.environ["RUNSTREAM_URI"], topic=os.environ["RUNSTREAM_TOPIC"]) as client:
    # joined by its id alone, as a rank does (RUNSTREAM_RUN_ID): its events name no experiment
    client.join_run(run_id, os.environ.get("TAIL_EXPERIMENT_ID") or None)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        at = time.time()
        if words[0] == "log":
            key, first, count = words[1], int(words[2]), int(words[3])
            for step in range(first, first + count):
                client.log_metric(run_id, key, float(step), step=step)
        elif words[0] == "tag":
            client.set_tag(run_id, words[1], words[2])
        elif words[0] == "end":
            client.set_terminated(run_id, "FINISHED")
        elif words[0] == "quit":
            break
        token = client.flush(timeout=60)
        print(token.encode(), at, flush=True)
