"""The local Kafka cluster launcher without a broker: node layout, config, formatting, CLI.

``java`` is stood in for by the shell script of test_kafka_config.py (it formats storage
and its broker dies at once), so these tests need no JVM.  The cluster itself runs in
tests/integration/faults/test_cluster_faults.py.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from runstream.infra import kafka
from runstream.infra.kafka import cli as kafka_cli
from runstream.infra.kafka import cluster
from runstream.infra.stack_cli import register as register_stack
from runstream.infra.stack_cli import settings_from_args
from runstream.proto.vocabulary import min_insync_replicas, replicas_for
from tests.unit.infra.test_kafka_config import _fake_java, _props, tools_path  # noqa: F401


def test_replicas_follow_the_brokers_up_to_three() -> None:
    assert [replicas_for(n) for n in (0, 1, 2, 3, 5)] == [1, 1, 2, 3, 3]
    assert [min_insync_replicas(r) for r in (1, 2, 3, 5)] == [1, 1, 2, 2]


def test_node_I_takes_port_plus_2_I(tmp_path: Path) -> None:
    configs = cluster.node_configs(tmp_path, 3, port=19592, controller_port=19593)
    assert [(c.node_id, c.port, c.controller_port) for c in configs] == [
        (1, 19592, 19593), (2, 19594, 19595), (3, 19596, 19597),
    ]  # fmt: skip
    assert [c.data_dir for c in configs] == [tmp_path.resolve() / f"node-{i}" for i in (1, 2, 3)]
    assert {c.voters for c in configs} == {((1, 19593), (2, 19595), (3, 19597))}


def test_a_node_of_three_replicates_everything_three_times(tmp_path: Path) -> None:
    config = cluster.node_configs(tmp_path, 3, port=19592, controller_port=19593)[1]
    props = _props(kafka.render_server_properties(config))
    assert props["node.id"] == "2"
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:19593,2@127.0.0.1:19595,3@127.0.0.1:19597"
    )
    assert "controller.quorum.bootstrap.servers" not in props
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19594,CONTROLLER://127.0.0.1:19595"
    assert props["log.dirs"] == str(tmp_path.resolve() / "node-2" / "data")
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[key] == "3", key
    for key in (
        "min.insync.replicas",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "2", key


def test_a_single_broker_keeps_one_replica(tmp_path: Path) -> None:
    props = _props(kafka.render_server_properties(kafka.BrokerConfig(tmp_path)))
    assert props["default.replication.factor"] == props["min.insync.replicas"] == "1"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"


@pytest.mark.parametrize(
    ("brokers", "port", "controller_port", "complaint"),
    [
        (1, 9092, 9093, "2..9 brokers"),
        (10, 9092, 9093, "2..9 brokers"),
        (3, 9092, 9094, "clashing ports"),
        (3, 65532, 65533, "must be in 1..65535"),
    ],
)
def test_bad_layouts_are_refused(
    tmp_path: Path, brokers: int, port: int, controller_port: int, complaint: str
) -> None:
    with pytest.raises(kafka.BrokerConfigError, match=complaint):
        cluster.node_configs(tmp_path, brokers, port=port, controller_port=controller_port)


def _free_base() -> int:
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = int(sock.getsockname()[1])
        if base + 6 < 65536:
            return base
    raise RuntimeError("no port")


def test_every_node_is_formatted_with_one_cluster_id_and_a_failed_start_is_reported(
    tools_path: Path,  # noqa: F811 - the fixture
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_java(tools_path)
    monkeypatch.setenv("FAKE_JAVA_LOG", str(tmp_path / "java.log"))
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / kafka.KAFKA_JAR).touch()
    base = _free_base()
    data = tmp_path / "cluster"
    with pytest.raises(kafka.BrokerStartError, match="exited during startup") as caught:
        cluster.up(data, 3, port=base, controller_port=base + 1, lib_dir=lib, timeout=20)
    assert "boom: cannot bind" in caught.value.detail
    formats = (tmp_path / "java.log").read_text().splitlines()
    assert len(formats) == 3
    assert {re.search(r"-t (\S+)", line).group(1) for line in formats} == {  # type: ignore[union-attr]
        "q1Sm0jV-SjyC2ofhvxTZ4g"
    }
    assert not any("--standalone" in line for line in formats)
    assert cluster.node_ids(data) == [1, 2, 3]
    assert not any((data / f"node-{i}" / "kafka.pid").exists() for i in (1, 2, 3))


def test_a_cluster_folder_is_not_a_single_broker_and_back(tmp_path: Path) -> None:
    (tmp_path / "node-1").mkdir()
    with pytest.raises(kafka.BrokerConflictError, match="holds a cluster"):
        kafka.up(tmp_path, port=_free_base(), controller_port=_free_base())
    single = tmp_path / "single"
    single.mkdir()
    (single / "server.properties").write_text("node.id=1\n")
    with pytest.raises(kafka.BrokerConflictError, match="holds a single broker"):
        cluster.up(single, 3, port=_free_base())


def test_down_and_status_of_a_cluster_without_processes(tmp_path: Path) -> None:
    for i in (1, 2):
        (tmp_path / f"node-{i}").mkdir()
    assert cluster.is_cluster(tmp_path)
    assert cluster.down(tmp_path) == 0
    assert cluster.status(tmp_path) == {
        1: kafka.KafkaStatus(False, None, None, False),
        2: kafka.KafkaStatus(False, None, None, False),
    }
    assert cluster.active_controller(tmp_path) is None
    assert not cluster.is_cluster(tmp_path / "nothing-here")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runstream")
    commands = parser.add_subparsers(dest="command")
    kafka_cli.register(commands)
    register_stack(commands)
    return parser


def test_brokers_flag_and_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["kafka", "up", "--data-dir", str(tmp_path)]
    assert _parser().parse_args(argv).brokers == 1
    assert _parser().parse_args([*argv, "--brokers", "3"]).brokers == 3
    monkeypatch.setenv("RUNSTREAM_KAFKA_BROKERS", "3")
    assert _parser().parse_args(argv).brokers == 3


def test_a_bad_broker_count_is_a_usage_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["kafka", "up", "--data-dir", str(tmp_path), "--brokers", "0"])
    assert "brokers must be 1..9" in capsys.readouterr().err


def test_cluster_status_exit_code_and_lines(tmp_path: Path, capsys) -> None:
    (tmp_path / "node-1").mkdir()
    args = _parser().parse_args(["kafka", "status", "--data-dir", str(tmp_path)])
    assert args.func(args) == 1
    assert "node 1: not running" in capsys.readouterr().out


def test_up_takes_a_list_of_brokers() -> None:
    args = _parser().parse_args(["up", "--kafka", "h1:9092,h2:9092,h3:9092"])
    assert settings_from_args(args).kafka == "h1:9092,h2:9092,h3:9092"


def test_down_stops_every_node_it_finds(tmp_path: Path) -> None:
    # Stand-ins whose command line names their node's properties, as a broker's does.
    procs = []
    for node in (1, 2, 3):
        folder = tmp_path / f"node-{node}"
        folder.mkdir()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import time; time.sleep(120)",
                str(folder / "server.properties"),
            ]
        )
        procs.append(proc)
        (folder / "kafka.pid").write_text(f"{proc.pid}\n")
    try:
        assert [s.running for s in cluster.status(tmp_path).values()] == [True, True, True]
        assert cluster.down(tmp_path, timeout=10) == 3
        assert [proc.wait(10) for proc in procs] == [-15, -15, -15]  # SIGTERM, each of them
        assert not any((tmp_path / f"node-{n}" / "kafka.pid").exists() for n in (1, 2, 3))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
