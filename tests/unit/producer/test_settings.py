"""Settings from the environment, URIs, and write tokens."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from runstream.producer import cli
from runstream.producer.gateway import cli as gateway_cli
from runstream.producer.gateway.settings import ENV_VARS as GATEWAY_ENV_VARS
from runstream.producer.gateway.settings import GatewaySettings
from runstream.producer.settings import (
    ENV_VARS,
    ProducerSettings,
    SettingsError,
    parse_uri,
)
from runstream.proto.errors import InvalidTokenError
from runstream.proto.tokens import WriteToken, merge_all
from runstream.proto.v1 import common_pb2
from runstream.proto.vocabulary import experiment_id_for_name


def test_defaults_and_environment() -> None:
    assert ProducerSettings.from_env({}) == ProducerSettings()
    settings = ProducerSettings.from_env(
        {
            "RUNSTREAM_URI": "grpc://gw:1",
            "RUNSTREAM_BUFFER_POINTS": "10",
            "RUNSTREAM_BUFFER_POLICY": "raise",
            "RUNSTREAM_BLOCK_TIMEOUT": "2.5",
            "RUNSTREAM_SPOOL_DIR": "spool-dir",
            "RUNSTREAM_FLUSH_TIMEOUT": "none",
        },
        topic="override",
    )
    assert settings.endpoint.scheme == "grpc" and settings.buffer_points == 10
    assert settings.buffer_policy == "raise" and settings.block_timeout_s == 2.5
    assert settings.spool_dir == "spool-dir" and settings.topic == "override"
    assert settings.flush_timeout_s is None


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"RUNSTREAM_BUFFER_POINTS": "many"}, "RUNSTREAM_BUFFER_POINTS"),
        ({"RUNSTREAM_BUFFER_POLICY": "drop"}, "RUNSTREAM_BUFFER_POLICY"),
        ({"RUNSTREAM_URI": "http://x:1"}, "scheme"),
        ({"RUNSTREAM_URI": "kafka://"}, "host:port"),
        ({"RUNSTREAM_COMPRESSION": "brotli"}, "RUNSTREAM_COMPRESSION"),
        ({"RUNSTREAM_MAX_EVENT_BYTES": "5000000"}, "message.max.bytes"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=words) as info:
        ProducerSettings.from_env(env)
    assert info.value.error_code == common_pb2.INVALID_PARAMETER_VALUE


def test_uris() -> None:
    assert str(parse_uri("kafka://a:1, b:2")) == "kafka://a:1,b:2"
    assert parse_uri("grpcs://gw:443").scheme == "grpcs"
    with pytest.raises(SettingsError):
        parse_uri("grpc://a:1,b:2")


def test_gateway_settings() -> None:
    settings = GatewaySettings.from_env(
        {"RUNSTREAM_GATEWAY_ADDRESS": "0.0.0.0:1", "RUNSTREAM_AUTH_TOKENS": "a, b"}
    )
    assert settings.address == "0.0.0.0:1" and settings.auth_tokens == ("a", "b")
    assert settings.auth_enabled
    assert GatewaySettings().address == "127.0.0.1:50052"
    with pytest.raises(SettingsError, match="tls"):
        GatewaySettings(tls_cert="c.pem")
    assert "RUNSTREAM_URI" in ENV_VARS and "RUNSTREAM_KAFKA" in GATEWAY_ENV_VARS


def test_write_tokens_merge_and_round_trip() -> None:
    a = WriteToken.of("t", {0: 5, 1: 2})
    b = WriteToken.of("t", {1: 7, 3: 1})
    merged = merge_all([a, WriteToken(), b])
    assert merged.offset_map == {0: 5, 1: 7, 3: 1}
    assert WriteToken.decode(merged.encode()) == merged
    assert WriteToken.from_proto(merged.to_proto()) == merged
    assert merged.to_proto().offsets[1] == 7
    with pytest.raises(InvalidTokenError) as info:
        WriteToken.decode("!!!")
    assert "write_token" in str(info.value)
    with pytest.raises(ValueError):
        a.merge(WriteToken.of("other", {0: 1}))


def test_experiment_ids_are_stable_decimal_strings() -> None:
    eid = experiment_id_for_name("my experiment")
    assert eid == experiment_id_for_name("my experiment") != experiment_id_for_name("other")
    assert eid.isdigit() and int(eid) < 2**63


def test_the_cli_registers_gateway_and_spool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    gateway_cli.register(subparsers)
    cli.register(subparsers)
    args = parser.parse_args(["gateway", "--address", "0.0.0.0:1", "--auth-tokens", "a"])
    assert (args.address, args.auth_tokens, args.kafka) == ("0.0.0.0:1", "a", None)
    args = parser.parse_args(["spool", "status", "--spool-dir", str(tmp_path)])
    assert args.func(args) == 0
    assert "0 producer folder(s)" in capsys.readouterr().out


def test_the_gateway_and_the_sdk_send_each_batch_at_once() -> None:
    """A gateway write is a caller waiting for its acknowledgement, and the SDK's sender
    already batches (Nagle's rule): neither lets the Kafka producer linger (0)."""
    from runstream.producer.kafka_transport import KafkaTransport

    gateway = GatewaySettings().kafka_options()
    sdk = ProducerSettings().kafka_options()
    assert (gateway.linger_ms, sdk.linger_ms) == (0, 0)
    assert KafkaTransport(gateway)._config()["linger_ms"] == 0
    assert KafkaTransport(dataclasses.replace(sdk, linger_ms=7))._config()["linger_ms"] == 7
