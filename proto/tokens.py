"""Read-your-writes tokens, said once for every process.

A write returns a :class:`WriteToken`: the Kafka offsets at which its events landed, per
partition.  Ingest records, after each durable write, the next offset it will apply per
partition in the ``ingest_offsets`` table (:data:`APPLIED_OFFSETS_SQL` reads it).  A read
that carries a token (:class:`WaitToken`) waits until every listed partition's next offset
is past the token's.  A client that writes many times keeps one :class:`TokenTracker`.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError

from .errors import InvalidTokenError
from .v1 import common_pb2

# The applied offsets per partition of one topic: named parameters ``topic`` (String) and
# ``partitions`` (Array(Int32)).  Rows: (partition, next offset to apply).
APPLIED_OFFSETS_SQL = (
    "SELECT partition, max(next_offset) FROM ingest_offsets "
    "WHERE topic = {topic:String} AND partition IN {partitions:Array(Int32)} "
    "GROUP BY partition"
)


@dataclass(frozen=True, slots=True)
class WriteToken:
    """The offsets at which a write landed; a read that carries it waits until ingest has
    applied them.  ``offsets`` is a sorted tuple of (partition, offset) pairs."""

    topic: str = ""
    offsets: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, topic: str, offsets: Mapping[int, int]) -> WriteToken:
        return cls(topic, tuple(sorted((int(p), int(o)) for p, o in offsets.items())))

    @property
    def offset_map(self) -> dict[int, int]:
        return dict(self.offsets)

    def __bool__(self) -> bool:
        return bool(self.offsets)

    def merge(self, other: WriteToken) -> WriteToken:
        """The later of both offsets per partition (tokens of one topic)."""
        if not other.offsets:
            return self if self.topic or not other.topic else WriteToken(other.topic)
        if not self.offsets:
            return other
        if self.topic and other.topic and self.topic != other.topic:
            raise ValueError(f"cannot merge tokens of topics {self.topic!r} and {other.topic!r}")
        merged = dict(self.offsets)
        for partition, offset in other.offsets:
            if offset > merged.get(partition, -1):
                merged[partition] = offset
        return WriteToken.of(self.topic or other.topic, merged)

    def to_proto(self) -> common_pb2.WriteToken:
        return common_pb2.WriteToken(topic=self.topic, offsets=dict(self.offsets))

    @classmethod
    def from_proto(cls, message: common_pb2.WriteToken) -> WriteToken:
        return cls.of(message.topic, dict(message.offsets))

    def encode(self) -> str:
        """A URL-safe string (the serialized ``WriteToken`` proto in base64)."""
        raw = self.to_proto().SerializeToString(deterministic=True)
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str) -> WriteToken:
        """The token :meth:`encode` made; :class:`InvalidTokenError` for anything else."""
        try:
            padded = text + "=" * (-len(text) % 4)
            raw = base64.b64decode(padded, altchars=b"-_", validate=True)
            message = common_pb2.WriteToken.FromString(raw)
        except (binascii.Error, ValueError, ProtobufDecodeError) as exc:
            raise InvalidTokenError(f"write_token: not a write token: {exc}") from None
        return cls.from_proto(message)


def merge_all(tokens: Iterable[WriteToken]) -> WriteToken:
    result = WriteToken()
    for token in tokens:
        result = result.merge(token)
    return result


class TokenTracker:
    """The merged token of every write one client made (thread-safe).  A topic change
    starts over: offsets of two topics do not compare."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token = WriteToken()

    def observe(self, token: WriteToken | common_pb2.WriteToken | None) -> None:
        if token is None:
            return
        if isinstance(token, common_pb2.WriteToken):
            token = WriteToken.from_proto(token)
        if not token.offsets:
            return
        with self._lock:
            if self._token.topic and token.topic != self._token.topic:
                self._token = token
            else:
                self._token = self._token.merge(token)

    def current(self) -> WriteToken:
        with self._lock:
            return self._token


@dataclass(frozen=True)
class WaitToken:
    """A token as a read received it: wait until every partition's next offset is past
    these."""

    topic: str
    offsets: dict[int, int]

    @classmethod
    def from_proto(cls, message: common_pb2.WriteToken) -> WaitToken:
        return cls(message.topic, dict(message.offsets))
