"""The HTTP path: ingest and the query store over ``http://`` give what the chDB path gives.

No ClickHouse server runs here, so the HTTP endpoint is ClickHouse's HTTP interface in
front of the session's chDB engine (tests/fixtures/clickhouse_http.py: every statement is
still run by ClickHouse; what the HTTP path adds, clickhouse-connect's HTTP client with
its Native and Arrow bodies, compression, server-side parameters and settings as URL
parameters, is what is under test).  One topic is projected twice, by a worker on
``chdb://`` and one on ``http://``; the tables must be equal, and the query store's reads
through either target must return the same rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from runstream.ingest import IngestSettings
from runstream.query.clickhouse_store import ClickHouseStore as QueryStore
from runstream.query.entities import XAxis
from runstream.query.history_sql import Bucketing, history_page_sql, m4_sql, raw_series_sql
from tests.fixtures.clickhouse_http import ClickHouseHttpFront
from tests.fixtures.clickhouse_http import clickhouse_http as clickhouse_http  # fixture
from tests.integration.ingest.conftest import running
from tests.integration.ingest.test_thin_path import STEPS, thin_events
from tests.integration.ingest.workload import Sender, client, dump, new_topic, wait_applied


def test_ingest_and_reads_over_http_equal_the_chdb_path(
    kafka_bootstrap: str,
    topic_prefix: str,
    make_settings: Callable[..., IngestSettings],
    clickhouse_http: ClickHouseHttpFront,
) -> None:
    topic = new_topic(kafka_bootstrap, topic_prefix, 4)
    sender = Sender(kafka_bootstrap, topic)
    sender.send(thin_events())
    sender.close()
    embedded = make_settings(topic)
    over_http = IngestSettings(
        **{
            **embedded.__dict__,
            "clickhouse": clickhouse_http.dsn,
            "database": embedded.database + "_http",
            "group": embedded.group + "-http",
        }
    )
    for settings in (embedded, over_http):
        with running(settings):
            wait_applied(client(settings.clickhouse, settings.database), kafka_bootstrap, topic)
    assert any(re.match(r"INSERT INTO `?metrics`? ", s) for s in clickhouse_http.statements)
    assert any("CREATE TABLE IF NOT EXISTS metrics" in s for s in clickhouse_http.statements)

    # the tables, read through chDB: the HTTP worker wrote what the embedded one wrote
    direct = client(embedded.clickhouse, embedded.database)
    via_http_db = client(embedded.clickhouse, over_http.database)
    want, got = dump(direct), dump(via_http_db)
    assert want["metrics"] and want["runs"]
    assert got == want

    # the query store's statements, through either target
    stores = [
        QueryStore(embedded.clickhouse, embedded.database, pool_size=2),
        QueryStore(clickhouse_http.dsn, embedded.database, pool_size=2),
    ]
    try:
        statements = [
            history_page_sql("1", "thin-run-1", "loss", 10_000, None),
            history_page_sql("1", "thin-run-1", "loss", 100, (500, 501, 1 / 501)),
            raw_series_sql(["1"], ["thin-run-0", "thin-run-2"], "acc", XAxis.STEP, 10, 900),
            m4_sql(
                ["1"], "loss", XAxis.STEP, None, None,
                Bucketing(["thin-run-0", "thin-run-1"], [0, 0], [40, 40]),
            ),
        ]  # fmt: skip
        for sql in statements:
            rows = [store.rows(sql) for store in stores]
            assert rows[0], sql.text
            assert rows[1] == rows[0], sql.text
        assert len(stores[1].rows(statements[0])) == STEPS
    finally:
        for store in stores:
            store.close()
