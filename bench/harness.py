"""The processes a side-by-side run needs, started on free loopback ports and always stopped.

Everything started here is registered with an :class:`contextlib.ExitStack` owned by the
caller, so an error or Ctrl-C stops it in reverse order.  Child processes run in their own
session: Ctrl-C in the terminal reaches only the benchmark, which then stops them in order.
Peak memory is read from ``/proc/PID/status`` (``VmHWM``, the resident high-water mark)
just before a process is stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent


class HarnessError(RuntimeError):
    """A process the benchmark needs did not start or failed."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (held open together, so none repeats)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


# -- memory -------------------------------------------------------------------------------
def _status_kib(pid: int, field_name: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def peak_rss_bytes(pid: int) -> int | None:
    """The process's peak resident set (VmHWM), or None when it cannot be read."""
    kib = _status_kib(pid, "VmHWM")
    return None if kib is None else kib * 1024


def self_peak_rss_bytes() -> int | None:
    return peak_rss_bytes(os.getpid())


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from each process's parent in /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        out.extend(children)
        todo.extend(children)
    return out


@dataclass
class TreeMemory:
    """Peak RSS of a process tree's members, read while they live (bytes)."""

    peaks: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    def sample(self, root: int) -> None:
        for pid in [root, *descendants(root)]:
            peak = peak_rss_bytes(pid)
            if peak is None:
                continue
            self.peaks[pid] = max(peak, self.peaks.get(pid, 0))
            if pid not in self.names:
                self.names[pid] = _cmdline(pid)

    def total(self) -> int:
        return sum(self.peaks.values())

    def largest(self) -> int:
        return max(self.peaks.values(), default=0)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


# -- child processes ----------------------------------------------------------------------
def _stop_process(proc: subprocess.Popen[Any], sig: int, timeout: float, name: str) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)  # the child leads its own session (its group id is its pid)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        logger.warning("%s (pid %d) did not stop in %.0f s: killing it", name, proc.pid, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def spawn(argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> Any:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv), cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env,
        )  # fmt: skip


class Server:
    """A long-lived child process (the runstream stack or ``mlflow server``)."""

    def __init__(self, name: str, proc: Any, log_path: Path, stop_signal: int) -> None:
        self.name = name
        self.proc = proc
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.memory = TreeMemory()
        self.serving_pid = proc.pid

    def sample_memory(self) -> None:
        if self.proc.poll() is None:
            self.memory.sample(self.proc.pid)

    @property
    def serving_peak(self) -> int:
        """Peak RSS of the process that answers requests."""
        return self.memory.peaks.get(self.serving_pid, 0)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise HarnessError(
                f"{self.name} exited with {self.proc.returncode}\n{_tail(self.log_path)}"
            )

    def stop(self) -> None:
        self.sample_memory()
        _stop_process(self.proc, self.stop_signal, 60, self.name)


def _wait_for(what: str, ready: Any, server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        server.check_alive()
        if time.monotonic() > deadline:
            raise HarnessError(f"{what} not ready in {timeout:.0f} s\n{_tail(server.log_path)}")
        time.sleep(0.2)


def start_kafka(stack: contextlib.ExitStack, data_dir: Path) -> tuple[str, int]:
    """A local broker on free ports; returns (bootstrap, pid)."""
    from runstream.infra import kafka

    port, controller = free_ports(2)
    kafka.fetch_jars()
    handle = kafka.up(data_dir, port=port, controller_port=controller)
    stack.callback(kafka.down, data_dir)
    return handle.bootstrap, handle.pid


def start_stack(
    stack: contextlib.ExitStack,
    data_dir: Path,
    bootstrap: str,
    log_dir: Path,
    extra: Sequence[str] = (),
) -> tuple[Server, str]:
    """``runstream up`` as a subprocess on an existing broker (``extra``: more of its
    options, e.g. ``--topic``); returns (server, address)."""
    port = free_port()
    log_path = log_dir / "runstream-stack.log"
    argv = [
        sys.executable, "-m", "runstream.infra.cli", "up", "--data-dir", str(data_dir),
        "--kafka", bootstrap, "--port", str(port), *extra,
    ]  # fmt: skip
    # SIGTERM: `runstream up` stops cleanly on it, whatever SIGINT disposition it inherited
    server = Server("runstream stack", spawn(argv, log_path), log_path, signal.SIGTERM)
    stack.callback(server.stop)
    _wait_for(
        "runstream stack",
        lambda: "runstream listening on" in log_path.read_text(errors="replace"),
        server,
        180,
    )
    return server, f"127.0.0.1:{port}"


def start_mlflow_server(
    stack: contextlib.ExitStack,
    db: Path,
    artifacts: Path,
    log_dir: Path,
    label: str,
    backend: str | None = None,
) -> tuple[Server, str]:
    """``mlflow server --workers 1`` on a SQLite file (or on ``backend``, a store URI
    such as ``runstream://host:port``); returns (server, http url)."""
    port = free_port()
    log_path = log_dir / f"mlflow-server-{label}.log"
    argv = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend or f"sqlite:///{db}",
        "--default-artifact-root", str(artifacts),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    # The job runner (GenAI jobs: huey consumers) has nothing to do with tracking; off, so it
    # does not take CPU from the measurements on a small machine.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = Server(f"mlflow server ({label})", spawn(argv, log_path, env), log_path,
                    signal.SIGTERM)  # fmt: skip
    stack.callback(server.stop)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    _wait_for(f"mlflow server ({label})", ready, server, 180)
    for pid in descendants(server.proc.pid):  # the uvicorn process serves the requests
        if "uvicorn" in _cmdline(pid):
            server.serving_pid = pid
    return server, url


def run_child(module: str, spec: dict[str, Any], log_path: Path, timeout: float) -> dict[str, Any]:
    """``python -m MODULE SPEC_JSON`` in its own session; returns the JSON object it prints
    last on stdout (a training process measures itself and reports its own peak RSS)."""
    argv = [sys.executable, "-m", module, json.dumps(spec)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            start_new_session=True,
        )  # fmt: skip
        try:
            out, _ = proc.communicate(timeout=timeout)
        except BaseException:
            _stop_process(proc, signal.SIGTERM, 10, module)
            raise
    if proc.returncode != 0:
        raise HarnessError(f"{module} exited with {proc.returncode}\n{_tail(log_path)}")
    lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    if not lines:
        raise HarnessError(f"{module} printed no result\n{_tail(log_path)}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
