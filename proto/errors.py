"""The one root of runstream's exceptions, and the contracts package's own errors.

Every package's root error (``ProducerError``, ``IngestError``, ``QueryError``,
``InfraError``, the MLflow plugin's) subclasses :class:`RunstreamError`, which carries an
``error_code``: a ``runstream.v1.ErrorCode`` value (``v1/common.proto``).  The gRPC error
interceptor (:mod:`runstream.proto.rpc`) maps exactly these to a status; any other
exception is a bug and becomes INTERNAL.
"""

from __future__ import annotations

from .v1 import common_pb2

# Echoed input is cut to this many characters in error messages: a 1 MB id must not
# come back whole in an error.
MAX_ECHO_CHARS = 200


def echo(value: object, limit: int = MAX_ECHO_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters with the original length said."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class RunstreamError(Exception):
    """Root of every runstream error.  ``error_code`` names the ``ErrorCode`` a client sees."""

    error_code: common_pb2.ErrorCode = common_pb2.INTERNAL_ERROR

    def __init__(self, message: str, *, error_code: common_pb2.ErrorCode | None = None) -> None:
        super().__init__(message)
        if error_code is not None:
            self.error_code = error_code


class ContractError(RunstreamError):
    """Root of every error raised by ``runstream.proto`` itself (codec and event checks)."""


class EncodeError(ContractError):
    """An event could not be encoded (a field does not fit the schema)."""


class DecodeError(ContractError):
    """Bytes could not be decoded into an event (not single-object Avro, or a corrupt body)."""


class UnknownSchemaError(DecodeError):
    """The writer schema's fingerprint is not one this reader knows."""

    def __init__(self, fingerprint: bytes) -> None:
        super().__init__(f"unknown writer schema fingerprint {fingerprint.hex()}")
        self.fingerprint = fingerprint


class InvalidTokenError(ContractError):
    """A write token that cannot be decoded."""

    error_code = common_pb2.INVALID_PARAMETER_VALUE


class SettingsError(ContractError):
    """A setting (environment variable or flag) that cannot be used; names it and its value."""

    error_code = common_pb2.INVALID_PARAMETER_VALUE
