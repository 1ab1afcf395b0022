"""The one server shell every runstream process uses (gateway, query service, the
all-in-one stack): one options object, one way to start, to report health and to stop.

    options = ServerOptions.from_env(address_var="RUNSTREAM_QUERY_ADDRESS")
    serve(options, lambda server: [add_query_service(server, service)])

Every server gets the same interceptors (the caller's principal from its bearer token,
or anonymous when auth is off; then the error mapping), the same message limit, TLS when
a certificate and key are given, health checking and reflection for the services it
hosts, and SIGINT/SIGTERM handled alike.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from pathlib import Path
from types import FrameType
from typing import Any, TypeAlias

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..endpoints import ServerOptions
from ..errors import SettingsError
from .auth import BearerTokenInterceptor
from .status import ErrorInterceptor

logger = logging.getLogger(__name__)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from None


def interceptors(options: ServerOptions) -> list[grpc.ServerInterceptor]:
    """Authentication (the caller's principal on every call; anonymous and admin when auth
    is off), then the error-code -> status mapping."""
    return [BearerTokenInterceptor(options.principals()), ErrorInterceptor()]


# The server handle an ``add_services`` callback receives (callers need not import grpc).
Server: TypeAlias = grpc.Server
AddServices = Callable[[Server], Sequence[str]]


class RunningServer:
    """A started server.  ``health`` reports SERVING for every hosted service until
    :meth:`set_serving` says otherwise; :meth:`stop` drains and stops."""

    def __init__(
        self, server: grpc.Server, port: int, host: str, services: Sequence[str], tls: bool
    ) -> None:
        self.server = server
        self.port = port
        self.address = f"{host}:{port}"
        self.services = tuple(services)
        self.tls = tls
        self.health = health.HealthServicer()
        self._on_stop: list[Callable[[], None]] = []

    @property
    def url(self) -> str:
        return f"{'grpcs' if self.tls else 'grpc'}://{self.address}"

    def set_serving(self, serving: bool, services: Sequence[str] | None = None) -> None:
        """Health of ``services`` (every hosted one, and the server as a whole, if None)."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.services) if services is None else services:
            self.health.set(name, status)

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the server stopped (in reverse order of registration)."""
        self._on_stop.append(callback)

    def stop(self, grace: float = 5.0) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        for callback in reversed(self._on_stop):
            callback()
        self._on_stop.clear()


def start_server(options: ServerOptions, add_services: AddServices) -> RunningServer:
    """Build, bind and start a server; ``add_services`` adds the servicers and returns the
    full names of the services it added (for health and reflection)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix=options.name),
        interceptors=interceptors(options),
        options=[
            ("grpc.max_receive_message_length", options.max_message_bytes),
            ("grpc.max_send_message_length", options.max_message_bytes),
        ],
    )
    services = tuple(add_services(server))
    if options.tls:
        assert options.tls_cert and options.tls_key
        credentials = grpc.ssl_server_credentials(
            [(_read(options.tls_key), _read(options.tls_cert))]
        )
        port = server.add_secure_port(options.address, credentials)
    else:
        port = server.add_insecure_port(options.address)
    if port == 0:
        raise SettingsError(f"cannot listen on {options.address}")
    running = RunningServer(server, port, options.address.rsplit(":", 1)[0], services, options.tls)
    health_pb2_grpc.add_HealthServicer_to_server(running.health, server)
    running.set_serving(True)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection((*services, health_name, reflection.SERVICE_NAME), server)
    server.start()
    logger.info(
        "%s listening on %s (auth %s)",
        options.name,
        running.url,
        "on" if options.auth_enabled else "off",
    )
    return running


def wait_for_signal(stop: threading.Event | None = None) -> None:
    """Block until SIGINT/SIGTERM (handled alike, in the main thread) or ``stop`` is set."""
    done = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def handle(signum: int, frame: FrameType | None) -> None:
            done.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handle)
    try:
        while not done.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(
    options: ServerOptions,
    add_services: AddServices,
    *,
    stop: threading.Event | None = None,
    grace: float = 5.0,
    on_stop: Sequence[Callable[[], None]] = (),
) -> None:
    """Run a server until SIGINT/SIGTERM (or ``stop``), then stop it gracefully and run
    ``on_stop`` (e.g. flush a transport)."""
    running = start_server(options, add_services)
    for callback in on_stop:
        running.on_stop(callback)
    try:
        wait_for_signal(stop)
    finally:
        logger.info("%s stopping", options.name)
        running.stop(grace)
