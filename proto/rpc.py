"""gRPC plumbing shared by every runstream server: the one map from error codes to status,
the error interceptor and the bearer-token interceptor.

Error codes are defined once, in ``v1/common.proto`` (``ErrorCode``).  A component's
exceptions carry one as ``error_code`` (an ``ErrorCode`` value); :class:`ErrorInterceptor`
turns any such exception into the mapped gRPC status with the exception's message and the
code's name in the trailing metadata ``runstream-error-code``.  Anything else becomes
INTERNAL with a generic message (the traceback is logged, never sent).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

import grpc

from .v1 import common_pb2

logger = logging.getLogger(__name__)

ERROR_CODE_METADATA_KEY = "runstream-error-code"

ErrorCode = common_pb2.ErrorCode

STATUS_BY_CODE: dict[int, grpc.StatusCode] = {
    common_pb2.INTERNAL_ERROR: grpc.StatusCode.INTERNAL,
    common_pb2.INVALID_PARAMETER_VALUE: grpc.StatusCode.INVALID_ARGUMENT,
    common_pb2.RESOURCE_DOES_NOT_EXIST: grpc.StatusCode.NOT_FOUND,
    common_pb2.RESOURCE_ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    common_pb2.INVALID_STATE: grpc.StatusCode.FAILED_PRECONDITION,
    common_pb2.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    common_pb2.TEMPORARILY_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    common_pb2.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    common_pb2.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
}

CODE_BY_STATUS: dict[grpc.StatusCode, int] = {v: k for k, v in STATUS_BY_CODE.items()}


@runtime_checkable
class CarriesErrorCode(Protocol):
    """An exception that names its ``ErrorCode`` (every runstream error root does)."""

    error_code: int


def status_for(code: int) -> grpc.StatusCode:
    return STATUS_BY_CODE.get(code, grpc.StatusCode.INTERNAL)


def _wrap_behavior(behavior: Callable[..., Any], streaming_response: bool) -> Callable[..., Any]:
    def abort_for(exc: Exception, context: grpc.ServicerContext) -> None:
        code = getattr(exc, "error_code", None)
        if isinstance(code, int) and code in STATUS_BY_CODE:
            name = common_pb2.ErrorCode.Name(code)
            context.set_trailing_metadata(((ERROR_CODE_METADATA_KEY, name),))
            context.abort(status_for(code), str(exc))
        logger.exception("internal error in gRPC handler")
        context.set_trailing_metadata(((ERROR_CODE_METADATA_KEY, "INTERNAL_ERROR"),))
        context.abort(grpc.StatusCode.INTERNAL, "internal error (see server log)")

    if streaming_response:

        def stream_wrapper(request: Any, context: grpc.ServicerContext) -> Iterable[Any]:
            try:
                yield from behavior(request, context)
            except Exception as exc:  # noqa: BLE001 - mapped to a status below
                if isinstance(exc, grpc.RpcError):  # context.abort already raised
                    raise
                abort_for(exc, context)

        return stream_wrapper

    def unary_wrapper(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request, context)
        except Exception as exc:  # noqa: BLE001
            if isinstance(exc, grpc.RpcError) or context.code() is not None:
                raise
            abort_for(exc, context)
            return None

    return unary_wrapper


def _rewrap(handler: grpc.RpcMethodHandler, wrap: Callable[..., Any]) -> grpc.RpcMethodHandler:
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap(handler.unary_unary, False),
            handler.request_deserializer,
            handler.response_serializer,
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            wrap(handler.unary_stream, True),
            handler.request_deserializer,
            handler.response_serializer,
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            wrap(handler.stream_unary, False),
            handler.request_deserializer,
            handler.response_serializer,
        )
    return grpc.stream_stream_rpc_method_handler(
        wrap(handler.stream_stream, True),
        handler.request_deserializer,
        handler.response_serializer,
    )


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps exceptions to gRPC status codes: the one place that does so."""

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return _rewrap(handler, _wrap_behavior)


_OPEN_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Refuses calls without ``authorization: Bearer <token>`` for one of ``tokens``.

    Health checks and reflection stay open.
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = tuple(t for t in tokens if t)
        if not self._tokens:
            raise ValueError("bearer-token auth needs at least one token")

    def _allowed(self, metadata: Iterable[tuple[str, Any]] | None) -> bool:
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str):
                scheme, _, token = value.partition(" ")
                if scheme.lower() == "bearer":
                    return any(hmac.compare_digest(token, t) for t in self._tokens)
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

        def deny(wrapped: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            def refuse(request: Any, context: grpc.ServicerContext) -> Any:
                context.set_trailing_metadata(((ERROR_CODE_METADATA_KEY, "UNAUTHENTICATED"),))
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

            return refuse

        return _rewrap(handler, deny)


def server_interceptors(tokens: Iterable[str] = ()) -> list[grpc.ServerInterceptor]:
    """The interceptors every runstream server installs, in order: the bearer-token check
    (only when ``tokens`` holds any), then the error-code -> status mapping."""
    accepted = tuple(t for t in tokens if t)
    chain: list[grpc.ServerInterceptor] = []
    if accepted:
        chain.append(BearerTokenInterceptor(accepted))
    chain.append(ErrorInterceptor())
    return chain


def load_tokens(token_file: str | None, env_value: str | None) -> tuple[str, ...]:
    """Tokens from a file (one per line, '#' comments) and/or a comma-separated env value."""
    tokens: list[str] = []
    if token_file:
        with open(token_file, encoding="utf-8") as fh:
            tokens += [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]
    if env_value:
        tokens += [t.strip() for t in env_value.split(",") if t.strip()]
    return tuple(tokens)


def error_code_of(error: grpc.RpcError) -> str | None:
    """The ``runstream-error-code`` a server attached to a failed call, if any (client side)."""
    trailing = getattr(error, "trailing_metadata", None)
    for key, value in (trailing() if callable(trailing) else None) or ():
        if key == ERROR_CODE_METADATA_KEY:
            return str(value)
    return None
