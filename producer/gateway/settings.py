"""The gateway's settings: :class:`GatewaySettings`, a frozen dataclass built once per
process by ``from_env()`` (environment variables first, flags on top).  Every variable is
listed in ``docs/producer.md`` and ``docs/configuration.md``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runstream.proto.endpoints import MESSAGE_LIMIT_BYTES, ChannelOptions, ServerOptions
from runstream.proto.vocabulary import DEFAULT_TOPIC

from ..settings import (
    COMPRESSIONS,
    DEFAULT_KAFKA,
    KafkaOptions,
    SettingsError,
    parse_uri,
    read_env,
)

DEFAULT_GATEWAY_ADDRESS = "127.0.0.1:50052"


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """The gRPC gateway's settings; see ``docs/producer.md``."""

    address: str = DEFAULT_GATEWAY_ADDRESS
    kafka: str = DEFAULT_KAFKA
    topic: str = DEFAULT_TOPIC
    auth_token_file: str | None = None
    auth_tokens: tuple[str, ...] = field(default_factory=tuple)
    auth_principals: str | None = None
    # The query service that answers permission lookups (grpc://h:p or grpcs://h:p), with
    # an admin principal's token and, for grpcs, the CA to trust (else the system roots).
    query_url: str | None = None
    query_token: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    max_workers: int = 16
    compression: str = "lz4"
    publish_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    max_event_bytes: int = 900_000
    max_message_bytes: int = MESSAGE_LIMIT_BYTES
    # How long a run's lifecycle stage read from the query side is trusted (all-in-one
    # stack only): within it, a run deleted elsewhere may still take writes at the edge
    # (ingest dead-letters them as run-deleted).  0: asked on every write.
    run_facts_ttl_s: float = 1.0

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingsError("TLS needs both --tls-cert and --tls-key (or neither)")
        if self.compression not in COMPRESSIONS:
            raise SettingsError(f"compression must be one of {COMPRESSIONS}")
        if self.query_url:
            self.query_channel()

    def query_channel(self) -> ChannelOptions | None:
        """How to reach the query service for permission lookups (None: not given)."""
        if not self.query_url:
            return None
        endpoint = parse_uri(self.query_url)
        if endpoint.scheme == "kafka":
            raise SettingsError(
                f"query url {self.query_url!r}: expected grpc://host:port or grpcs://host:port"
            )
        tls = endpoint.scheme == "grpcs"
        return ChannelOptions(
            endpoint.address,
            tls=tls,
            tls_ca=self.tls_ca if tls else None,
            token=self.query_token or None,
        )

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth_token_file or self.auth_tokens or self.auth_principals)

    def server_options(self) -> ServerOptions:
        """How the standalone gateway listens (the shared server shell's options)."""
        return ServerOptions.of(self, name="gateway", max_message_bytes=self.max_message_bytes)

    @property
    def workers(self) -> int:
        return self.max_workers

    def kafka_options(self) -> KafkaOptions:
        return KafkaOptions(
            bootstrap=self.kafka,
            topic=self.topic,
            compression=self.compression,
            publish_timeout_s=self.publish_timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            client_id="runstream-gateway",
            # Each gateway write is a caller waiting for its acknowledgement: send at once
            # (records that arrive while a request is in flight still share a batch).  A
            # lingering 5 ms made a CreateRun 10-11 ms p50 instead of 6-7 ms.
            linger_ms=0,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> GatewaySettings:
        values = read_env(cls, _GATEWAY_ENV, os.environ if env is None else env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("auth_tokens"), str):
            values["auth_tokens"] = tuple(
                t.strip() for t in values["auth_tokens"].split(",") if t.strip()
            )
        return cls(**values)


_GATEWAY_ENV: dict[str, str] = {
    "address": "RUNSTREAM_GATEWAY_ADDRESS",
    "kafka": "RUNSTREAM_KAFKA",
    "topic": "RUNSTREAM_TOPIC",
    "auth_token_file": "RUNSTREAM_AUTH_TOKEN_FILE",
    "auth_tokens": "RUNSTREAM_AUTH_TOKENS",
    "auth_principals": "RUNSTREAM_AUTH_PRINCIPALS",
    "query_url": "RUNSTREAM_GATEWAY_QUERY_URL",
    "query_token": "RUNSTREAM_GATEWAY_QUERY_TOKEN",
    "tls_ca": "RUNSTREAM_TLS_CA",
    "tls_cert": "RUNSTREAM_TLS_CERT",
    "tls_key": "RUNSTREAM_TLS_KEY",
    "max_workers": "RUNSTREAM_GATEWAY_WORKERS",
    "compression": "RUNSTREAM_COMPRESSION",
    "publish_timeout_s": "RUNSTREAM_PUBLISH_TIMEOUT",
    "connect_timeout_s": "RUNSTREAM_CONNECT_TIMEOUT",
    "max_event_bytes": "RUNSTREAM_MAX_EVENT_BYTES",
    "run_facts_ttl_s": "RUNSTREAM_RUN_FACTS_TTL",
}

#: Every variable the gateway reads.
ENV_VARS: tuple[str, ...] = tuple(sorted(_GATEWAY_ENV.values()))
