"""Process and port probes for the local Kafka broker: is a pid alive, does a port answer,
does the broker serve metadata yet; stop a pid politely, then not."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

HOST = "127.0.0.1"

# Brokers started by this process, so their exit can be reaped (no zombies
# that still look alive) and their Popen objects are not collected early.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie answers kill(0) but is gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _port_answers(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _port_free(port: int) -> bool:
    # SO_REUSEADDR as the JVM sets it, so sockets in TIME_WAIT do not count.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _metadata_answers(bootstrap: str) -> bool:
    """Whether the broker serves cluster metadata with itself registered."""
    from kafka import KafkaAdminClient  # kafka-python; imported only when needed
    from kafka.net import KafkaNetClient

    clients: list[KafkaNetClient] = []

    def tracked_client(**configs: object) -> KafkaNetClient:
        # An admin client whose eager bootstrap fails in __init__ is never
        # returned: keep its network client to close its IO thread ourselves.
        clients.append(KafkaNetClient(**configs))
        return clients[-1]

    admin = None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="runstream-kafka-probe",
            bootstrap_timeout_ms=5000, request_timeout_ms=5000, kafka_client=tracked_client,
        )  # fmt: skip
        return bool(admin.describe_cluster().get("brokers"))
    except Exception as exc:  # any client error means "not yet"
        log.debug("kafka not answering yet on %s: %s", bootstrap, exc)
        return False
    finally:
        if admin is not None:
            admin.close()
        else:
            for client in clients:
                client.close()


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not _alive(pid)


def _stop(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_exit(pid, timeout):
        return
    log.warning("kafka (pid %d) ignored SIGTERM for %.0f s: killing it", pid, timeout)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_exit(pid, 10)
