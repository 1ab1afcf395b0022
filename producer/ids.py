"""Identifiers and event headers: run ids, default run names, the clock, and the
per-producer sequence (:class:`EventStamper`).  Experiment ids follow from names by
``runstream.proto.vocabulary.experiment_id_for_name``."""

from __future__ import annotations

import random
import time
import uuid

from runstream.proto.events import Payload, RunEvent

_ADJECTIVES = (
    "amber",
    "bold",
    "brave",
    "calm",
    "clever",
    "crisp",
    "eager",
    "gentle",
    "glad",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "quiet",
    "rapid",
    "sharp",
    "silent",
    "steady",
    "swift",
    "vivid",
)
_NOUNS = (
    "badger",
    "cat",
    "crane",
    "deer",
    "falcon",
    "finch",
    "fox",
    "hare",
    "heron",
    "lark",
    "lynx",
    "moth",
    "otter",
    "owl",
    "panda",
    "robin",
    "seal",
    "stork",
    "swan",
    "wolf",
)


def new_run_id() -> str:
    """32 lowercase hex characters (uuid4), as MLflow."""
    return uuid.uuid4().hex


def new_producer_id() -> str:
    return uuid.uuid4().hex


def default_run_name() -> str:
    """An MLflow-style name such as ``swift-otter-417``."""
    rng = random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randrange(1000)}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


#: The gateway's seq for the k-th event built from the ``part``-th request of an SDK event
#: with seq ``seq``: ``(seq << 20) | (part << 10) | k`` (``Origin`` in ``v1/write.proto``).
ORIGIN_PART_BITS = 10
ORIGIN_ITEM_BITS = 10
MAX_ORIGIN_PART = (1 << ORIGIN_PART_BITS) - 1
MAX_ORIGIN_ITEM = (1 << ORIGIN_ITEM_BITS) - 1
MAX_ORIGIN_SEQ = (1 << (63 - ORIGIN_PART_BITS - ORIGIN_ITEM_BITS)) - 1


def origin_seq(seq: int, part: int, item: int) -> int:
    """The seq the gateway stamps on the ``item``-th event of a request from ``Origin``
    ``(seq, part)``: the same request resent gets the same seqs, in the same order."""
    return (((seq << ORIGIN_PART_BITS) | part) << ORIGIN_ITEM_BITS) | item


def make_event(
    producer_id: str,
    seq: int,
    run_id: str,
    experiment_id: str,
    payload: Payload,
    client_ts: int | None = None,
    principal: str = "",
) -> RunEvent:
    """An event header and payload; ``principal`` is the gateway caller's (the SDK writing
    straight to Kafka has none to vouch for)."""
    return RunEvent(
        event_id=uuid.uuid4().hex,
        run_id=run_id,
        experiment_id=experiment_id,
        producer_id=producer_id,
        seq=seq,
        client_ts=now_ms() if client_ts is None else client_ts,
        payload=payload,
        principal=principal,
    )


class EventStamper:
    """Builds event headers for one producer identity: ``seq`` counts from 0 without gaps
    in the order events are stamped.  Not thread-safe: one stamping thread, or a lock."""

    def __init__(self, producer_id: str | None = None, first_seq: int = 0) -> None:
        self.producer_id = producer_id or new_producer_id()
        self._seq = first_seq

    @property
    def next_seq(self) -> int:
        return self._seq

    def stamp(
        self,
        run_id: str,
        experiment_id: str,
        payload: Payload,
        client_ts: int | None = None,
        principal: str = "",
    ) -> RunEvent:
        seq = self._seq
        self._seq = seq + 1
        return make_event(
            self.producer_id, seq, run_id, experiment_id, payload, client_ts, principal
        )
