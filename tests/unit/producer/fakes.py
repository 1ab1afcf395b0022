"""A fake Transport port for unit tests (integration tests use the real broker)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from runstream.producer.errors import BrokerUnavailableError, ProducerError
from runstream.proto.events import MetricsLogged, RunEvent
from runstream.proto.tokens import WriteToken


class Done:
    def __init__(self, token: WriteToken) -> None:
        self.token = token

    def result(self, timeout: float | None = None) -> WriteToken:
        return self.token


class FakeTransport:
    """Records what it publishes; ``down`` makes it fail as an unreachable broker would,
    ``refuse`` as a broker that refuses the events; ``gate`` (cleared) holds publishes."""

    def __init__(self, topic: str = "t") -> None:
        self.topic = topic
        self.events: list[RunEvent] = []
        self.calls = 0
        self.down = False
        self.refuse = False
        self.gate = threading.Event()
        self.gate.set()
        self.closed = False
        self._lock = threading.Lock()

    @property
    def target(self) -> str:
        return "fake://broker:9092"

    def publish(self, events: Sequence[RunEvent], timeout: float | None = None) -> WriteToken:
        self.gate.wait(10)
        with self._lock:
            self.calls += 1
            if self.down:
                raise BrokerUnavailableError(self.target, "NoBrokersAvailable: connection refused")
            if self.refuse:
                raise ProducerError("MessageSizeTooLargeError: too large")
            start = len(self.events)
            self.events.extend(events)
            return (
                WriteToken.of(self.topic, {0: start + len(events) - 1}) if events else WriteToken()
            )

    def submit(self, events: Sequence[RunEvent]) -> Done:
        return Done(self.publish(events))

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        self.closed = True

    # helpers for assertions

    def payloads(self, kind: type) -> list:
        return [e.payload for e in self.events if isinstance(e.payload, kind)]

    def points(self) -> int:
        return sum(len(p) for p in self.payloads(MetricsLogged))
