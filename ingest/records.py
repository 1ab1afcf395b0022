"""What a source yields: one Kafka record, decoded into an event or marked as poison."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from runstream.proto.events import MetricsLogged, RunEvent


class PoisonReason(StrEnum):
    """Why an event goes to the dead-letter topic (the ``runstream-reason`` header)."""

    DECODE_ERROR = "decode-error"  # not single-object Avro, or a corrupt body
    UNKNOWN_SCHEMA = "unknown-schema"  # writer schema fingerprint not known
    INVALID_EVENT = "invalid-event"  # decodes, but fields break the event's own rules
    RUN_NOT_FOUND = "run-not-found"  # event for a run never created
    RUN_DELETED = "run-deleted"  # a write to a deleted run (MLflow refuses them too)
    RUN_EXISTS = "run-exists"  # a second RunCreated for a run
    EXPERIMENT_NOT_FOUND = "experiment-not-found"
    EXPERIMENT_EXISTS = "experiment-exists"
    EXPERIMENT_MISMATCH = "experiment-mismatch"  # header experiment is not the run's
    PARAM_CONFLICT = "param-conflict"  # a param logged again with another value
    LOGGED_MODEL_NOT_FOUND = "logged-model-not-found"  # event for a logged model never created
    LOGGED_MODEL_EXISTS = "logged-model-exists"  # a second LoggedModelCreated


@dataclass(frozen=True, slots=True)
class Poison:
    reason: PoisonReason
    detail: str


class Refused(Exception):
    """Raised by a projection step: the event is poison (it goes to the dead letters)."""

    def __init__(self, reason: PoisonReason, detail: str) -> None:
        super().__init__(detail)
        self.poison = Poison(reason, detail)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record of the topic.  Exactly one of ``event`` and ``poison`` is set."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    event: RunEvent | None = None
    poison: Poison | None = None

    @property
    def points(self) -> int:
        """Metric points carried (0 for other events and for poison)."""
        if self.event is not None and isinstance(self.event.payload, MetricsLogged):
            return len(self.event.payload)
        return 0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that the projection refused, with the reason."""

    record: SourceRecord
    poison: Poison

    def headers(self) -> list[tuple[str, bytes]]:
        """The headers a dead-letter message carries (origin and reason)."""
        return [
            ("runstream-reason", self.poison.reason.value.encode()),
            ("runstream-detail", self.poison.detail.encode()[:4000]),
            ("runstream-origin-topic", self.record.topic.encode()),
            ("runstream-origin-partition", str(self.record.partition).encode()),
            ("runstream-origin-offset", str(self.record.offset).encode()),
        ]
