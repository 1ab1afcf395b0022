"""The import bench's CPU reading: a process's CPU time from ``/proc/PID/stat`` (all its
threads), the figure the bench reports for the stack's process."""

from __future__ import annotations

import os
import threading
import time

from bench.bench_import import _cpu_seconds


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_seconds_counts_every_thread_of_the_process() -> None:
    pid = os.getpid()
    before, own = _cpu_seconds(pid), time.process_time()
    worker = threading.Thread(target=_spin, args=(0.3,))
    worker.start()
    worker.join()
    _spin(0.2)
    spent = _cpu_seconds(pid) - before
    # the clock ticks of /proc are 10 ms; process_time counts the same threads
    assert abs(spent - (time.process_time() - own)) < 0.05
    assert spent >= 0.45
