"""A local single-node Apache Kafka 4.x broker in KRaft mode, without Docker (a local
cluster of several such nodes: :mod:`.cluster`).

The broker's jars come from Maven (:func:`fetch_jars`) and it runs on plain
``java``.  Everything a broker owns lives in one data directory::

    DATA_DIR/server.properties   broker config (rewritten by every up)
    DATA_DIR/log4j2.properties   logging config
    DATA_DIR/kafka.pid           pid of the running broker
    DATA_DIR/data/               the broker's log.dirs (topics, KRaft metadata)
    DATA_DIR/logs/server.log     broker log; logs/console.log has stdout/stderr

:func:`up` is idempotent for a data directory, :func:`down` stops the broker
and :func:`status` reports on it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

from runstream.proto.settings import Env
from runstream.proto.vocabulary import min_insync_replicas, replicas_for

from ..errors import (
    BrokerConfigError,
    BrokerConflictError,
    BrokerStartError,
    FetchError,
    InfraError,
    PortInUseError,
    ToolMissingError,
)
from .probe import (
    _CHILDREN,
    _alive,
    _metadata_answers,
    _port_answers,
    _port_free,
    _stop,
)

log = logging.getLogger(__name__)

__all__ = [
    "BrokerConfig",
    "BrokerConfigError",
    "BrokerConflictError",
    "BrokerStartError",
    "FetchError",
    "InfraError",
    "KafkaHandle",
    "KafkaStatus",
    "PortInUseError",
    "ToolMissingError",
    "down",
    "fetch_jars",
    "status",
    "up",
]

KAFKA_VERSION = "4.1.0"
SCALA_BINARY_VERSION = "2.13"
LOG4J_VERSION = "2.24.3"
MIN_JAVA_VERSION = 17
LIB_DIR_ENV = "RUNSTREAM_KAFKA_LIB"
HEAP_ENV = "RUNSTREAM_KAFKA_HEAP"
DEFAULT_HEAP = "256m"
HEAP_START_ENV = "RUNSTREAM_KAFKA_HEAP_START"
# The heap the JVM starts with (-Xms): it grows towards -Xmx only as the broker needs it.
# Without it the JVM commits (and, cycling through eden, touches) a heap of 1/64 of RAM up
# to -Xmx at once.
DEFAULT_HEAP_START = "32m"
JIT_ENV = "RUNSTREAM_KAFKA_JIT"
# The JIT compilers the broker runs: "c1" (the client compiler only, a 32 MB code cache) or
# "full" (the JVM's default tiered C1 + C2).  A small broker's hot paths are I/O; C2's
# compiler threads, its code cache and its profiles cost ~60 MB resident and more CPU
# than they save here (docs/benchmarks.md, section 5).
DEFAULT_JIT = "c1"
_JIT_OPTIONS: dict[str, tuple[str, ...]] = {
    "c1": ("-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=32m"),
    "full": (),
}
KAFKA_JAR = f"kafka_{SCALA_BINARY_VERSION}-{KAFKA_VERSION}.jar"

_HOST = "127.0.0.1"
_TEMPLATES = "resources"  # package-data folder of this package
_HEAP_RE = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")


def default_heap() -> str:
    """The broker's maximum heap: ``$RUNSTREAM_KAFKA_HEAP`` or :data:`DEFAULT_HEAP`."""
    return Env(error=BrokerConfigError).text(HEAP_ENV, DEFAULT_HEAP)


def default_heap_start() -> str:
    """The broker's initial heap: ``$RUNSTREAM_KAFKA_HEAP_START`` or :data:`DEFAULT_HEAP_START`."""
    return Env(error=BrokerConfigError).text(HEAP_START_ENV, DEFAULT_HEAP_START)


def default_jit() -> str:
    """The broker's JIT compilers: ``$RUNSTREAM_KAFKA_JIT`` or :data:`DEFAULT_JIT`."""
    return Env(error=BrokerConfigError).text(JIT_ENV, DEFAULT_JIT)


def heap_bytes(size: str) -> int:
    """``512m``, ``2g``, ``65536k`` or a byte count, as bytes (the JVM's -Xmx syntax)."""
    unit = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(size[-1:].lower(), 1)
    return int(size[:-1] if unit > 1 else size) * unit


