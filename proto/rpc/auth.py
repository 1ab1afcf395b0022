"""Authentication: the interceptor every server installs.  It resolves the call's bearer
token to a :class:`~runstream.proto.permissions.Principal` (principals and tokens are read
by :mod:`runstream.proto.principals`) and puts it on the gRPC context, where handlers read
it with :func:`principal_of`.  A server without auth gives every call the anonymous admin
principal; a call whose context carries no principal (a servicer hosted without this
interceptor) is refused: the check fails closed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc

from ..errors import RunstreamError
from ..permissions import ANONYMOUS, Principal
from ..principals import Principals
from ..v1 import common_pb2
from .status import ERROR_CODE_METADATA_KEY, Wrap, rewrap

# Health checks and reflection stay open: load balancers and tools probe without a token.
_OPEN_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_ATTRIBUTE = "runstream_principal"


class NoPrincipalError(RunstreamError):
    """A handler asked for the caller's principal on a call the auth interceptor did not
    see (a server built without it): refused rather than guessed."""

    error_code = common_pb2.UNAUTHENTICATED


def principal_of(context: Any) -> Principal:
    """The principal the auth interceptor attached to this call's context."""
    principal = getattr(context, _ATTRIBUTE, None)
    if not isinstance(principal, Principal):
        raise NoPrincipalError("no authenticated principal on this call")
    return principal


def _bearer(metadata: Iterable[tuple[str, Any]] | None) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token:
                return token
            return None
    return None


def _attaching(principal: Principal) -> Wrap:
    def wrap(
        behavior: Callable[..., Any], streaming_request: bool, streaming_response: bool
    ) -> Callable[..., Any]:
        def attach(request: Any, context: grpc.ServicerContext) -> Any:
            setattr(context, _ATTRIBUTE, principal)
            return behavior(request, context)

        return attach

    return wrap


def _refuse(
    behavior: Callable[..., Any], streaming_request: bool, streaming_response: bool
) -> Callable[..., Any]:
    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.set_trailing_metadata(((ERROR_CODE_METADATA_KEY, "UNAUTHENTICATED"),))
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

    return refuse


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Resolves ``authorization: Bearer <token>`` to a principal and attaches it to the
    call; refuses calls without a known token.  ``principals`` is a registry, or plain
    tokens (each an admin principal), or None: no auth, every call anonymous and admin.

    Health checks and reflection stay open.
    """

    def __init__(self, principals: Principals | Iterable[str] | None) -> None:
        if principals is None or isinstance(principals, Principals):
            self._principals = principals
        else:
            self._principals = Principals.of_tokens(t for t in principals if t)

    @property
    def auth_enabled(self) -> bool:
        return self._principals is not None

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        method = handler_call_details.method or ""
        handler = continuation(handler_call_details)
        if handler is None or method.startswith(_OPEN_METHODS):
            return handler
        if self._principals is None:
            return rewrap(handler, _attaching(ANONYMOUS))
        token = _bearer(handler_call_details.invocation_metadata)
        principal = self._principals.authenticate(token) if token is not None else None
        if principal is None:
            return rewrap(handler, _refuse)
        return rewrap(handler, _attaching(principal))
