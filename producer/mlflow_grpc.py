"""The MLflow plugin's gRPC edge: one channel to runstream's WriteService and QueryService.

This is the only module of the MLflow plugin that imports grpc.  It owns three things:

* the channel, built from a ``runstream://host:port`` URI (bearer token from the
  ``RUNSTREAM_TOKEN`` environment variable when set);
* read-your-writes: every write's ``WriteToken`` is merged into one token per store
  (the highest offset per partition seen so far), and every read carries it, so a read
  waits until ingest applied everything this store wrote;
* the one map from runstream's error codes (trailing metadata ``runstream-error-code``,
  else the gRPC status) to ``MlflowException`` error codes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

import grpc
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from runstream.proto.rpc import error_code_of
from runstream.proto.tokens import TokenTracker
from runstream.proto.v1 import query_pb2, query_pb2_grpc, write_pb2_grpc

logger = logging.getLogger(__name__)

SCHEME = "runstream"
DEFAULT_PORT = 50051
TOKEN_ENV = "RUNSTREAM_TOKEN"
# Seconds for one RPC; a read may also wait for ingest (ReadOptions.wait_timeout_ms).
CALL_TIMEOUT_ENV = "RUNSTREAM_MLFLOW_TIMEOUT"
DEFAULT_CALL_TIMEOUT = 60.0
READ_WAIT_MS_ENV = "RUNSTREAM_MLFLOW_READ_WAIT_MS"
DEFAULT_READ_WAIT_MS = 30_000

_MAX_MESSAGE = 256 * 1024 * 1024

# runstream ErrorCode name -> MLflow error code (databricks_pb2).  The one place.
_MLFLOW_CODE_BY_RUNSTREAM: dict[str, int] = {
    "INTERNAL_ERROR": databricks_pb2.INTERNAL_ERROR,
    "INVALID_PARAMETER_VALUE": databricks_pb2.INVALID_PARAMETER_VALUE,
    "RESOURCE_DOES_NOT_EXIST": databricks_pb2.RESOURCE_DOES_NOT_EXIST,
    "RESOURCE_ALREADY_EXISTS": databricks_pb2.RESOURCE_ALREADY_EXISTS,
    "INVALID_STATE": databricks_pb2.INVALID_STATE,
    "UNAUTHENTICATED": databricks_pb2.UNAUTHENTICATED,
    "TEMPORARILY_UNAVAILABLE": databricks_pb2.TEMPORARILY_UNAVAILABLE,
    "RESOURCE_EXHAUSTED": databricks_pb2.RESOURCE_EXHAUSTED,
    "DEADLINE_EXCEEDED": databricks_pb2.DEADLINE_EXCEEDED,
}

# Used when the server attached no runstream error code (e.g. it was unreachable).
_MLFLOW_CODE_BY_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: databricks_pb2.INVALID_PARAMETER_VALUE,
    grpc.StatusCode.NOT_FOUND: databricks_pb2.RESOURCE_DOES_NOT_EXIST,
    grpc.StatusCode.ALREADY_EXISTS: databricks_pb2.RESOURCE_ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION: databricks_pb2.INVALID_STATE,
    grpc.StatusCode.UNAUTHENTICATED: databricks_pb2.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: databricks_pb2.PERMISSION_DENIED,
    grpc.StatusCode.UNAVAILABLE: databricks_pb2.TEMPORARILY_UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED: databricks_pb2.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED: databricks_pb2.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNIMPLEMENTED: databricks_pb2.NOT_IMPLEMENTED,
    grpc.StatusCode.CANCELLED: databricks_pb2.CANCELLED,
}


def mlflow_error(error: grpc.RpcError, target: str, method: str) -> MlflowException:
    """The MlflowException for a failed runstream call."""
    name = error_code_of(error)
    status = error.code() if callable(getattr(error, "code", None)) else None
    details = error.details() if callable(getattr(error, "details", None)) else None
    if name in _MLFLOW_CODE_BY_RUNSTREAM:
        code = _MLFLOW_CODE_BY_RUNSTREAM[name]
    elif isinstance(status, grpc.StatusCode):
        code = _MLFLOW_CODE_BY_STATUS.get(status, databricks_pb2.INTERNAL_ERROR)
    else:
        code = databricks_pb2.INTERNAL_ERROR
    if status == grpc.StatusCode.UNAVAILABLE and name is None:
        message = f"runstream at {target} is unreachable ({method}): {details}"
    elif status == grpc.StatusCode.UNIMPLEMENTED and name is None:
        message = f"the runstream server at {target} does not implement {method}"
    else:
        message = details or f"runstream call {method} failed with {status}"
    return MlflowException(message, error_code=code)


def parse_store_uri(store_uri: str) -> str:
    """``runstream://host[:port]`` -> ``host:port`` (the gRPC target)."""
    parsed = urlparse(store_uri)
    if parsed.scheme != SCHEME:
        raise MlflowException.invalid_parameter_value(
            f"not a runstream URI: {store_uri!r} (expected {SCHEME}://host:port)"
        )
    if not parsed.hostname:
        raise MlflowException.invalid_parameter_value(
            f"runstream URI without a host: {store_uri!r} (expected {SCHEME}://host:port)"
        )
    if parsed.path not in ("", "/"):
        raise MlflowException.invalid_parameter_value(
            f"runstream URI takes no path: {store_uri!r} (expected {SCHEME}://host:port)"
        )
    host = parsed.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{host}:{parsed.port or DEFAULT_PORT}"


ReqT = TypeVar("ReqT")


class RunstreamRpc:
    """Stubs for both services on one channel, with error mapping and write tokens."""

    def __init__(
        self,
        target: str,
        bearer_token: str | None = None,
        timeout: float | None = None,
        read_wait_ms: int | None = None,
    ) -> None:
        self.target = target
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {bearer_token}"),) if bearer_token else ()
        )
        self._timeout = (
            timeout if timeout is not None else _env_float(CALL_TIMEOUT_ENV, DEFAULT_CALL_TIMEOUT)
        )
        self._read_wait_ms = (
            read_wait_ms
            if read_wait_ms is not None
            else int(_env_float(READ_WAIT_MS_ENV, DEFAULT_READ_WAIT_MS))
        )
        self._channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_send_message_length", _MAX_MESSAGE),
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ],
        )
        self._write = write_pb2_grpc.WriteServiceStub(self._channel)
        self._query = query_pb2_grpc.QueryServiceStub(self._channel)
        self.tokens = TokenTracker()

    @classmethod
    def from_uri(cls, store_uri: str) -> RunstreamRpc:
        return cls(parse_store_uri(store_uri), bearer_token=os.environ.get(TOKEN_ENV) or None)

    def close(self) -> None:
        self._channel.close()

    def _invoke(self, stub: Any, method: str, request: Any) -> Any:
        fn: Callable[..., Any] = getattr(stub, method)
        try:
            return fn(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise mlflow_error(exc, self.target, method) from None

    def write(self, method: str, request: Any) -> Any:
        """A WriteService call; its response's token joins the store's token."""
        response = self._invoke(self._write, method, request)
        if response.HasField("token"):
            self.tokens.observe(response.token)
        return response

    def read(self, method: str, request: Any) -> Any:
        """A QueryService call that waits for everything this store wrote."""
        request.read.CopyFrom(
            query_pb2.ReadOptions(
                write_token=self.tokens.current().to_proto(), wait_timeout_ms=self._read_wait_ms
            )
        )
        return self._invoke(self._query, method, request)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        logger.warning("ignoring %s=%r: not a number", name, raw)
        return default
