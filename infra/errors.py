"""Errors of runstream's local infrastructure (the Kafka launcher and the stack)."""

from __future__ import annotations

from runstream.proto.errors import RunstreamError


class InfraError(RunstreamError):
    """Base of the errors raised by runstream's local infrastructure.

    ``summary`` is one line; ``detail`` (maybe empty) is the output that explains it.
    """

    def __init__(self, summary: str, detail: str = "") -> None:
        super().__init__(f"{summary}\n{detail}" if detail else summary)
        self.summary = summary
        self.detail = detail


class ToolMissingError(InfraError):
    """A required program (java, mvn) is missing or too old."""


class FetchError(InfraError):
    """Maven could not fetch the broker's jars."""


class PortInUseError(InfraError):
    """A port the broker needs is taken by another process."""


class BrokerConfigError(InfraError, ValueError):
    """A broker setting is invalid (a port out of range, a malformed heap size)."""


class BrokerConflictError(InfraError):
    """The data directory's broker already runs, with other settings."""


class BrokerStartError(InfraError):
    """The broker failed to start or to answer in time; ``detail`` has its log tail."""