def default_lib_dir() -> Path:
    """Where the broker jars live: ``$RUNSTREAM_KAFKA_LIB`` or the user's cache."""
    if os.environ.get(LIB_DIR_ENV):
        return Path(os.environ[LIB_DIR_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "runstream" / f"kafka-{KAFKA_VERSION}" / "lib"


@dataclass(frozen=True)
class BrokerConfig:
    """Settings of one local broker; paths derive from ``data_dir``."""

    data_dir: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = field(default_factory=default_heap)
    heap_start: str = field(default_factory=default_heap_start)
    jit: str = field(default_factory=default_jit)
    lib_dir: Path = field(default_factory=default_lib_dir)
    num_partitions: int = 8
    node_id: int = 1
    # (node id, controller port) of every controller of a cluster; empty: a single node
    # that is its own quorum (formatted ``--standalone``).
    voters: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        for name in ("port", "controller_port"):
            if not 0 < getattr(self, name) < 65536:
                raise BrokerConfigError(f"{name} must be in 1..65535, got {getattr(self, name)}")
        if self.port == self.controller_port:
            raise BrokerConfigError(f"port and controller_port must differ (both {self.port})")
        if not _HEAP_RE.match(self.heap):
            raise BrokerConfigError(f"heap must look like 512m or 2g, got {self.heap!r}")
        if not _HEAP_RE.match(self.heap_start):
            raise BrokerConfigError(
                f"initial heap must look like 32m or 1g, got {self.heap_start!r}"
            )
        if self.jit not in _JIT_OPTIONS:
            raise BrokerConfigError(
                f"jit must be one of {', '.join(sorted(_JIT_OPTIONS))}, got {self.jit!r}"
            )

    @property
    def jvm_heap(self) -> tuple[str, str]:
        """``-Xms`` and ``-Xmx``: the initial heap never above the maximum."""
        start = self.heap_start
        if heap_bytes(start) > heap_bytes(self.heap):
            start = self.heap
        return f"-Xms{start}", f"-Xmx{self.heap}"

    @property
    def jvm_jit(self) -> tuple[str, ...]:
        """The JVM options of :attr:`jit`."""
        return _JIT_OPTIONS[self.jit]

    @property
    def bootstrap(self) -> str:
        return f"{_HOST}:{self.port}"

    @property
    def replicas(self) -> int:
        """Replication factor of topics: 1 on a single node, min(3, nodes) on a cluster."""
        return replicas_for(len(self.voters) or 1)

    @property
    def min_insync(self) -> int:
        """``min.insync.replicas``: 2 of 3 replicas, else 1."""
        return min_insync_replicas(self.replicas)

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.data_dir / "log4j2.properties"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "data"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def console_log(self) -> Path:
        return self.logs_dir / "console.log"


@dataclass(frozen=True)
class KafkaHandle:
    """A running broker."""

    data_dir: Path
    pid: int
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients' ``bootstrap_servers``."""
        return f"{_HOST}:{self.port}"


@dataclass(frozen=True)
class KafkaStatus:
    """What :func:`status` found in a data directory."""

    running: bool
    pid: int | None
    port: int | None
    answering: bool


def find_java() -> str:
    """The ``java`` to run (``$JAVA_HOME/bin/java`` first), checked to be 17+."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise ToolMissingError(
            f"java not found on PATH: install a Java runtime, version {MIN_JAVA_VERSION} "
            "or newer (or set JAVA_HOME)"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    version = parse_java_version(out.stderr + out.stdout)
    if 0 < version < MIN_JAVA_VERSION:  # 0: unknown output, let the JVM decide
        raise ToolMissingError(
            f"{java} is Java {version}; Kafka {KAFKA_VERSION} needs Java {MIN_JAVA_VERSION}+"
        )
    return java


def parse_java_version(text: str) -> int:
    """Major version from ``java -version`` output; 0 if it names none."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if match is None:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_maven() -> str:
    """The ``mvn`` on PATH."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ToolMissingError(
            "mvn not found on PATH: install Apache Maven 3.6 or newer to fetch the Kafka "
            f"jars, or point {LIB_DIR_ENV} at a folder that already holds them"
        )
    return mvn


def fetch_jars(lib_dir: Path | str | None = None) -> Path:
    """Copy the broker's jars into ``lib_dir`` with Maven, unless already there."""
    lib = Path(lib_dir).expanduser() if lib_dir else default_lib_dir()
    if (lib / KAFKA_JAR).is_file():  # copied last: its presence marks a complete fetch
        return lib
    mvn = find_maven()
    find_java()
    staging = lib.with_name(lib.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    log.info("fetching Kafka %s jars with Maven into %s (first run only)", KAFKA_VERSION, lib)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="runstream-kafka-pom-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(_template("pom.xml"), encoding="utf-8")
        proc = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
             f"-DoutputDirectory={staging}", f"-Dkafka.version={KAFKA_VERSION}",
             f"-Dscala.binary.version={SCALA_BINARY_VERSION}", f"-Dlog4j.version={LOG4J_VERSION}"],
            cwd=tmp, capture_output=True, text=True, check=False,
        )  # fmt: skip
    if proc.returncode != 0 or not (staging / KAFKA_JAR).is_file():
        shutil.rmtree(staging, ignore_errors=True)
        raise FetchError(
            f"mvn could not fetch the Kafka jars (exit {proc.returncode})",
            _tail(proc.stdout + proc.stderr, 15),
        )
    lib.mkdir(parents=True, exist_ok=True)
    jars = sorted(staging.glob("*.jar"), key=lambda jar: jar.name == KAFKA_JAR)
    for jar in jars:  # the broker jar last
        os.replace(jar, lib / jar.name)
    shutil.rmtree(staging, ignore_errors=True)
    log.info("fetched %d jars in %.0f s", len(jars), time.monotonic() - started)
    return lib


def _template(name: str) -> str:
    package = resources.files("runstream.infra.kafka")
    return package.joinpath(_TEMPLATES, name).read_text(encoding="utf-8")


def render_server_properties(config: BrokerConfig) -> str:
    """The broker's ``server.properties``."""
    if config.voters:
        voters = ",".join(f"{node}@{_HOST}:{port}" for node, port in config.voters)
        quorum = f"controller.quorum.voters={voters}"
    else:
        quorum = f"controller.quorum.bootstrap.servers={_HOST}:{config.controller_port}"
    return Template(_template("server.properties")).substitute(
        port=config.port, controller_port=config.controller_port,
        log_dirs=config.log_dirs, num_partitions=config.num_partitions,
        node_id=config.node_id, quorum=quorum, replicas=config.replicas,
        min_isr=config.min_insync,
    )  # fmt: skip


def render_log4j2(config: BrokerConfig) -> str:
    """The broker's log4j2 configuration (file logging under ``logs/``)."""
    return Template(_template("log4j2.properties")).substitute(logs_dir=config.logs_dir)


def write_config(config: BrokerConfig) -> None:
    """Write the broker's config files into its data directory."""
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    config.properties_file.write_text(render_server_properties(config), encoding="utf-8")
    config.log4j_file.write_text(render_log4j2(config), encoding="utf-8")


def configured_ports(properties_file: Path) -> tuple[int, int] | None:
    """``(port, controller_port)`` from a written ``server.properties``, if any."""
    try:
        text = properties_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    line = re.search(r"^listeners=(.*)$", text, re.M)
    listeners = line.group(1) if line else ""
    found = dict(re.findall(r"(PLAINTEXT|CONTROLLER)://[^,\s]*:(\d+)", listeners))
    if "PLAINTEXT" not in found or "CONTROLLER" not in found:
        return None
    return int(found["PLAINTEXT"]), int(found["CONTROLLER"])


def _runs_config(pid: int, config: BrokerConfig) -> bool:
    """Whether ``pid`` is the broker of ``config`` (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc to ask: trust the pid file
    return str(config.properties_file).encode() in cmdline


def _broker_pid(config: BrokerConfig) -> int | None:
    """The pid of the data directory's running broker, if one runs."""
    try:
        pid = int(config.pid_file.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) and _runs_config(pid, config) else None


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def log_tail(config: BrokerConfig, lines: int = 30) -> str:
    """The last lines the broker wrote: its console output, else its log file."""
    for path in (config.console_log, config.logs_dir / "server.log"):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        if text.strip():
            return f"--- last lines of {path} ---\n{_tail(text, lines)}"
    return ""


def _java_command(java: str, config: BrokerConfig, main: str, *args: str) -> list[str]:
    return [
        # the serial collector: a single small broker gains nothing from G1's threads and
        # region bookkeeping, which cost resident memory beyond the heap
        java, *config.jvm_heap, *config.jvm_jit, "-XX:+UseSerialGC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={config.log4j_file}",
        "-cp", str(config.lib_dir / "*"), main, *args,
    ]  # fmt: skip


def _format_storage(java: str, config: BrokerConfig, cluster_id: str | None = None) -> None:
    """Format the KRaft storage once: ``format --standalone`` for a single node; a node of
    a cluster is formatted with the cluster's id (its voters are in its properties)."""
    if (config.log_dirs / "meta.properties").is_file():
        return
    cluster_id = cluster_id or new_cluster_id(java, config)
    standalone = () if config.voters else ("--standalone",)
    _storage_tool(java, config, "format", "-t", cluster_id, "-c", str(config.properties_file),
                  *standalone)  # fmt: skip
    log.info("formatted kafka storage in %s (cluster id %s)", config.log_dirs, cluster_id)


def new_cluster_id(java: str, config: BrokerConfig) -> str:
    """A fresh KRaft cluster id (``StorageTool random-uuid``)."""
    new_id = _storage_tool(java, config, "random-uuid")
    ids = re.findall(r"^[A-Za-z0-9_-]{22}$", new_id, re.M)  # base64 of a 16-byte uuid
    if not ids:
        raise BrokerStartError("StorageTool random-uuid printed no cluster id", _tail(new_id, 20))
    return ids[-1]


def _storage_tool(java: str, config: BrokerConfig, *args: str) -> str:
    command = _java_command(java, config, "kafka.tools.StorageTool", *args)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = _tail(done.stdout + done.stderr, 20)
        raise BrokerStartError(f"StorageTool {args[0]} failed", output)
    return done.stdout


def _start(java: str, config: BrokerConfig) -> int:
    """Start the broker detached from this process; returns its pid."""
    command = _java_command(java, config, "kafka.Kafka", str(config.properties_file))
    with open(config.console_log, "ab") as console:
        child = subprocess.Popen(
            command, cwd=config.data_dir, stdin=subprocess.DEVNULL,
            stdout=console, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    _CHILDREN[child.pid] = child
    config.pid_file.write_text(f"{child.pid}\n", encoding="ascii")
    return child.pid


def _wait_ready(config: BrokerConfig, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not _alive(pid):
            raise BrokerStartError(f"kafka (pid {pid}) exited during startup", log_tail(config))
        if _port_answers(config.port) and _metadata_answers(config.bootstrap):
            return
        if time.monotonic() > deadline:
            raise BrokerStartError(
                f"kafka (pid {pid}) did not answer on {config.bootstrap} within {timeout:.0f} s",
                log_tail(config),
            )
        time.sleep(0.5)


def up(
    data_dir: Path | str,
    port: int = 9092,
    controller_port: int = 9093,
    heap: str | None = None,
    *,
    lib_dir: Path | str | None = None,
    timeout: float = 120.0,
) -> KafkaHandle:
    """Start the data directory's broker, or return it if it already runs.

    Fetches the jars first if ``lib_dir`` lacks them, formats the storage on
    first use and waits until the broker serves metadata.
    """
    config = BrokerConfig(
        data_dir=Path(data_dir).expanduser().resolve(), port=port,
        controller_port=controller_port, heap=heap or default_heap(),
        lib_dir=Path(lib_dir or default_lib_dir()).expanduser().resolve(),
    )  # fmt: skip
    if (config.data_dir / "node-1").is_dir():
        raise BrokerConflictError(
            f"{config.data_dir} holds a cluster (runstream kafka up --brokers N): give the "
            "single broker another folder"
        )
    pid = _broker_pid(config)
    if pid is not None:
        return _existing(config, pid, timeout)
    for name, number in (("port", port), ("controller port", controller_port)):
        if not _port_free(number):
            raise PortInUseError(
                f"{name} {number} on {_HOST} is already in use by another process; "
                "choose another port"
            )
    java = find_java()
    fetch_jars(config.lib_dir)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    write_config(config)
    _format_storage(java, config)
    started = time.monotonic()
    pid = _start(java, config)
    log.info("kafka starting (pid %d) on %s, data in %s", pid, config.bootstrap, config.data_dir)
    try:
        _wait_ready(config, pid, timeout)
    except BrokerStartError:
        if _alive(pid):
            _stop(pid, timeout=10)
        config.pid_file.unlink(missing_ok=True)
        raise
    log.info("kafka ready on %s in %.1f s", config.bootstrap, time.monotonic() - started)
    return KafkaHandle(config.data_dir, pid, port, controller_port)


def _existing(config: BrokerConfig, pid: int, timeout: float) -> KafkaHandle:
    ports = configured_ports(config.properties_file)
    if ports != (config.port, config.controller_port):
        raise BrokerConflictError(
            f"kafka in {config.data_dir} already runs (pid {pid}) with ports {ports}, "
            f"not {(config.port, config.controller_port)}: stop it first"
        )
    _wait_ready(config, pid, timeout)
    log.info("kafka already running (pid %d) on %s", pid, config.bootstrap)
    return KafkaHandle(config.data_dir, pid, config.port, config.controller_port)


def down(data_dir: Path | str, timeout: float = 30.0) -> bool:
    """Stop the data directory's broker: SIGTERM, then SIGKILL after ``timeout``.

    Returns whether a broker was running.  Harmless when none is.
    """
    config = BrokerConfig(data_dir=Path(data_dir).expanduser().resolve())
    pid = _broker_pid(config)
    if pid is not None:
        log.info("stopping kafka (pid %d)", pid)
        _stop(pid, timeout)
    config.pid_file.unlink(missing_ok=True)
    return pid is not None


def status(data_dir: Path | str) -> KafkaStatus:
    """Whether the data directory's broker runs, on which port, and answers TCP."""
    config = BrokerConfig(data_dir=Path(data_dir).expanduser().resolve())
    pid = _broker_pid(config)
    ports = configured_ports(config.properties_file)
    port = ports[0] if ports else None
    answering = pid is not None and port is not None and _port_answers(port)
    return KafkaStatus(pid is not None, pid, port, answering)
