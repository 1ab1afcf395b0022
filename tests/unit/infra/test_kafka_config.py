"""The local Kafka launcher without a broker: config, tools, errors, CLI.

Programs the launcher runs (``java``, ``mvn``) are stood in for by small shell
scripts on a PATH of our own, so these tests need neither a JVM nor Maven.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import pytest

from runstream.infra import kafka
from runstream.infra.kafka import cli as kafka_cli

KAFKA_JAR = kafka.KAFKA_JAR


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] not in "#!")
    return {key.strip(): value.strip() for key, value in pairs}


def _script(bin_dir: Path, name: str, body: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body), encoding="utf-8")
    path.chmod(0o755)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tools_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PATH folder of our own: no java, no mvn until a test adds them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    return bin_dir


def _fake_java(bin_dir: Path, version: str = "17.0.15") -> Path:
    """A java that formats storage and whose broker dies at once, saying why."""
    return _script(
        bin_dir,
        "java",
        f"""\
        [ "$1" = "-version" ] && {{ echo 'openjdk version "{version}" 2025-04-15' >&2; exit 0; }}
        for arg in "$@"; do last="$arg"; done
        case "$*" in
          *StorageTool*random-uuid*) echo "q1Sm0jV-SjyC2ofhvxTZ4g" ;;
          *StorageTool*format*) echo "format $*" >> "$FAKE_JAVA_LOG" ;;
          *kafka.Kafka*) echo "ERROR boom: cannot bind (fake broker)"; exit 1 ;;
        esac
        """,
    )


# -- rendering ----------------------------------------------------------------


def test_server_properties_make_a_single_node_kraft_broker(tmp_path: Path) -> None:
    config = kafka.BrokerConfig(tmp_path, port=19092, controller_port=19093)
    props = _props(kafka.render_server_properties(config))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["num.partitions"] == "8"
    assert props["auto.create.topics.enable"] == "true"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
        "default.replication.factor",
        "min.insync.replicas",
    ):
        assert props[key] == "1", key


def test_log4j2_config_logs_to_files_under_the_data_dir(tmp_path: Path) -> None:
    config = kafka.BrokerConfig(tmp_path)
    text = kafka.render_log4j2(config)
    props = _props(text)
    assert "${" not in text
    assert props["appender.file.fileName"] == str(tmp_path / "logs" / "server.log")
    assert props["appender.console.filter.threshold.level"] == "warn"
    assert props["rootLogger.level"] == "info"


def test_write_config_then_read_the_ports_back(tmp_path: Path) -> None:
    config = kafka.BrokerConfig(tmp_path, port=29092, controller_port=29093)
    assert kafka.configured_ports(config.properties_file) is None
    kafka.write_config(config)
    assert kafka.configured_ports(config.properties_file) == (29092, 29093)
    assert config.log4j_file.is_file()
    assert config.logs_dir.is_dir()


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"port": 9092, "controller_port": 9092}, "must differ"),
        ({"port": 0}, "port must be in"),
        ({"controller_port": 70000}, "controller_port must be in"),
        ({"heap": "lots"}, "heap"),
        ({"heap_start": "0m"}, "initial heap"),
        ({"jit": "c2"}, "jit must be one of c1, full"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, settings: dict, complaint: str) -> None:
    with pytest.raises(kafka.BrokerConfigError, match=complaint) as caught:
        kafka.BrokerConfig(tmp_path, **settings)
    assert isinstance(caught.value, ValueError)


def test_the_heap_starts_small_and_never_above_its_maximum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(kafka.HEAP_ENV, raising=False)
    monkeypatch.delenv(kafka.HEAP_START_ENV, raising=False)
    assert kafka.BrokerConfig(tmp_path).jvm_heap == ("-Xms32m", "-Xmx256m")
    assert kafka.BrokerConfig(tmp_path, heap="16m").jvm_heap == ("-Xms16m", "-Xmx16m")
    monkeypatch.setenv(kafka.HEAP_START_ENV, "1g")
    monkeypatch.setenv(kafka.HEAP_ENV, "2g")
    assert kafka.BrokerConfig(tmp_path).jvm_heap == ("-Xms1g", "-Xmx2g")
    assert kafka.heap_bytes("65536k") == 64 << 20 and kafka.heap_bytes("1024") == 1024


def test_the_broker_runs_the_client_compiler_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (kafka.JIT_ENV, kafka.HEAP_ENV, kafka.HEAP_START_ENV):
        monkeypatch.delenv(name, raising=False)
    config = kafka.BrokerConfig(tmp_path)
    assert config.jvm_jit == ("-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=32m")
    command = kafka._java_command("java", config, "kafka.Kafka")
    assert command[1:6] == ["-Xms32m", "-Xmx256m", *config.jvm_jit, "-XX:+UseSerialGC"]
    monkeypatch.setenv(kafka.JIT_ENV, "full")
    full = kafka.BrokerConfig(tmp_path)
    assert full.jvm_jit == ()
    assert not any("Tiered" in arg for arg in kafka._java_command("java", full, "kafka.Kafka"))


def test_templates_ship_as_the_package_data_that_pyproject_lists() -> None:
    folder = resources.files("runstream.infra.kafka").joinpath("resources")
    names = sorted(entry.name for entry in folder.iterdir())
    assert names == ["log4j2.properties", "pom.xml", "server.properties"]
    # pyproject ships "resources/*.xml" and "resources/*.properties" for runstream.infra.kafka
    assert all(name.endswith((".xml", ".properties")) for name in names)


def test_pom_pins_the_broker_and_its_log4j2_binding() -> None:
    pom = resources.files("runstream.infra.kafka").joinpath("resources", "pom.xml").read_text()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.fromstring(pom)
    properties = {el.tag.split("}")[1]: el.text for el in root.iterfind("m:properties/*", ns)}
    assert properties["kafka.version"] == kafka.KAFKA_VERSION
    assert properties["scala.binary.version"] == kafka.SCALA_BINARY_VERSION
    assert properties["log4j.version"] == kafka.LOG4J_VERSION
    artifacts = {
        (dep.findtext("m:groupId", namespaces=ns), dep.findtext("m:artifactId", namespaces=ns))
        for dep in root.iterfind("m:dependencies/m:dependency", ns)
    }
    assert artifacts == {
        ("org.apache.kafka", "kafka_${scala.binary.version}"),
        ("org.apache.logging.log4j", "log4j-core"),
        ("org.apache.logging.log4j", "log4j-slf4j-impl"),
    }


# -- tools ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("no version here", 0),
    ],
)
def test_parse_java_version(output: str, major: int) -> None:
    assert kafka.parse_java_version(output) == major


def test_default_lib_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kafka.LIB_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    expected = tmp_path / "cache" / "runstream" / f"kafka-{kafka.KAFKA_VERSION}" / "lib"
    assert kafka.default_lib_dir() == expected
    monkeypatch.setenv(kafka.LIB_DIR_ENV, str(tmp_path / "jars"))
    assert kafka.default_lib_dir() == tmp_path / "jars"


def test_missing_java_is_named(tools_path: Path, tmp_path: Path) -> None:
    with pytest.raises(kafka.ToolMissingError, match=r"java not found.*install a Java runtime"):
        kafka.up(tmp_path / "data", port=_free_port(), controller_port=_free_port())
    assert isinstance(kafka.ToolMissingError("x"), kafka.InfraError)


def test_java_home_is_preferred(tools_path: Path, tmp_path: Path, monkeypatch) -> None:
    java = _fake_java(tmp_path / "jdk" / "bin")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    assert kafka.find_java() == str(java)


def test_old_java_is_refused(tools_path: Path) -> None:
    _fake_java(tools_path, version="11.0.2")
    with pytest.raises(kafka.ToolMissingError, match="Java 11"):
        kafka.find_java()


def test_missing_maven_is_named(tools_path: Path, tmp_path: Path) -> None:
    _fake_java(tools_path)
    with pytest.raises(kafka.ToolMissingError, match=r"mvn not found.*RUNSTREAM_KAFKA_LIB"):
        kafka.fetch_jars(tmp_path / "lib")


def test_fetch_skips_a_complete_lib_dir(tools_path: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / KAFKA_JAR).touch()
    assert kafka.fetch_jars(lib) == lib  # no mvn on PATH: it was not needed


def test_fetch_copies_what_maven_resolved(tools_path: Path, tmp_path: Path) -> None:
    _fake_java(tools_path)
    _script(
        tools_path,
        "mvn",
        f"""\
        for arg in "$@"; do
          case "$arg" in -DoutputDirectory=*) out="${{arg#-DoutputDirectory=}}" ;; esac
        done
        /bin/mkdir -p "$out"
        : > "$out/{KAFKA_JAR}"
        : > "$out/log4j-core-2.24.3.jar"
        echo "$@" > "{tmp_path}/mvn-args"
        """,
    )
    lib = kafka.fetch_jars(tmp_path / "lib")
    assert sorted(p.name for p in lib.iterdir()) == [KAFKA_JAR, "log4j-core-2.24.3.jar"]
    assert not (tmp_path / "lib.partial").exists()
    args = (tmp_path / "mvn-args").read_text()
    assert "dependency:copy-dependencies" in args
    assert f"-Dkafka.version={kafka.KAFKA_VERSION}" in args


def test_a_failed_fetch_reports_maven_output(tools_path: Path, tmp_path: Path) -> None:
    _fake_java(tools_path)
    _script(tools_path, "mvn", 'echo "[ERROR] Could not resolve dependencies"; exit 1\n')
    with pytest.raises(kafka.FetchError, match="exit 1") as caught:
        kafka.fetch_jars(tmp_path / "lib")
    assert "Could not resolve" in caught.value.detail
    assert not (tmp_path / "lib").exists()
    assert not (tmp_path / "lib.partial").exists()


# -- lifecycle without a broker ------------------------------------------------


def test_a_taken_port_is_reported(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(kafka.PortInUseError, match=f"port {port} .* in use"):
            kafka.up(tmp_path, port=port, controller_port=_free_port())


def test_a_broker_that_dies_is_reported_with_its_log(
    tools_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_java(tools_path)
    monkeypatch.setenv("FAKE_JAVA_LOG", str(tmp_path / "java.log"))
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / KAFKA_JAR).touch()
    data = tmp_path / "data"
    with pytest.raises(kafka.BrokerStartError, match="exited during startup") as caught:
        kafka.up(data, port=_free_port(), controller_port=_free_port(), lib_dir=lib, timeout=20)
    assert "boom: cannot bind" in caught.value.detail
    assert "boom: cannot bind" in str(caught.value)
    assert not (data / "kafka.pid").exists()
    formatted = (tmp_path / "java.log").read_text()
    assert "-t q1Sm0jV-SjyC2ofhvxTZ4g" in formatted
    assert "--standalone" in formatted


def test_down_and_status_are_harmless_without_a_broker(tmp_path: Path) -> None:
    assert kafka.down(tmp_path) is False
    assert kafka.status(tmp_path) == kafka.KafkaStatus(False, None, None, False)


def test_a_stale_pid_file_is_cleared(tmp_path: Path) -> None:
    gone = subprocess.run(["/bin/sh", "-c", "echo $$"], capture_output=True, text=True)
    (tmp_path / "kafka.pid").write_text(gone.stdout)
    assert not kafka.status(tmp_path).running
    assert kafka.down(tmp_path) is False
    assert not (tmp_path / "kafka.pid").exists()


def test_a_reused_pid_is_not_taken_for_the_broker(tmp_path: Path) -> None:
    # This test process is alive but is not the data dir's broker: down must not signal it.
    (tmp_path / "kafka.pid").write_text(f"{os.getpid()}\n")
    assert not kafka.status(tmp_path).running
    assert kafka.down(tmp_path) is False


# -- CLI -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runstream")
    kafka_cli.register(parser.add_subparsers(dest="command"))
    return parser


@pytest.mark.parametrize(
    ("command", "env_vars"),
    [
        ("fetch", ["RUNSTREAM_KAFKA_LIB"]),
        ("up", ["RUNSTREAM_KAFKA_DATA_DIR", "RUNSTREAM_KAFKA_PORT", "RUNSTREAM_KAFKA_LIB"]),
        ("down", ["RUNSTREAM_KAFKA_DATA_DIR"]),
        ("status", ["RUNSTREAM_KAFKA_DATA_DIR"]),
    ],
)
def test_help_names_the_env_vars(command: str, env_vars: list[str], capsys) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["kafka", command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in env_vars:
        assert name in text


def test_flags_default_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RUNSTREAM_KAFKA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RUNSTREAM_KAFKA_PORT", "19555")
    args = _parser().parse_args(["kafka", "up"])
    assert (args.data_dir, args.port, args.controller_port) == (tmp_path, 19555, 9093)
    assert _parser().parse_args(["kafka", "up", "--port", "19600"]).port == 19600


def test_a_bad_port_is_a_usage_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["kafka", "up", "--data-dir", str(tmp_path), "--port", "x"])
    assert "not a TCP port number" in capsys.readouterr().err


def test_expected_errors_are_one_line_without_traceback(
    tools_path: Path, tmp_path: Path, capsys
) -> None:
    argv = ["kafka", "up", "--data-dir", str(tmp_path), "--port", str(_free_port()),
            "--controller-port", str(_free_port())]  # fmt: skip
    args = _parser().parse_args(argv)
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("runstream kafka up: java not found")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_status_exit_code_says_whether_it_runs(tmp_path: Path, capsys) -> None:
    args = _parser().parse_args(["kafka", "status", "--data-dir", str(tmp_path)])
    assert args.func(args) == 1
    assert "not running" in capsys.readouterr().out
