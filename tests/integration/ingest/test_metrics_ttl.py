"""A TTL on raw metric points: old points go at merges, the per-key summaries stay."""

from __future__ import annotations

import time
from collections.abc import Callable

from runstream.ingest import IngestSettings
from runstream.proto import events as ev
from tests.integration.ingest.conftest import running
from tests.integration.ingest.workload import Sender, client, event, new_topic, points, wait_applied


def test_old_raw_points_expire_and_latest_metrics_keep_their_summary(
    kafka_bootstrap: str,
    topic_prefix: str,
    chdb_dsn: str,
    make_settings: Callable[..., IngestSettings],
) -> None:
    topic = new_topic(kafka_bootstrap, topic_prefix, 2)
    now = int(time.time() * 1000)
    old = now - 40 * 86_400_000  # 40 days ago
    sender = Sender(kafka_bootstrap, topic)
    sender.send(
        [
            event("ttl-1", ev.RunCreated(start_time=1)),
            event("ttl-1", points(["loss"] * 100, list(range(100)), [1.0] * 100, ts=old)),
            event("ttl-1", points(["loss"] * 10, list(range(100, 110)), [0.5] * 10, ts=now)),
        ]
    )
    sender.close()
    settings = make_settings(topic, metrics_ttl_days=30)
    with running(settings):
        c = client(chdb_dsn, settings.database)
        wait_applied(c, kafka_bootstrap, topic)
    ddl = c.command("SELECT create_table_query FROM system.tables WHERE "
                    "database = currentDatabase() AND name = 'metrics'")  # fmt: skip
    assert "TTL" in str(ddl)
    c.command("OPTIMIZE TABLE metrics FINAL")  # a merge applies the TTL now
    kept = c.query("SELECT count(), min(step) FROM metrics WHERE run_id = 'ttl-1'").result_rows
    assert kept == [(10, 100)]
    summary = c.query(
        "SELECT max(latest).1, min(min_value), max(max_value), sum(count) FROM latest_metrics "
        "WHERE run_id = 'ttl-1' AND key = 'loss'"
    ).result_rows
    assert summary == [(109, 0.5, 1.0, 110)]  # the summary still counts every point

    with running(make_settings(topic, metrics_ttl_days=0, database=settings.database)):
        pass  # 0 removes the TTL again
    ddl = c.command("SELECT create_table_query FROM system.tables WHERE "
                    "database = currentDatabase() AND name = 'metrics'")  # fmt: skip
    assert " TTL " not in str(ddl)
    c.close()
