"""Typed settings of the SDK: :class:`ProducerSettings`, and :class:`KafkaOptions` (how a
Kafka transport produces; the gateway's settings, in ``gateway/settings.py``, build one too).

A frozen dataclass built once per process by ``from_env()``: environment variables first,
keyword overrides on top.  Every variable is listed in ``docs/producer.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from runstream.proto.settings import Env
from runstream.proto.v1 import common_pb2
from runstream.proto.vocabulary import DEFAULT_TOPIC

from .errors import ProducerError

DEFAULT_KAFKA = "127.0.0.1:9092"
DEFAULT_URI = f"kafka://{DEFAULT_KAFKA}"
COMPRESSIONS = ("lz4", "zstd", "gzip", "none")

BufferPolicy = Literal["block", "raise"]


class SettingsError(ProducerError):
    """A setting (argument or environment variable) has a value we cannot use."""

    error_code = common_pb2.INVALID_PARAMETER_VALUE


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where events go: ``scheme`` is ``kafka``, ``grpc`` or ``grpcs``."""

    scheme: str
    address: str  # kafka: "h:p,h:p"; grpc: "h:p"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.address}"


def parse_uri(uri: str) -> Endpoint:
    """``kafka://host:port[,host:port]``, ``grpc://host:port`` or ``grpcs://host:port``."""
    parts = urlsplit(uri.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("kafka", "grpc", "grpcs"):
        raise SettingsError(
            f"RUNSTREAM_URI / uri {uri!r}: the scheme must be kafka://, grpc:// or grpcs://"
        )
    address = parts.netloc
    hosts = [h.strip() for h in address.split(",") if h.strip()]
    if not hosts or any(":" not in h for h in hosts):
        raise SettingsError(f"uri {uri!r}: expected host:port after {scheme}://")
    if scheme != "kafka" and len(hosts) != 1:
        raise SettingsError(f"uri {uri!r}: a gateway uri names one host:port")
    return Endpoint(scheme, ",".join(hosts))


@dataclass(frozen=True, slots=True)
class KafkaOptions:
    """How a Kafka transport produces (shared by the SDK and the gateway)."""

    bootstrap: str = DEFAULT_KAFKA
    topic: str = DEFAULT_TOPIC
    compression: str = "lz4"
    publish_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    client_id: str = "runstream-producer"
    # How long a record may wait for others to share its batch (kafka-python's linger.ms).
    # 0: the SDK's sender and the gateway hand the producer whole batches already, and
    # records that arrive while a request is in flight still share the next one; 5 ms cost
    # a point 5-6 ms of freshness and a gateway CreateRun 4 ms (p50), and no throughput
    # measurably (docs/benchmarks.md, sections 2 and 6).
    linger_ms: int = 0

    @property
    def bootstrap_servers(self) -> list[str]:
        return [h.strip() for h in self.bootstrap.split(",") if h.strip()]


@dataclass(frozen=True, slots=True)
class ProducerSettings:
    """Everything the SDK's producer needs; see ``docs/producer.md`` for each variable."""

    uri: str = DEFAULT_URI
    topic: str = DEFAULT_TOPIC
    buffer_points: int = 1_000_000
    buffer_policy: BufferPolicy = "block"
    block_timeout_s: float | None = None
    linger_ms: int = 0
    batch_points: int = 200_000
    max_event_bytes: int = 900_000
    compression: str = "lz4"
    publish_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    retry_backoff_s: float = 0.2
    retry_backoff_max_s: float = 5.0
    flush_timeout_s: float | None = 120.0
    exit_timeout_s: float = 30.0
    spool_dir: str | None = None
    token: str | None = None
    tls_ca: str | None = None
    run_id: str | None = None
    experiment_id: str | None = None
    experiment_name: str | None = None
    process_context: bool = True
    system_metrics: bool = False
    system_metrics_interval_s: float = 10.0

    def __post_init__(self) -> None:
        parse_uri(self.uri)
        if self.buffer_policy not in ("block", "raise"):
            raise SettingsError(
                f"buffer_policy (RUNSTREAM_BUFFER_POLICY) must be 'block' or 'raise', "
                f"got {self.buffer_policy!r}"
            )
        if self.compression not in COMPRESSIONS:
            raise SettingsError(
                f"compression (RUNSTREAM_COMPRESSION) must be one of {COMPRESSIONS}, "
                f"got {self.compression!r}"
            )
        for name in ("buffer_points", "batch_points", "linger_ms"):
            if getattr(self, name) < (0 if name == "linger_ms" else 1):
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.1 <= self.system_metrics_interval_s <= 86_400:
            raise SettingsError(
                "system_metrics_interval_s (RUNSTREAM_SYSTEM_METRICS_INTERVAL) must be within "
                f"0.1..86400 seconds, got {self.system_metrics_interval_s}"
            )
        if not 4096 <= self.max_event_bytes <= 1_000_000:
            raise SettingsError(
                "max_event_bytes (RUNSTREAM_MAX_EVENT_BYTES) must be within 4096..1000000 "
                f"(the broker's default message.max.bytes is about 1 MB); "
                f"got {self.max_event_bytes}"
            )

    @property
    def endpoint(self) -> Endpoint:
        return parse_uri(self.uri)

    def kafka_options(self, client_id: str = "runstream-producer") -> KafkaOptions:
        return KafkaOptions(
            bootstrap=self.endpoint.address,
            topic=self.topic,
            compression=self.compression,
            publish_timeout_s=self.publish_timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            client_id=client_id,
        )

    def with_overrides(self, **overrides: Any) -> ProducerSettings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ProducerSettings:
        """Settings from ``RUNSTREAM_*`` variables; non-None keyword overrides win."""
        source = os.environ if env is None else env
        values = read_env(cls, _PRODUCER_ENV, source)
        if "system_metrics" not in values:  # MLflow's own switch turns it on too
            mlflow_switch = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"
            values["system_metrics"] = Env(source, error=SettingsError).flag(mlflow_switch, False)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# -- environment ----------------------------------------------------------------------------

_PRODUCER_ENV: dict[str, str] = {
    "uri": "RUNSTREAM_URI",
    "topic": "RUNSTREAM_TOPIC",
    "buffer_points": "RUNSTREAM_BUFFER_POINTS",
    "buffer_policy": "RUNSTREAM_BUFFER_POLICY",
    "block_timeout_s": "RUNSTREAM_BLOCK_TIMEOUT",
    "linger_ms": "RUNSTREAM_LINGER_MS",
    "batch_points": "RUNSTREAM_BATCH_POINTS",
    "max_event_bytes": "RUNSTREAM_MAX_EVENT_BYTES",
    "compression": "RUNSTREAM_COMPRESSION",
    "publish_timeout_s": "RUNSTREAM_PUBLISH_TIMEOUT",
    "connect_timeout_s": "RUNSTREAM_CONNECT_TIMEOUT",
    "retry_backoff_s": "RUNSTREAM_RETRY_BACKOFF",
    "retry_backoff_max_s": "RUNSTREAM_RETRY_BACKOFF_MAX",
    "flush_timeout_s": "RUNSTREAM_FLUSH_TIMEOUT",
    "exit_timeout_s": "RUNSTREAM_EXIT_TIMEOUT",
    "spool_dir": "RUNSTREAM_SPOOL_DIR",
    "token": "RUNSTREAM_TOKEN",
    "tls_ca": "RUNSTREAM_TLS_CA",
    "run_id": "RUNSTREAM_RUN_ID",
    "experiment_id": "RUNSTREAM_EXPERIMENT_ID",
    "experiment_name": "RUNSTREAM_EXPERIMENT_NAME",
    "process_context": "RUNSTREAM_PROCESS_CONTEXT",
    "system_metrics": "RUNSTREAM_SYSTEM_METRICS",
    "system_metrics_interval_s": "RUNSTREAM_SYSTEM_METRICS_INTERVAL",
}

#: Every variable the SDK reads (the gateway's: ``gateway.settings.ENV_VARS``).
ENV_VARS: tuple[str, ...] = tuple(sorted(_PRODUCER_ENV.values()))


_OPTIONAL = frozenset({"flush_timeout_s", "block_timeout_s"})  # "none": wait forever


def read_env(cls: type, names: Mapping[str, str], env: Mapping[str, str]) -> dict[str, Any]:
    """The fields of ``cls`` that ``names`` maps to set variables, typed by their defaults
    and read by the one settings reader (errors name the variable and its value)."""
    e = Env(env, error=SettingsError)
    defaults = {f.name: f.default for f in fields(cls)}
    values: dict[str, Any] = {}
    for name, var in names.items():
        if not e.has(var):
            continue
        default = defaults.get(name)
        if name in _OPTIONAL and e.text(var, "").lower() in ("none", "forever"):
            values[name] = None
        elif isinstance(default, bool):
            values[name] = e.flag(var, default)
        elif isinstance(default, int):
            values[name] = e.integer(var, default)
        elif isinstance(default, float) or name.endswith("_s"):
            values[name] = e.number(var, 0.0)
        else:
            values[name] = e.text(var, "")
    return values
