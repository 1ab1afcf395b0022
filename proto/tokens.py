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
from collections import OrderedDict
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


class ScopedTokens:
    """Write tokens per scope (thread-safe): a read waits only for the writes that concern
    what it reads, not for every write one client made.

    A write names the scopes it concerns (for example a run and the runs of its
    experiment); a read names the scopes it reads.  A write that names no scope concerns
    every read (it joins :meth:`unscoped`), and a read that names no scope waits for every
    write (:meth:`current`): both fall back to one token per client.  At most ``limit``
    scopes are kept; the token of a scope dropped for space joins a floor token that a
    read of any scope not kept waits for (such writes are old: the wait is normally over).
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._all = TokenTracker()
        self._topic = ""
        self._unscoped = WriteToken()
        self._floor = WriteToken()
        self._scopes: OrderedDict[str, WriteToken] = OrderedDict()

    def observe(
        self,
        token: WriteToken | common_pb2.WriteToken | None,
        scopes: Iterable[str] = (),
    ) -> None:
        if token is None:
            return
        if isinstance(token, common_pb2.WriteToken):
            token = WriteToken.from_proto(token)
        if not token.offsets:
            return
        self._all.observe(token)
        names = list(scopes)
        with self._lock:
            if token.topic != self._topic:
                self._reset(token.topic)
            if not names:
                self._unscoped = self._unscoped.merge(token)
                return
            for name in names:
                known = self._scopes.pop(name, None)
                self._scopes[name] = token if known is None else _merge_or(known, token)
            while len(self._scopes) > self._limit:
                _, dropped = self._scopes.popitem(last=False)
                self._floor = _merge_or(self._floor, dropped)

    def _reset(self, topic: str) -> None:
        """A topic change starts over: offsets of two topics do not compare."""
        self._topic = topic
        self._unscoped, self._floor = WriteToken(), WriteToken()
        self._scopes.clear()

    def current(self) -> WriteToken:
        """Every write's token merged (what a read that names no scope waits for)."""
        return self._all.current()

    def unscoped(self) -> WriteToken:
        with self._lock:
            return self._unscoped

    def for_scopes(self, scopes: Iterable[str]) -> WriteToken:
        """What a read of ``scopes`` waits for: their writes and every unscoped write."""
        with self._lock:
            token = self._unscoped
            for name in scopes:
                known = self._scopes.get(name)
                token = _merge_or(token, self._floor if known is None else known)
            return token


def _merge_or(old: WriteToken, new: WriteToken) -> WriteToken:
    """``old`` merged with ``new``; a token of another topic replaces it."""
    if old.topic and new.topic and old.topic != new.topic:
        return new
    return old.merge(new)
