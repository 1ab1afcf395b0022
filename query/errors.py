"""The read side's exceptions: one root, each naming its ``ErrorCode``.

``runstream.proto.rpc.ErrorInterceptor`` maps ``error_code`` to a gRPC status; anything
that is not a :class:`QueryError` becomes INTERNAL without details.
"""

from __future__ import annotations

from runstream.proto.errors import MAX_ECHO_CHARS, RunstreamError
from runstream.proto.v1 import common_pb2

MESSAGE_LIMIT = 2000  # characters of any error message


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` as an error message may repeat it: long input cut, with its length (as
    ``runstream.proto.errors.echo``, without the quotes of a repr)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class QueryError(RunstreamError):
    """Root of every error the query service raises on purpose.  Messages are capped (a
    message never repeats a megabyte of input back to the client)."""

    def __init__(
        self, message: str = "", *, error_code: common_pb2.ErrorCode | None = None
    ) -> None:
        super().__init__(clip(message, MESSAGE_LIMIT), error_code=error_code)


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
    """Ingest did not apply a read-your-writes token before the deadline (or the call
    was cancelled while waiting)."""

    error_code = common_pb2.DEADLINE_EXCEEDED


class OverloadedError(QueryError):
    """Too many calls in progress (or waiting for ingest) to take one more: retry later."""

    error_code = common_pb2.RESOURCE_EXHAUSTED


class QueryLimitError(QueryError):
    """A query hit a per-query limit (time, memory, size): narrow the request."""

    error_code = common_pb2.RESOURCE_EXHAUSTED


class LogUnavailableError(QueryError):
    """The log (Kafka) cannot be asked for its end offsets right now."""

    error_code = common_pb2.TEMPORARILY_UNAVAILABLE


class StoreUnavailableError(QueryError):
    """ClickHouse cannot be reached, or the tables do not exist yet."""

    error_code = common_pb2.TEMPORARILY_UNAVAILABLE


class StoreError(QueryError):
    """ClickHouse refused a query (a bug on our side: details go to the log only)."""

    error_code = common_pb2.INTERNAL_ERROR


class SlowReaderError(OverloadedError):
    """A live tail's reader fell behind and was cut off (RESOURCE_EXHAUSTED): it resumes
    with the token of the last message it received."""


class TailUnavailableError(QueryError):
    """The live tail cannot run here (FAILED_PRECONDITION): this query service has no Kafka
    to read events from, or the log no longer holds what a resume token asks for."""

    error_code = common_pb2.INVALID_STATE
