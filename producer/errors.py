"""The producer's exceptions: one root, :class:`ProducerError`, with an ``error_code``.

``error_code`` holds a ``runstream.proto.v1.common_pb2.ErrorCode`` value, so the gateway's
``runstream.proto.rpc.ErrorInterceptor`` maps any of these to the right gRPC status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runstream.proto.errors import RunstreamError
from runstream.proto.v1 import common_pb2


class ProducerError(RunstreamError):
    """Root of every error the SDK and the gateway raise."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One refused item: the field at fault (``metrics[3].value``) and what is wrong."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


class ValidationError(ProducerError):
    """Input refused (INVALID_PARAMETER_VALUE). ``field`` names the first field at fault;
    ``problems`` lists every refused item when several were checked at once."""

    error_code = common_pb2.INVALID_PARAMETER_VALUE

    def __init__(self, problems: Iterable[FieldProblem], *, accepted: int = 0) -> None:
        self.problems: tuple[FieldProblem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("a ValidationError needs at least one problem")
        self.accepted = accepted
        first = self.problems[0]
        self.field = first.field
        shown = "; ".join(str(p) for p in self.problems[:5])
        more = len(self.problems) - 5
        text = f"invalid {shown}" + (f" (and {more} more)" if more > 0 else "")
        if accepted:
            text += f"; the other {accepted} item(s) were accepted"
        super().__init__(text)

    @classmethod
    def of(cls, field: str, problem: str) -> ValidationError:
        return cls([FieldProblem(field, problem)])


class InvalidStateError(ProducerError):
    """The call does not fit the current state (no active run, client closed...)."""

    error_code = common_pb2.INVALID_STATE


class NotFoundError(ProducerError):
    """The run (or experiment) a write names does not exist."""

    error_code = common_pb2.RESOURCE_DOES_NOT_EXIST


class BufferFullError(ProducerError):
    """The in-memory buffer is full and the ``raise`` policy is in force."""

    error_code = common_pb2.RESOURCE_EXHAUSTED


class BrokerUnavailableError(ProducerError):
    """Kafka (or the gateway) could not be reached or did not acknowledge in time."""

    error_code = common_pb2.TEMPORARILY_UNAVAILABLE

    def __init__(self, target: str, cause: str) -> None:
        super().__init__(f"cannot publish to {target}: {cause}")
        self.target = target
        self.cause = cause


class AuthenticationError(ProducerError):
    """The gateway refused the bearer token."""

    error_code = common_pb2.UNAUTHENTICATED


class SpoolError(ProducerError):
    """The spool directory cannot be written or read."""

    error_code = common_pb2.INTERNAL_ERROR
