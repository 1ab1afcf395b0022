"""Exceptions raised by ``runstream.ingest``: one root, :class:`IngestError`.

Every exception carries ``error_code``, a ``runstream.v1.ErrorCode`` value, so a
service that hosts the worker can map it to a status the same way as its own errors.
"""

from __future__ import annotations

from runstream.proto.errors import RunstreamError
from runstream.proto.v1 import common_pb2


class IngestError(RunstreamError):
    """Root of every error raised by the ingest worker."""


class ConfigError(IngestError):
    """A setting, flag or environment variable has an invalid value."""

    error_code = common_pb2.INVALID_PARAMETER_VALUE


class MigrationError(IngestError):
    """A migration file is malformed or a statement in it failed."""


class SinkError(IngestError):
    """ClickHouse refused a write or a read for a reason that retrying will not fix."""


class SinkUnavailable(SinkError):
    """ClickHouse cannot be reached (or chDB cannot open its directory); retry later."""

    error_code = common_pb2.TEMPORARILY_UNAVAILABLE


class SinkBackpressure(SinkError):
    """ClickHouse asks writers to slow down (too many parts, memory limit); retry later."""

    error_code = common_pb2.RESOURCE_EXHAUSTED


class SourceError(IngestError):
    """Kafka failed in a way the consumer cannot recover from by itself."""

    error_code = common_pb2.TEMPORARILY_UNAVAILABLE


class DeadLetterError(IngestError):
    """Dead letters could not be delivered to the dead-letter topic."""

    error_code = common_pb2.TEMPORARILY_UNAVAILABLE


class LogTruncated(IngestError):
    """The event log no longer holds events the tables have not applied (retention deleted
    them): the tables cannot be completed from the log.  Restore a newer snapshot, or
    accept the gap on purpose (``RUNSTREAM_INGEST_ALLOW_LOG_GAP``)."""


class ReplayError(IngestError):
    """A replay cannot start (target database not fresh, bad offsets)."""

    error_code = common_pb2.INVALID_STATE


RETRYABLE: tuple[type[IngestError], ...] = (
    SinkUnavailable,
    SinkBackpressure,
    SourceError,
    DeadLetterError,
)
