"""A local single-node Apache Kafka 4.x broker in KRaft mode, without Docker.

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
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.0"
SCALA_BINARY_VERSION = "2.13"
LOG4J_VERSION = "2.24.3"
MIN_JAVA_VERSION = 17
LIB_DIR_ENV = "RUNSTREAM_KAFKA_LIB"
KAFKA_JAR = f"kafka_{SCALA_BINARY_VERSION}-{KAFKA_VERSION}.jar"

_HOST = "127.0.0.1"
_TEMPLATES = "kafka"  # package-data folder beside this module
_HEAP_RE = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")

# Brokers started by this process, so their exit can be reaped (no zombies
# that still look alive) and their Popen objects are not collected early.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class InfraError(Exception):
    """Base of the errors raised by runstream's local infrastructure."""


class ToolMissingError(InfraError):
    """A required program (java, mvn) is missing or too old."""


class FetchError(InfraError):
    """Maven could not fetch the broker's jars."""


class PortInUseError(InfraError):
    """A port the broker needs is taken by another process."""


class BrokerConflictError(InfraError):
    """The data directory's broker already runs, with other settings."""


class BrokerStartError(InfraError):
    """The broker failed to start or to answer in time; ``log_tail`` tells why."""

    def __init__(self, summary: str, log_tail: str = "") -> None:
        super().__init__(f"{summary}\n{log_tail}" if log_tail else summary)
        self.summary = summary
        self.log_tail = log_tail


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
    heap: str = "512m"
    lib_dir: Path = field(default_factory=default_lib_dir)
    num_partitions: int = 8

    def __post_init__(self) -> None:
        for name in ("port", "controller_port"):
            if not 0 < getattr(self, name) < 65536:
                raise ValueError(f"{name} must be in 1..65535, got {getattr(self, name)}")
        if self.port == self.controller_port:
            raise ValueError(f"port and controller_port must differ (both {self.port})")
        if not _HEAP_RE.match(self.heap):
            raise ValueError(f"heap must look like 512m or 2g, got {self.heap!r}")

    @property
    def bootstrap(self) -> str:
        return f"{_HOST}:{self.port}"

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

    data_dir: Path
    running: bool
    pid: int | None
    port: int | None
    answering: bool


# -- tools -------------------------------------------------------------------


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
    version = java_major_version(java)
    if version < MIN_JAVA_VERSION:
        raise ToolMissingError(
            f"{java} is Java {version}; Kafka {KAFKA_VERSION} needs Java "
            f"{MIN_JAVA_VERSION} or newer"
        )
    return java


def java_major_version(java: str) -> int:
    """Major version of a ``java`` binary (8 for ``1.8.0``); 0 if unknown."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    return parse_java_version(out.stderr + out.stdout)


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


# -- jars --------------------------------------------------------------------


def has_jars(lib_dir: Path) -> bool:
    """Whether ``lib_dir`` holds a complete fetch (the broker jar is copied last)."""
    return (lib_dir / KAFKA_JAR).is_file()


def fetch_jars(lib_dir: Path | str | None = None) -> Path:
    """Copy the broker's jars into ``lib_dir`` with Maven, unless already there."""
    lib = Path(lib_dir).expanduser() if lib_dir else default_lib_dir()
    if has_jars(lib):
        log.debug("kafka jars already in %s", lib)
        return lib
    mvn = find_maven()
    find_java()
    staging = lib.with_name(lib.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    log.info("fetching Kafka %s jars with Maven into %s (first run only)", KAFKA_VERSION, lib)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="runstream-kafka-pom-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_bytes(_template_bytes("pom.xml"))
        proc = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
             f"-DoutputDirectory={staging}", f"-Dkafka.version={KAFKA_VERSION}",
             f"-Dscala.binary.version={SCALA_BINARY_VERSION}", f"-Dlog4j.version={LOG4J_VERSION}"],
            cwd=tmp, capture_output=True, text=True, check=False,
        )  # fmt: skip
    if proc.returncode != 0 or not has_jars(staging):
        shutil.rmtree(staging, ignore_errors=True)
        detail = _tail(proc.stdout + proc.stderr, 15) or "no output"
        raise FetchError(f"mvn could not fetch the Kafka jars (exit {proc.returncode}):\n{detail}")
    lib.mkdir(parents=True, exist_ok=True)
    jars = sorted(staging.glob("*.jar"), key=lambda jar: jar.name == KAFKA_JAR)
    for jar in jars:  # the broker jar last: its presence marks a complete fetch
        os.replace(jar, lib / jar.name)
    shutil.rmtree(staging, ignore_errors=True)
    log.info("fetched %d jars in %.0f s", len(jars), time.monotonic() - started)
    return lib


# -- config ------------------------------------------------------------------


def _template_bytes(name: str) -> bytes:
    return resources.files(__package__ or "runstream.infra").joinpath(_TEMPLATES, name).read_bytes()


def _render(name: str, **values: object) -> str:
    return Template(_template_bytes(name).decode("utf-8")).substitute(values)


def render_server_properties(config: BrokerConfig) -> str:
    """The broker's ``server.properties``."""
    return _render(
        "server.properties",
        port=config.port,
        controller_port=config.controller_port,
        log_dirs=config.log_dirs,
        num_partitions=config.num_partitions,
    )


def render_log4j2(config: BrokerConfig) -> str:
    """The broker's log4j2 configuration (file logging under ``logs/``)."""
    return _render("log4j2.properties", logs_dir=config.logs_dir)


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
    found = dict(re.findall(r"(PLAINTEXT|CONTROLLER)://[^,\s]*:(\d+)", line.group(1) if line else ""))
    if "PLAINTEXT" not in found or "CONTROLLER" not in found:
        return None
    return int(found["PLAINTEXT"]), int(found["CONTROLLER"])
