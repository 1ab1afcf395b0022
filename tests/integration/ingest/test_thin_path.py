"""The thin path: events on the topic -> worker -> tables; metrics endpoint; restart."""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from runstream.ingest import IngestSettings
from runstream.proto import events as ev
from tests.integration.ingest.conftest import running
from tests.integration.ingest.workload import (
    Sender,
    client,
    event,
    new_topic,
    points,
    wait_applied,
    wait_for,
)

STEPS = 1000


def thin_events() -> list[ev.RunEvent]:
    out = [event("", ev.ExperimentCreated("thin", tags={"team": "ml"}), "1")]
    for r in range(3):
        run_id = f"thin-run-{r}"
        out.append(event(run_id, ev.RunCreated(start_time=10, run_name=f"run {r}", user_id="ada")))
        out.append(
            event(
                run_id,
                ev.ParamsLogged(
                    tuple(f"p{i}" for i in range(5)), tuple(str(r * i) for i in range(5))
                ),
            )
        )
        out.append(event(run_id, ev.TagsSet(("a", "b", "c"), ("1", "2", "3"))))
        for start in range(0, STEPS, 250):
            steps = [s for s in range(start, start + 250) for _ in (0, 1)]
            keys = ["loss", "acc"] * 250
            values = [
                1.0 / (s + 1) if k == "loss" else float(s) for s, k in zip(steps, keys, strict=True)
            ]
            out.append(event(run_id, points(keys, steps, values)))
        out.append(event(run_id, ev.ParamsLogged(("p0",), ("0",))))  # same value again: fine
        out.append(event(run_id, ev.TagDeleted("c")))
        out.append(event(run_id, ev.RunUpdated(status="FINISHED", end_time=99)))
    out.append(
        event(
            "thin-run-0", points(["odd", "odd", "odd"], [0, 1, 2], [math.nan, math.inf, -math.inf])
        )
    )
    return out


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return values


def test_thin_path(
    kafka_bootstrap: str,
    topic_prefix: str,
    make_settings: Callable[..., IngestSettings],
    free_ports,
) -> None:
    topic = new_topic(kafka_bootstrap, topic_prefix, 4)
    sender = Sender(kafka_bootstrap, topic)
    sender.send(thin_events())
    sender.close()
    [port] = free_ports(1)
    settings = make_settings(topic, metrics_port=port)
    with running(settings):
        c = client(settings.clickhouse, settings.database)
        ends = wait_applied(c, kafka_bootstrap, topic)

        runs = c.query(
            "SELECT run_id, status, end_time, run_name, user_id, experiment_id "
            "FROM runs FINAL ORDER BY run_id"
        ).result_rows
        assert runs == [(f"thin-run-{r}", "FINISHED", 99, f"run {r}", "ada", "1") for r in range(3)]
        params = c.query(
            "SELECT run_id, key, value FROM params FINAL ORDER BY run_id, key"
        ).result_rows
        assert len(params) == 15 and ("thin-run-2", "p4", "8") in params
        tags = c.query("SELECT run_id, key, value FROM tags FINAL ORDER BY run_id, key").result_rows
        assert tags == [
            (f"thin-run-{r}", k, v) for r in range(3) for k, v in (("a", "1"), ("b", "2"))
        ]
        assert c.query(
            "SELECT name FROM experiments FINAL WHERE experiment_id = '1'"
        ).result_rows == [("thin",)]
        assert c.query("SELECT key, value FROM experiment_tags FINAL").result_rows == [
            ("team", "ml")
        ]

        count, distinct = c.query(
            "SELECT count(), uniqExact(run_id, key, step) FROM metrics WHERE key != 'odd'"
        ).result_rows[0]
        assert count == distinct == 3 * 2 * STEPS
        latest = c.query(
            "SELECT run_id, key, max(latest), min(min_value), max(max_value), sum(count) "
            "FROM latest_metrics GROUP BY run_id, key ORDER BY run_id, key"
        ).result_rows
        assert latest[0] == ("thin-run-0", "acc", (999, 1000, 999.0), 0.0, 999.0, STEPS)
        assert latest[1] == ("thin-run-0", "loss", (999, 1000, 1.0 / 1000), 1.0 / 1000, 1.0, STEPS)
        odd = latest[2]
        assert odd[1] == "odd" and odd[2][0] == 2 and odd[2][2] == -math.inf
        assert (odd[3], odd[4], odd[5]) == (-math.inf, math.inf, 3)
        assert c.query(
            "SELECT countIf(isNaN(value)) FROM metrics WHERE key = 'odd'"
        ).result_rows == [(1,)]
        offsets = c.query(
            "SELECT partition, max(next_offset) FROM ingest_offsets GROUP BY partition"
        ).result_rows
        assert dict(offsets) == {p: o for p, o in ends.items() if o}

        total = 3 * 2 * STEPS + 3
        wait_for(lambda: scrape(port).get("runstream_ingest_points_total") == total, 20, "points")
        wait_for(lambda: scrape(port).get("runstream_ingest_consumer_lag", -1) == 0, 20, "lag 0")
        m = scrape(port)
        assert m["runstream_ingest_events_total"] == len(thin_events())
        assert m.get("runstream_ingest_dead_letters_total", 0) == 0
        assert m["runstream_ingest_insert_seconds_count"] > 0

    # a second worker of the same group resumes from ingest_offsets: nothing applied twice
    with running(settings) as again:
        sender = Sender(kafka_bootstrap, topic)
        sender.send([event("thin-run-1", ev.TagsSet(("d",), ("4",)))])
        sender.close()
        wait_applied(c, kafka_bootstrap, topic)
        assert again.metrics.events.labels(topic)._value.get() == 1
    assert c.query("SELECT sum(count) FROM latest_metrics").result_rows == [(3 * 2 * STEPS + 3,)]
    assert c.query("SELECT count() FROM metrics").result_rows == [(3 * 2 * STEPS + 3,)]
    c.close()
