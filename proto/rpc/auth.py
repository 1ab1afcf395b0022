"""Bearer-token authentication: the interceptor every server installs when auth is on
(tokens are read by :mod:`runstream.proto.credentials`)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from ..errors import SettingsError
from .status import ERROR_CODE_METADATA_KEY, rewrap

# Health checks and reflection stay open: load balancers and tools probe without a token.
_OPEN_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Refuses calls without ``authorization: Bearer <token>`` for one of ``tokens``.

    Health checks and reflection stay open.
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = tuple(t for t in tokens if t)
        if not self._tokens:
            raise SettingsError("bearer-token auth needs at least one token")

    def _allowed(self, metadata: Iterable[tuple[str, Any]] | None) -> bool:
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str):
                scheme, _, token = value.partition(" ")
                if scheme.lower() == "bearer":
                    given = token.encode("utf-8", "surrogatepass")
                    return any(hmac.compare_digest(given, t.encode()) for t in self._tokens)
        return False

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        method = handler_call_details.method or ""
        if method.startswith(_OPEN_METHODS) or self._allowed(
            handler_call_details.invocation_metadata
        ):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None:
            return None

        def deny(
            wrapped: Callable[..., Any], streaming_request: bool, streaming_response: bool
        ) -> Callable[..., Any]:
            def refuse(request: Any, context: grpc.ServicerContext) -> Any:
                context.set_trailing_metadata(((ERROR_CODE_METADATA_KEY, "UNAUTHENTICATED"),))
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

            return refuse

        return rewrap(handler, deny)
