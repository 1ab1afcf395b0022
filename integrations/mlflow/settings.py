"""What one store's client needs, read once: the gRPC target and TLS from the store URI,
the bearer token, CA and timeouts from the environment (``runstream.proto.settings.Env``).

``runstream://host[:port]`` talks plaintext gRPC; ``runstream+tls://host[:port]`` talks
TLS, checking the server against ``RUNSTREAM_TLS_CA`` (a PEM file) when set, else the
system's roots.  The port defaults to 50051.

A URI or variable that cannot be used is an ``MlflowException`` with
``INVALID_PARAMETER_VALUE`` naming it: everything this plugin raises to MLflow is an
``MlflowException``, which MLflow's client and server know how to answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from mlflow.exceptions import MlflowException

from runstream.proto.endpoints import ChannelOptions
from runstream.proto.errors import SettingsError
from runstream.proto.settings import Env

SCHEME = "runstream"
TLS_SCHEME = "runstream+tls"
SCHEMES: tuple[str, ...] = (SCHEME, TLS_SCHEME)
DEFAULT_PORT = 50051

ENV_TOKEN = "RUNSTREAM_TOKEN"
ENV_TLS_CA = "RUNSTREAM_TLS_CA"
# Seconds for one RPC; a read may also wait for ingest (ReadOptions.wait_timeout_ms).
ENV_CALL_TIMEOUT = "RUNSTREAM_MLFLOW_TIMEOUT"
DEFAULT_CALL_TIMEOUT = 60.0
ENV_READ_WAIT_MS = "RUNSTREAM_MLFLOW_READ_WAIT_MS"
DEFAULT_READ_WAIT_MS = 30_000

_EXPECTED = f"expected {SCHEME}://host:port or {TLS_SCHEME}://host:port"


@dataclass(frozen=True)
class StoreAddress:
    """Where a store URI points: ``target`` is ``host:port``, ``tls`` the scheme's choice."""

    target: str
    tls: bool = False


def parse_store_uri(store_uri: str) -> StoreAddress:
    """``runstream://host[:port]`` or ``runstream+tls://host[:port]`` -> its address."""
    parsed = urlparse(store_uri)
    if parsed.scheme not in SCHEMES:
        raise MlflowException.invalid_parameter_value(
            f"not a runstream URI: {store_uri!r} ({_EXPECTED})"
        )
    if not parsed.hostname:
        raise MlflowException.invalid_parameter_value(
            f"runstream URI without a host: {store_uri!r} ({_EXPECTED})"
        )
    if parsed.path not in ("", "/"):
        raise MlflowException.invalid_parameter_value(
            f"runstream URI takes no path: {store_uri!r} ({_EXPECTED})"
        )
    try:
        port = parsed.port or DEFAULT_PORT
    except ValueError as exc:  # a port that is not a number, or out of range
        raise MlflowException.invalid_parameter_value(
            f"runstream URI with a bad port: {store_uri!r} ({exc})"
        ) from None
    host = parsed.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return StoreAddress(f"{host}:{port}", tls=parsed.scheme == TLS_SCHEME)


@dataclass(frozen=True)
class ClientSettings:
    """How one store talks to runstream: the channel, one call's timeout (seconds), and how
    long a read may wait for ingest to apply this store's writes (milliseconds)."""

    channel: ChannelOptions
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    read_wait_ms: int = DEFAULT_READ_WAIT_MS

    @classmethod
    def from_uri(cls, store_uri: str, env: Mapping[str, str] | None = None) -> ClientSettings:
        """Settings for ``store_uri``, the rest from ``env`` (default: ``os.environ``)."""
        address = parse_store_uri(store_uri)
        e = Env(env)
        try:
            return cls(
                channel=ChannelOptions(
                    target=address.target,
                    tls=address.tls,
                    tls_ca=e.optional(ENV_TLS_CA) if address.tls else None,
                    token=e.optional(ENV_TOKEN),
                ),
                call_timeout=e.number(ENV_CALL_TIMEOUT, DEFAULT_CALL_TIMEOUT, minimum=0.001),
                read_wait_ms=e.integer(ENV_READ_WAIT_MS, DEFAULT_READ_WAIT_MS, minimum=0),
            )
        except SettingsError as exc:
            raise MlflowException.invalid_parameter_value(str(exc)) from None
