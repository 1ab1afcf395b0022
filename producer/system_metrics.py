"""System metrics: a collector thread that samples CPU, memory, disk, network and, where
NVML finds NVIDIA GPUs, per-GPU utilisation, memory and power, and logs them into a run.

Key names are MLflow's (``system/cpu_utilization_percentage``,
``system/gpu_0_utilization_percentage``...), so MLflow's UI shows them in its System metrics
section; the points carry the process's context (rank, node), so the ranks of one run stay
apart.  Steps count samples from 0, as MLflow's own monitor does.

On with one switch: ``start_run(log_system_metrics=True)``, ``RUNSTREAM_SYSTEM_METRICS=1``
(or MLflow's ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``), or
:meth:`RunstreamClient.start_system_metrics`.  Every ``RUNSTREAM_SYSTEM_METRICS_INTERVAL``
seconds (10 by default).  Needs ``psutil`` (and ``nvidia-ml-py`` for GPUs): the
``system-metrics`` extra.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

logger = logging.getLogger(__name__)

PREFIX = "system/"
_MB = 1e6


class Sampler(Protocol):
    """One source of system metrics: ``sample()`` returns MLflow-named values."""

    def sample(self) -> dict[str, float]: ...


class HostSampler:
    """CPU, memory, disk (of ``disk_path``) and network (bytes since the collector started),
    read with psutil."""

    def __init__(self, disk_path: str = "/") -> None:
        import psutil  # the system-metrics extra

        self._psutil = psutil
        self._disk_path = disk_path
        psutil.cpu_percent(interval=None)  # the first call only starts the measurement
        net = psutil.net_io_counters()
        self._net0 = (net.bytes_recv, net.bytes_sent)

    def sample(self) -> dict[str, float]:
        ps = self._psutil
        memory = ps.virtual_memory()
        disk = ps.disk_usage(self._disk_path)
        net = ps.net_io_counters()
        return {
            "cpu_utilization_percentage": float(ps.cpu_percent(interval=None)),
            "system_memory_usage_megabytes": memory.used / _MB,
            "system_memory_usage_percentage": float(memory.percent),
            "disk_usage_percentage": float(disk.percent),
            "disk_usage_megabytes": disk.used / _MB,
            "disk_available_megabytes": disk.free / _MB,
            "network_receive_megabytes": (net.bytes_recv - self._net0[0]) / _MB,
            "network_transmit_megabytes": (net.bytes_sent - self._net0[1]) / _MB,
        }


class GpuSampler:
    """Per NVIDIA GPU: utilisation, memory and power, read with NVML (nvidia-ml-py).
    Raises on construction when NVML or a GPU is not there."""

    def __init__(self) -> None:
        import pynvml  # the system-metrics extra (nvidia-ml-py)

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        if not count:
            raise RuntimeError("NVML found no GPU")
        self._nvml = pynvml
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]

    def sample(self) -> dict[str, float]:
        nv = self._nvml
        out: dict[str, float] = {}
        for i, handle in enumerate(self._handles):
            memory = nv.nvmlDeviceGetMemoryInfo(handle)
            out[f"gpu_{i}_memory_usage_percentage"] = 100.0 * memory.used / max(memory.total, 1)
            out[f"gpu_{i}_memory_usage_megabytes"] = memory.used / _MB
            out[f"gpu_{i}_utilization_percentage"] = float(
                nv.nvmlDeviceGetUtilizationRates(handle).gpu
            )
            try:
                power = nv.nvmlDeviceGetPowerUsage(handle) / 1000.0
                limit = nv.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0
            except nv.NVMLError:  # not every board reports power
                continue
            out[f"gpu_{i}_power_usage_watts"] = power
            out[f"gpu_{i}_power_usage_percentage"] = 100.0 * power / limit if limit else 0.0
        return out


def default_samplers() -> list[Sampler]:
    """The host sampler, and the GPU sampler when NVML finds GPUs."""
    samplers: list[Sampler] = [HostSampler()]
    try:
        samplers.append(GpuSampler())
    except Exception as exc:  # no driver, no library, no GPU: host metrics only
        logger.debug("no GPU metrics: %s", exc)
    return samplers


LogMetrics = Callable[[dict[str, float], int, int], None]  # (metrics, step, timestamp ms)


class SystemMetricsCollector:
    """A daemon thread: every ``interval_s`` one sample of every sampler, logged through
    ``log`` at the next step.  :meth:`stop` ends it (and takes no further sample)."""

    def __init__(
        self,
        log: LogMetrics,
        interval_s: float = 10.0,
        samplers: Sequence[Sampler] | None = None,
        name: str = "runstream-system-metrics",
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._log = log
        self.interval_s = interval_s
        self._samplers = list(default_samplers() if samplers is None else samplers)
        self._stop = threading.Event()
        self.samples = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> SystemMetricsCollector:
        self._thread.start()
        return self

    def sample_once(self) -> dict[str, float]:
        """Sample every sampler and log the values at the next step; returns them."""
        values: dict[str, float] = {}
        for sampler in self._samplers:
            try:
                values.update(sampler.sample())
            except Exception as exc:  # one failing source must not stop the others
                logger.warning("system metrics: %s failed: %s", type(sampler).__name__, exc)
        metrics = {PREFIX + k: v for k, v in values.items()}
        if metrics:
            self._log(metrics, self.samples, time.time_ns() // 1_000_000)
            self.samples += 1
        return metrics

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception as exc:  # e.g. the client was closed under us
                logger.warning("system metrics stopped: %s", exc)
                return
            self._stop.wait(self.interval_s)

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()


def for_client(client: Any, run_id: str, interval_s: float | None = None) -> SystemMetricsCollector:
    """A collector that logs into ``run_id`` through ``client`` (a RunstreamClient), under
    the client's process context."""

    def log(metrics: dict[str, float], step: int, timestamp: int) -> None:
        client.log_metrics(run_id, metrics, step=step, timestamp=timestamp)

    interval = client.settings.system_metrics_interval_s if interval_s is None else interval_s
    return SystemMetricsCollector(log, interval)
