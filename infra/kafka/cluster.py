"""A local Apache Kafka cluster in KRaft mode: N nodes, each broker and controller, each its
own ``java`` process, data directory and ports, from the same jars as the single broker.

Layout of a cluster's data directory (each ``node-I`` is laid out as a single broker's)::

    DATA_DIR/node-1/   server.properties, kafka.pid, data/, logs/  (node id 1)
    DATA_DIR/node-2/   ...
    DATA_DIR/node-3/

Node ``I`` (1-based) listens on ``port + 2 (I - 1)`` for clients and on
``controller_port + 2 (I - 1)`` for the KRaft quorum: with the defaults 9092/9093 the
nodes take 9092..9097.  The controllers are static voters (``controller.quorum.voters``);
every node is formatted with the same cluster id.  Topics get min(3, N) replicas and
``min.insync.replicas`` one less (see the server.properties template).

:func:`up` is idempotent: nodes that run are left alone and the missing ones started
(a rolling restart is :func:`stop_node` then :func:`up`).  :func:`down` stops every node,
:func:`status` reports on each, :func:`active_controller` names the quorum's leader.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from . import (
    BrokerConfig,
    BrokerConfigError,
    BrokerConflictError,
    BrokerStartError,
    KafkaHandle,
    KafkaStatus,
    PortInUseError,
    _broker_pid,
    _existing,
    _format_storage,
    _start,
    _wait_ready,
    configured_ports,
    default_lib_dir,
    fetch_jars,
    find_java,
    new_cluster_id,
    write_config,
)
from .probe import _alive, _port_answers, _port_free, _stop

log = logging.getLogger(__name__)

MAX_NODES = 9
_NODE_PREFIX = "node-"


@dataclass(frozen=True)
class ClusterHandle:
    """A running local cluster."""

    data_dir: Path
    nodes: tuple[KafkaHandle, ...]

    @property
    def bootstrap(self) -> str:
        """``h:p,h:p,h:p`` for Kafka clients (and ``--kafka`` / ``kafka://``)."""
        return ",".join(node.bootstrap for node in self.nodes)


def node_dir(data_dir: Path, node_id: int) -> Path:
    return data_dir / f"{_NODE_PREFIX}{node_id}"


def node_ids(data_dir: Path | str) -> list[int]:
    """The node ids laid out in a cluster's data directory (empty: not a cluster)."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        suffix = entry.name.removeprefix(_NODE_PREFIX)
        if entry.name.startswith(_NODE_PREFIX) and suffix.isdigit() and entry.is_dir():
            found.append(int(suffix))
    return sorted(found)


def is_cluster(data_dir: Path | str) -> bool:
    return bool(node_ids(data_dir))


def node_configs(
    data_dir: Path | str,
    brokers: int = 3,
    port: int = 9092,
    controller_port: int = 9093,
    heap: str = "512m",
    lib_dir: Path | str | None = None,
) -> list[BrokerConfig]:
    """The configs of the ``brokers`` nodes (ports as in the module docstring)."""
    if not 2 <= brokers <= MAX_NODES:
        raise BrokerConfigError(f"a cluster has 2..{MAX_NODES} brokers, got {brokers}")
    ports = [(port + 2 * i, controller_port + 2 * i) for i in range(brokers)]
    flat = [p for pair in ports for p in pair]
    if len(set(flat)) != len(flat):
        raise BrokerConfigError(
            f"ports {port} and {controller_port} give nodes clashing ports {flat}: node I "
            "uses port + 2(I-1) and controller_port + 2(I-1), so let them differ by an odd "
            "number (e.g. 9092 and 9093)"
        )
    root = Path(data_dir).expanduser().resolve()
    lib = Path(lib_dir or default_lib_dir()).expanduser().resolve()
    voters = tuple((i + 1, ports[i][1]) for i in range(brokers))
    return [
        BrokerConfig(
            data_dir=node_dir(root, i + 1),
            port=ports[i][0],
            controller_port=ports[i][1],
            heap=heap,
            lib_dir=lib,
            node_id=i + 1,
            voters=voters,
        )
        for i in range(brokers)
    ]


def up(
    data_dir: Path | str,
    brokers: int = 3,
    port: int = 9092,
    controller_port: int = 9093,
    heap: str = "512m",
    *,
    lib_dir: Path | str | None = None,
    timeout: float = 180.0,
) -> ClusterHandle:
    """Start the cluster's nodes that do not run; wait until every node serves metadata."""
    configs = node_configs(data_dir, brokers, port, controller_port, heap, lib_dir)
    root = configs[0].data_dir.parent
    if (root / "server.properties").is_file():
        raise BrokerConflictError(f"{root} holds a single broker: give the cluster another folder")
    laid_out = node_ids(root)
    if laid_out and laid_out != [c.node_id for c in configs]:
        raise BrokerConflictError(
            f"{root} holds a cluster of nodes {laid_out}, not of {brokers}: stop it and use "
            "another folder"
        )
    running = {c.node_id: _broker_pid(c) for c in configs}
    for c in configs:
        ports = configured_ports(c.properties_file)
        if running[c.node_id] is not None and ports != (c.port, c.controller_port):
            raise BrokerConflictError(
                f"node {c.node_id} in {c.data_dir} runs with ports {ports}, not "
                f"{(c.port, c.controller_port)}: stop the cluster first"
            )
        if running[c.node_id] is None:
            for number in (c.port, c.controller_port):
                if not _port_free(number):
                    raise PortInUseError(
                        f"port {number} (node {c.node_id}) on 127.0.0.1 is already in use by "
                        "another process; choose other ports"
                    )
    java = find_java()
    fetch_jars(configs[0].lib_dir)
    cluster_id = _cluster_id(java, configs)
    started: dict[int, int] = {}
    for c in configs:
        if running[c.node_id] is None:
            c.data_dir.mkdir(parents=True, exist_ok=True)
            write_config(c)
            _format_storage(java, c, cluster_id)
            started[c.node_id] = _start(java, c)
            log.info("kafka node %d starting (pid %d) on %s", c.node_id, started[c.node_id],
                     c.bootstrap)  # fmt: skip
    try:
        handles = []
        for c in configs:
            pid = started.get(c.node_id) or running[c.node_id]
            assert pid is not None
            if c.node_id in started:
                _wait_ready(c, pid, timeout)
                handles.append(KafkaHandle(c.data_dir, pid, c.port, c.controller_port))
            else:
                handles.append(_existing(c, pid, timeout))
    except BrokerStartError:
        for node, pid in started.items():  # leave running what ran before
            if _alive(pid):
                _stop(pid, timeout=10)
            configs[node - 1].pid_file.unlink(missing_ok=True)
        raise
    return ClusterHandle(root, tuple(handles))


def _cluster_id(java: str, configs: list[BrokerConfig]) -> str:
    """The id every node was formatted with, or a new one for a new cluster."""
    for c in configs:
        meta = c.log_dirs / "meta.properties"
        if meta.is_file():
            for line in meta.read_text(encoding="utf-8").splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
    return new_cluster_id(java, configs[0])


def _node_config(data_dir: Path, node_id: int) -> BrokerConfig:
    """Enough of a node's config to find its process (pid file, properties, logs)."""
    return BrokerConfig(
        data_dir=node_dir(data_dir.expanduser().resolve(), node_id), node_id=node_id
    )


def node_pid(data_dir: Path | str, node_id: int) -> int | None:
    """The pid of a running node, if it runs."""
    return _broker_pid(_node_config(Path(data_dir), node_id))


def stop_node(
    data_dir: Path | str, node_id: int, *, kill: bool = False, timeout: float = 60.0
) -> bool:
    """Stop one node: SIGTERM (a controlled shutdown), or SIGKILL with ``kill``.
    Returns whether it was running."""
    config = _node_config(Path(data_dir), node_id)
    pid = _broker_pid(config)
    if pid is None:
        return False
    if kill:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        _stop(pid, timeout)
    config.pid_file.unlink(missing_ok=True)
    return True


def down(data_dir: Path | str, timeout: float = 60.0) -> int:
    """Stop every node: SIGTERM to all at once (one by one, the last ones would wait for a
    quorum that is gone), SIGKILL to those still running after ``timeout``; returns how
    many ran."""
    root = Path(data_dir)
    nodes = [
        (config, _broker_pid(config)) for config in map(partial(_node_config, root), node_ids(root))
    ]
    for _, pid in nodes:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for config, pid in nodes:
        if pid is not None:
            _stop(pid, max(1.0, deadline - time.monotonic()))
        config.pid_file.unlink(missing_ok=True)
    return sum(pid is not None for _, pid in nodes)


def status(data_dir: Path | str) -> dict[int, KafkaStatus]:
    """Per node id: whether it runs, on which port, and answers TCP."""
    found = {}
    for node in node_ids(data_dir):
        config = _node_config(Path(data_dir), node)
        pid = _broker_pid(config)
        ports = configured_ports(config.properties_file)
        port = ports[0] if ports else None
        answering = pid is not None and port is not None and _port_answers(port)
        found[node] = KafkaStatus(pid is not None, pid, port, answering)
    return found


def active_controller(data_dir: Path | str) -> int | None:
    """The node id of the quorum's leader (the active controller), as the running nodes'
    ``quorum-state`` files record it: the leader of the highest epoch among them."""
    best: tuple[int, int] | None = None
    alive = {node for node in node_ids(data_dir) if node_pid(data_dir, node) is not None}
    for node in sorted(alive):
        config = _node_config(Path(data_dir), node)
        state = config.log_dirs / "__cluster_metadata-0" / "quorum-state"
        try:
            data = json.loads(state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        leader, epoch = int(data.get("leaderId", -1)), int(data.get("leaderEpoch", -1))
        if leader in alive and (best is None or epoch > best[1]):
            best = (leader, epoch)
    return best[0] if best else None
