"""The gRPC write gateway: ``runstream.v1.WriteService`` in front of Kafka, for clients in
other languages or outside the Kafka network.  A room of the write side, not part of the
training SDK (``import runstream.producer`` does not load it).

* :mod:`.core` — the logic without gRPC: requests become events (built by the SDK's
  ``runstream.producer.commands``), stamped with the gateway's one producer identity,
  published, answered with the write token once Kafka acknowledged.
* :mod:`.server` — the gRPC adapter: the servicer, :func:`add_gateway` (into a server
  someone else owns, e.g. the all-in-one stack), :func:`start_gateway` and
  :func:`serve_gateway` (the standalone gateway, on the shared server shell).
* :mod:`.ports` — :class:`RunDirectory`, what the read side knows of a run (wired by
  the all-in-one stack to its query service).
* :mod:`.settings` — :class:`GatewaySettings`; :mod:`.cli` — ``runstream gateway``.

gRPC loads on first use of the server's names, so ``runstream --help`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core import ColumnsIn, GatewayCore, LogBatch, Origin, WriteResult
from .ports import RunDirectory, RunFacts
from .settings import GatewaySettings

if TYPE_CHECKING:
    from .server import Gateway, RunningGateway, add_gateway, serve_gateway, start_gateway

_LAZY = frozenset({"Gateway", "RunningGateway", "add_gateway", "serve_gateway", "start_gateway"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ColumnsIn",
    "Gateway",
    "GatewayCore",
    "GatewaySettings",
    "LogBatch",
    "Origin",
    "RunDirectory",
    "RunFacts",
    "RunningGateway",
    "WriteResult",
    "add_gateway",
    "serve_gateway",
    "start_gateway",
]
