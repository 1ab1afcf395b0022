"""Read-your-writes tokens: where a write landed (topic, partition -> last offset)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from runstream.proto.v1 import common_pb2

from .errors import ValidationError


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
        try:
            padded = text + "=" * (-len(text) % 4)
            raw = base64.b64decode(padded, altchars=b"-_", validate=True)
            message = common_pb2.WriteToken.FromString(raw)
        except Exception as exc:  # binascii.Error, DecodeError
            raise ValidationError.of("write_token", f"not a write token: {exc}") from None
        return cls.from_proto(message)


def merge_all(tokens: Iterable[WriteToken]) -> WriteToken:
    result = WriteToken()
    for token in tokens:
        result = result.merge(token)
    return result
