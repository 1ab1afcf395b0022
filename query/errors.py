"""The read side's exceptions: one root, each naming its ``ErrorCode``.

``runstream.proto.rpc.ErrorInterceptor`` maps ``error_code`` to a gRPC status; anything
that is not a :class:`QueryError` becomes INTERNAL without details.
"""

from __future__ import annotations

from runstream.proto.errors import RunstreamError
from runstream.proto.v1 import common_pb2


class QueryError(RunstreamError):
    """Root of every error the query service raises on purpose."""


class InvalidRequestError(QueryError):
    """A request field is out of range or malformed (INVALID_ARGUMENT)."""

    error_code = common_pb2.INVALID_PARAMETER_VALUE


class InvalidFilterError(InvalidRequestError):
    """A filter or order_by string does not parse; names the position and what was expected."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class InvalidPageTokenError(InvalidRequestError):
    """A page token that this server did not issue for this very query."""


class NotFoundError(QueryError):
    error_code = common_pb2.RESOURCE_DOES_NOT_EXIST


class DeadlineExceeded(QueryError):
    """Ingest did not apply a read-your-writes token before the deadline."""

    error_code = common_pb2.DEADLINE_EXCEEDED


class StoreUnavailableError(QueryError):
    """ClickHouse cannot be reached, or the tables do not exist yet."""

    error_code = common_pb2.TEMPORARILY_UNAVAILABLE


class StoreError(QueryError):
    """ClickHouse refused a query (a bug on our side: details go to the log only)."""

    error_code = common_pb2.INTERNAL_ERROR
