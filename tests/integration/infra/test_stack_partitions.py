"""How many partitions the topic a stack creates gets (real broker, real chDB).

On chDB the stack's ingest worker is the only consumer the topic can have, and each
partition's share of a batch is written as inserts of its own: the stack creates its topic
with one partition unless told otherwise (``docs/benchmarks.md``, "Import from MLflow").
"""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer

from runstream.infra.stack import EMBEDDED_PARTITIONS, Stack, StackSettings
from runstream.ingest.settings import ENV_PARTITIONS
from runstream.producer import RunstreamClient
from runstream.proto.tokens import WaitToken


def _partitions(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        found = consumer.partitions_for_topic(topic)
        assert found, f"topic {topic} does not exist"
        return len(found)
    finally:
        consumer.close()


def _settings(
    kafka_bootstrap: str, chdb_dsn: str, topic_prefix: str, partitions: int | None = None
) -> StackSettings:
    return StackSettings(
        kafka=kafka_bootstrap,
        clickhouse=chdb_dsn,
        database=f"stack_parts_{uuid.uuid4().hex[:10]}",
        topic=f"{topic_prefix}.stack-parts.{uuid.uuid4().hex[:6]}",
        address="127.0.0.1:0",
        partitions=partitions,
    )


def test_a_stack_on_chdb_creates_one_partition_and_works_on_it(
    kafka_bootstrap: str, chdb_dsn: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_PARTITIONS, raising=False)
    settings = _settings(kafka_bootstrap, chdb_dsn, topic_prefix)
    with Stack(settings) as running:
        assert _partitions(kafka_bootstrap, settings.topic) == EMBEDDED_PARTITIONS == 1
        client = RunstreamClient(uri=f"grpc://{running.address}")
        try:
            experiment_id = client.create_experiment(f"parts-{uuid.uuid4().hex[:6]}")
            run_ids = [client.create_run(experiment_id).run_id for _ in range(3)]
            for i, run_id in enumerate(run_ids):
                client.log_metric(run_id, "loss", float(i), step=0, timestamp=1)
            token = client.flush(timeout=60)
        finally:
            client.close()
        assert [p for p, _ in token.offsets] == [0]
        running.query_service.wait(WaitToken(token.topic, token.offset_map), 60)
        for i, run_id in enumerate(run_ids):
            run = running.query_service.get_run(run_id)
            assert [(m.key, m.value) for m in run.metrics] == [("loss", float(i))]


@pytest.mark.parametrize("how", ["setting", "environment"])
def test_the_partition_count_asked_for_wins(
    how: str,
    kafka_bootstrap: str,
    chdb_dsn: str,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_PARTITIONS, raising=False)
    if how == "environment":
        monkeypatch.setenv(ENV_PARTITIONS, "3")
    settings = _settings(
        kafka_bootstrap, chdb_dsn, topic_prefix, partitions=3 if how == "setting" else None
    )
    with Stack(settings):
        assert _partitions(kafka_bootstrap, settings.topic) == 3
