"""The port between the producer and the outside world: a :class:`Transport` publishes
run events and answers with a :class:`~runstream.proto.tokens.WriteToken`.

Two adapters implement it: ``kafka_transport.KafkaTransport`` (straight to Kafka) and
``grpc_transport.GrpcTransport`` (through the gateway).  Nothing else in the producer
imports ``kafka`` or ``grpc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from runstream.proto.events import RunEvent
from runstream.proto.tokens import WriteToken

from .settings import ProducerSettings


class PendingWrite(Protocol):
    """Events handed to a transport, not yet known to be acknowledged."""

    def result(self, timeout: float | None = None) -> WriteToken:
        """Block until every event is acknowledged; raise a ``ProducerError`` if one failed
        (``BrokerUnavailableError`` when the failure is worth retrying)."""
        ...


@runtime_checkable
class Transport(Protocol):
    """Publishes events in order; per-run order holds (the Kafka key is the run id)."""

    @property
    def target(self) -> str:
        """Where events go, for messages (``kafka://h:p``, ``grpc://h:p``)."""
        ...

    def submit(self, events: Sequence[RunEvent]) -> PendingWrite:
        """Hand events over without waiting; safe from several threads."""
        ...

    def publish(self, events: Sequence[RunEvent], timeout: float | None = None) -> WriteToken:
        """Publish and wait for the acknowledgement.  A single caller (the SDK's sender):
        after a failure, whatever the transport still holds is discarded, so a retry
        does not race stale copies."""
        ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


def open_transport(settings: ProducerSettings, client_id: str = "runstream-producer") -> Transport:
    """The adapter ``settings.uri`` names (imported only when needed)."""
    endpoint = settings.endpoint
    if endpoint.scheme == "kafka":
        from .kafka_transport import KafkaTransport

        return KafkaTransport(settings.kafka_options(client_id))
    from .grpc_transport import GrpcTransport

    return GrpcTransport(
        endpoint.address,
        tls=endpoint.scheme == "grpcs",
        token=settings.token,
        tls_ca=settings.tls_ca,
        timeout_s=settings.publish_timeout_s,
        max_event_bytes=settings.max_event_bytes,
    )
