"""The Kafka adapter of the read side: the log end offsets of the events topic, behind
:class:`~runstream.query.ports.LogEndPort` (the only module of ``query`` that imports
kafka).  One admin client, connected on first use and dropped after a failure; every
call bounded by ``timeout_s``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from typing import Any

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from .errors import LogUnavailableError

logger = logging.getLogger(__name__)

_UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION


class KafkaLogEnd:
    """Implements ``LogEndPort`` over a ``KafkaAdminClient`` (metadata, then ListOffsets
    LATEST: the high watermark, which an ``acks=all`` write has passed when acknowledged)."""

    def __init__(self, bootstrap: str, *, timeout_s: float = 2.0) -> None:
        self.bootstrap = bootstrap
        self._timeout_ms = max(100, int(timeout_s * 1000))
        self._client: Any = None
        self._lock = threading.Lock()

    def _admin(self) -> Any:
        if self._client is None:
            self._client = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="runstream-query",
                request_timeout_ms=self._timeout_ms,
                bootstrap_timeout_ms=self._timeout_ms,
                reconnect_backoff_max_ms=1000,
            )
        return self._client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a broken client is best effort
                logger.debug("closing the Kafka admin client failed", exc_info=True)

    def end_offsets(self, topic: str, partitions: Collection[int]) -> dict[int, int]:
        wanted = set(partitions)
        if not wanted:
            return {}
        with self._lock:
            try:
                admin = self._admin()
                (described,) = admin.describe_topics([topic])
                if described.get("error_code", 0) == _UNKNOWN_TOPIC:
                    return {}
                if described.get("error_code", 0):
                    raise LogUnavailableError(
                        f"Kafka describes topic {topic!r} with error {described['error_code']}"
                    )
                present = {int(p["partition_index"]) for p in described["partitions"]} & wanted
                if not present:
                    return {}
                specs = {TopicPartition(topic, p): OffsetSpec.LATEST for p in sorted(present)}
                found = admin.list_partition_offsets(specs, timeout_ms=self._timeout_ms)
            except KafkaError as exc:
                self._drop()
                raise LogUnavailableError(
                    f"cannot read the end offsets of {topic!r}: {exc}"
                ) from exc
            except (OSError, ValueError) as exc:
                self._drop()
                raise LogUnavailableError(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc
        return {tp.partition: int(o.offset) for tp, o in found.items()}

    def close(self) -> None:
        with self._lock:
            self._drop()
