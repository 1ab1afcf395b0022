"""The Kafka adapter of the live tail: the records at given offsets of one partition,
behind :class:`~runstream.query.tail.RecordsPort`.  One consumer per stream (no group, no
commits: it only seeks and reads), connected on first use and closed with the stream."""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from .errors import LogUnavailableError, TailUnavailableError

logger = logging.getLogger(__name__)


class KafkaRecords:
    """Implements ``RecordsPort``: seek to the first wanted offset, read on to the last."""

    def __init__(self, bootstrap: str, *, timeout_s: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self._timeout_s = timeout_s
        self._consumer: Any = None

    def _open(self) -> Any:
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id="runstream-tail",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=50,
                request_timeout_ms=max(1000, int(self._timeout_s * 1000)),
            )
        return self._consumer

    def read(self, topic: str, partition: int, offsets: list[int]) -> dict[int, bytes]:
        if not offsets:
            return {}
        wanted = set(offsets)
        first, last = min(wanted), max(wanted)
        tp = TopicPartition(topic, partition)
        found: dict[int, bytes] = {}
        try:
            consumer = self._open()
            if consumer.assignment() != {tp}:
                consumer.assign([tp])
                consumer.seek(tp, first)
            elif consumer.position(tp) != first:  # reading on keeps what was prefetched
                consumer.seek(tp, first)
            deadline = time.monotonic() + self._timeout_s
            while len(found) < len(wanted) and time.monotonic() < deadline:
                batch = consumer.poll(timeout_ms=200, max_records=5000)
                for record in batch.get(tp, ()):
                    if record.offset in wanted:
                        found[record.offset] = record.value
                if consumer.position(tp) > last:
                    break
            missing = sorted(wanted - found.keys())
            if missing:
                start = consumer.beginning_offsets([tp])[tp]
                if missing[0] < start:
                    raise TailUnavailableError(
                        f"the log no longer holds offset {missing[0]} of partition {partition} "
                        f"(it starts at {start}): start the tail anew, without a token"
                    )
        except KafkaError as exc:
            self.close()
            raise LogUnavailableError(f"cannot read events from Kafka: {exc}") from exc
        except OSError as exc:
            self.close()
            raise LogUnavailableError(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc
        if missing:
            raise LogUnavailableError(
                f"Kafka did not return offset {missing[0]} of partition {partition} within "
                f"{self._timeout_s:g} s"
            )
        return found

    def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                consumer.close()
            except Exception:  # noqa: BLE001 - closing a broken consumer is best effort
                logger.debug("closing the tail's Kafka consumer failed", exc_info=True)
