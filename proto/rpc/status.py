"""The one map from runstream's error codes to gRPC status, and the interceptor that applies it.

Error codes are defined once, in ``v1/common.proto`` (``ErrorCode``).  Every runstream
exception is a :class:`~runstream.proto.errors.RunstreamError` and carries one as
``error_code``; :class:`ErrorInterceptor` turns any such exception into the mapped gRPC
status with the exception's message and the code's name in the trailing metadata
``runstream-error-code``.  Anything else becomes INTERNAL with a generic message (the
traceback is logged, never sent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc

from ..errors import RunstreamError
from ..v1 import common_pb2

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
    common_pb2.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
}

CODE_BY_STATUS: dict[grpc.StatusCode, int] = {v: k for k, v in STATUS_BY_CODE.items()}


def status_for(code: int) -> grpc.StatusCode:
    return STATUS_BY_CODE.get(code, grpc.StatusCode.INTERNAL)


class MalformedRequestError(RunstreamError):
    """The request bytes are not a valid message (e.g. a string field holding invalid
    UTF-8, which the Python client refuses to send but another client may)."""

    error_code = common_pb2.INVALID_PARAMETER_VALUE


class _Undecodable:
    """What a request that did not parse becomes, so the handler can refuse it by name
    (grpc itself would answer INTERNAL 'Exception deserializing request!')."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception as exc:  # noqa: BLE001 - refused by name in the handler
            return _Undecodable(exc)

    return parse


def _checked(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise MalformedRequestError(f"the request is not a valid message: {request.error}")
    return request


def _checked_stream(requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        yield _checked(request)


def _abort_for(exc: Exception, context: grpc.ServicerContext) -> None:
    if isinstance(exc, RunstreamError) and exc.error_code in STATUS_BY_CODE:
        code = exc.error_code
        name = common_pb2.ErrorCode.Name(code)
        context.set_trailing_metadata(((ERROR_CODE_METADATA_KEY, name),))
        context.abort(status_for(code), str(exc))
    logger.exception("internal error in gRPC handler")
    context.set_trailing_metadata(((ERROR_CODE_METADATA_KEY, "INTERNAL_ERROR"),))
    context.abort(grpc.StatusCode.INTERNAL, "internal error (see server log)")


def _wrap_behavior(
    behavior: Callable[..., Any], streaming_request: bool, streaming_response: bool
) -> Callable[..., Any]:
    def checked(request: Any) -> Any:
        return _checked_stream(request) if streaming_request else _checked(request)

    if streaming_response:

        def stream_wrapper(request: Any, context: grpc.ServicerContext) -> Iterable[Any]:
            try:
                yield from behavior(checked(request), context)
            except Exception as exc:  # noqa: BLE001 - mapped to a status below
                if isinstance(exc, grpc.RpcError):  # context.abort already raised
                    raise
                _abort_for(exc, context)

        return stream_wrapper

    def unary_wrapper(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(checked(request), context)
        except Exception as exc:  # noqa: BLE001
            if isinstance(exc, grpc.RpcError) or context.code() is not None:
                raise
            _abort_for(exc, context)
            return None

    return unary_wrapper


Wrap = Callable[[Callable[..., Any], bool, bool], Callable[..., Any]]


def rewrap(
    handler: grpc.RpcMethodHandler, wrap: Wrap, *, lenient: bool = False
) -> grpc.RpcMethodHandler:
    """``handler`` with its behaviour wrapped by ``wrap(behavior, streaming_request,
    streaming_response)``; ``lenient`` lets undecodable requests reach the wrapper."""
    parse = _lenient(handler.request_deserializer) if lenient else handler.request_deserializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap(handler.unary_unary, False, False), parse, handler.response_serializer
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            wrap(handler.unary_stream, False, True), parse, handler.response_serializer
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            wrap(handler.stream_unary, True, False), parse, handler.response_serializer
        )
    return grpc.stream_stream_rpc_method_handler(
        wrap(handler.stream_stream, True, True), parse, handler.response_serializer
    )


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps exceptions to gRPC status codes: the one place that does so.  A request that
    does not parse is refused as INVALID_ARGUMENT, never INTERNAL."""

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return rewrap(handler, _wrap_behavior, lenient=True)


def error_code_of(error: grpc.RpcError) -> str | None:
    """The ``runstream-error-code`` a server attached to a failed call, if any (client side)."""
    trailing = getattr(error, "trailing_metadata", None)
    for key, value in (trailing() if callable(trailing) else None) or ():
        if key == ERROR_CODE_METADATA_KEY:
            return str(value)
    return None
