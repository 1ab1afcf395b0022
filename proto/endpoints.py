"""How servers listen and clients connect: the one options object for each, read the
same way by every process.  No grpc import here (settings and CLIs stay light); the
servers and channels are built in :mod:`runstream.proto.rpc`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .credentials import load_tokens
from .errors import SettingsError
from .principals import Principals, load_principals
from .settings import Env

DEFAULT_ADDRESS = "127.0.0.1:50051"
# One message limit for every server and client: a LogBatch of ~0.9 MB events fits many
# times over, a history page of a million points fits.
MESSAGE_LIMIT_BYTES = 64 * 1024 * 1024

ENV_AUTH_TOKEN_FILE = "RUNSTREAM_AUTH_TOKEN_FILE"
ENV_AUTH_TOKENS = "RUNSTREAM_AUTH_TOKENS"
ENV_AUTH_PRINCIPALS = "RUNSTREAM_AUTH_PRINCIPALS"
ENV_TLS_CERT = "RUNSTREAM_TLS_CERT"
ENV_TLS_KEY = "RUNSTREAM_TLS_KEY"


class ListensForGrpc(Protocol):
    """What a process's settings say about its gRPC server (``QuerySettings``,
    ``GatewaySettings``, ``StackSettings``): :meth:`ServerOptions.of` reads them."""

    @property
    def address(self) -> str: ...
    @property
    def workers(self) -> int: ...
    @property
    def auth_token_file(self) -> str | None: ...
    @property
    def auth_tokens(self) -> tuple[str, ...]: ...
    @property
    def auth_principals(self) -> str | None: ...
    @property
    def tls_cert(self) -> str | None: ...
    @property
    def tls_key(self) -> str | None: ...


@dataclass(frozen=True)
class ServerOptions:
    """How a runstream gRPC server listens.  ``address`` may end in ``:0`` (a free port)."""

    address: str = DEFAULT_ADDRESS
    workers: int = 16
    auth_token_file: str | None = None
    auth_tokens: tuple[str, ...] = field(default_factory=tuple)
    auth_principals: str | None = None  # the principals file (per-experiment permissions)
    tls_cert: str | None = None
    tls_key: str | None = None
    max_message_bytes: int = MESSAGE_LIMIT_BYTES
    name: str = "runstream"  # thread names and logs

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingsError("TLS needs both a certificate and a key (or neither)")
        if self.workers < 1:
            raise SettingsError(f"a server needs at least one worker thread, got {self.workers}")
        if self.max_message_bytes < 1024:
            raise SettingsError(f"message limit too small: {self.max_message_bytes} bytes")

    @classmethod
    def of(cls, settings: ListensForGrpc, *, name: str, **overrides: Any) -> ServerOptions:
        """The options a process's settings describe (``overrides`` win)."""
        values: dict[str, Any] = {
            "address": settings.address,
            "workers": settings.workers,
            "auth_token_file": settings.auth_token_file,
            "auth_tokens": settings.auth_tokens,
            "auth_principals": settings.auth_principals,
            "tls_cert": settings.tls_cert,
            "tls_key": settings.tls_key,
            "name": name,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth_token_file or self.auth_tokens or self.auth_principals)

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    def tokens(self) -> tuple[str, ...]:
        """The accepted bearer tokens; fails closed when auth is on but none is found."""
        if not (self.auth_token_file or self.auth_tokens):
            return ()
        return load_tokens(self.auth_token_file, ",".join(self.auth_tokens) or None)

    def principals(self) -> Principals | None:
        """Every accepted principal (principals file and plain tokens); None when auth is
        off.  Fails closed: a :class:`SettingsError` for anything that would weaken auth."""
        return load_principals(
            self.auth_principals, self.auth_token_file, ",".join(self.auth_tokens) or None
        )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        address_var: str,
        workers_var: str | None = None,
        default_address: str = DEFAULT_ADDRESS,
        name: str = "runstream",
        **overrides: Any,
    ) -> ServerOptions:
        """Options from the shared variables (auth, TLS) and the process's own address and
        worker-count variables; ``overrides`` (flags) win where not ``None``."""
        e = Env(env)
        values: dict[str, Any] = {
            "address": e.text(address_var, default_address),
            "auth_token_file": e.optional(ENV_AUTH_TOKEN_FILE),
            "auth_tokens": e.items(ENV_AUTH_TOKENS),
            "auth_principals": e.optional(ENV_AUTH_PRINCIPALS),
            "tls_cert": e.optional(ENV_TLS_CERT),
            "tls_key": e.optional(ENV_TLS_KEY),
            "name": name,
        }
        if workers_var:
            values["workers"] = e.integer(workers_var, 16, minimum=1)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class ChannelOptions:
    """``target`` is ``host:port``; ``tls`` with ``tls_ca`` None uses the system roots."""

    target: str
    tls: bool = False
    tls_ca: str | None = None
    token: str | None = None
    max_message_bytes: int = MESSAGE_LIMIT_BYTES

    @property
    def url(self) -> str:
        return f"{'grpcs' if self.tls else 'grpc'}://{self.target}"

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata: the bearer token, when there is one."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()
