"""runstream gc on a real broker and chDB: the purged runs and experiments leave every table,
later events of them are dropped, and a replay of the whole log into a fresh database does
not bring them back."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from runstream.infra.gc import GcError, GcPlan, collect, plan
from runstream.ingest import BatchSettings, IngestSettings, ReplaySettings, replay
from runstream.producer.kafka_transport import KafkaTransport
from runstream.producer.settings import KafkaOptions
from runstream.proto import events as ev
from runstream.query.clickhouse_store import ClickHouseStore
from runstream.query.views import VIEWS, ensure_views
from tests.integration.ingest.conftest import running
from tests.integration.ingest.workload import (
    DUMPS,
    Sender,
    canonical,
    client,
    dump,
    event,
    new_topic,
    points,
    wait_applied,
)

DAY_MS = 86_400_000
NOW = int(time.time() * 1000)
EXTRA_DUMPS = {
    "audit_events": "SELECT * FROM audit_events FINAL ORDER BY partition, offset",
    "purges": "SELECT * FROM purges FINAL ORDER BY kind, id",
}


def _events() -> list[ev.RunEvent]:
    out = [
        event("", ev.ExperimentCreated("keep"), "1"),
        event("", ev.ExperimentCreated("gone"), "2"),
    ]
    runs = [(f"keep-{i}", "1") for i in range(3)] + [("old-1", "1"), ("named-1", "1")]
    runs += [(f"exp2-{i}", "2") for i in range(3)]
    for run_id, exp in runs:
        out.append(event(run_id, ev.RunCreated(start_time=1, tags={"t": run_id}), exp))
        out.append(event(run_id, ev.ParamsLogged(("lr",), (run_id,)), exp))
        out.append(event(run_id, points(["loss"] * 50, list(range(50)), [0.5] * 50), exp))
        data = ev.DatasetInput("ds", run_id, "code", "{}", "{}", None, {})
        out.append(event(run_id, ev.InputsLogged((data,), ()), exp))
    out.append(event("old-1", ev.RunDeleted(deleted_time=NOW - 10 * DAY_MS), "1"))
    out.append(event("named-1", ev.RunDeleted(deleted_time=NOW), "1"))
    out.append(event("keep-2", ev.RunDeleted(deleted_time=NOW), "1"))  # recent: stays
    out.append(replace(event("", ev.ExperimentDeleted(), "2"), client_ts=NOW))  # recent
    return out


def _purged_ids_visible(c: Any, runs: set[str], experiments: set[str]) -> dict[str, int]:
    """Rows naming the purged ids, per table or view of the database (0 everywhere: gone)."""
    found: dict[str, int] = {}
    columns = c.query(
        "SELECT table, groupArray(name) FROM system.columns WHERE database = currentDatabase() "
        "AND name IN ('run_id', 'experiment_id') GROUP BY table"
    ).result_rows
    for table, names in columns:
        if table == "purges":
            continue  # the tombstones' ids are kept on purpose (docs/ingest.md)
        terms = []
        if "run_id" in names:
            terms.append("run_id IN {runs:Array(String)}")
        if "experiment_id" in names:
            terms.append("experiment_id IN {exps:Array(String)}")
        where = " OR ".join(terms)
        if table in ("audit_events", "audit_log"):
            where = f"({where}) AND event_type NOT IN ('RunPurged', 'ExperimentPurged')"
        n = c.command(
            f"SELECT count() FROM `{table}` WHERE {where}",
            parameters={"runs": sorted(runs), "exps": sorted(experiments)},
        )
        found[table] = int(n)
    return found


def test_gc_purges_from_every_table_and_replay_does_not_bring_them_back(
    kafka_bootstrap: str, topic_prefix: str, chdb_dsn: str, fresh_database: str
) -> None:
    topic = new_topic(kafka_bootstrap, topic_prefix, 4)
    sender = Sender(kafka_bootstrap, topic)
    sender.send(_events())
    sender.producer.flush()
    settings = IngestSettings(
        clickhouse=chdb_dsn, database=fresh_database, kafka=kafka_bootstrap, topic=topic,
        group=f"{topic}-group", batch=BatchSettings(max_points=300, max_interval_s=0.1),
        session_timeout_ms=6000,
    )  # fmt: skip
    store = ClickHouseStore(chdb_dsn, fresh_database, pool_size=1)
    transport = KafkaTransport(KafkaOptions(bootstrap=kafka_bootstrap, topic=topic))
    with running(settings):
        c = client(chdb_dsn, fresh_database)
        wait_applied(c, kafka_bootstrap, topic)
        assert ensure_views(store)  # the analysts' SQL views, as the query service makes them
        # what gc picks: deleted long enough ago, or named (and deleted); never active runs
        assert plan(store, older_than_days=5) == GcPlan((("old-1", "1"),), ())
        with pytest.raises(GcError, match="not deleted"):
            plan(store, run_ids=["keep-0"])
        with pytest.raises(GcError, match="no run"):
            plan(store, run_ids=["nope"])
        named = plan(store, run_ids=["named-1"], experiment_ids=["2"])
        assert named.experiments == ("2",)
        assert {r for r, _ in named.runs} == {"named-1", "exp2-0", "exp2-1", "exp2-2"}
        gone_runs = {"old-1", "named-1", "exp2-0", "exp2-1", "exp2-2"}
        before = _purged_ids_visible(c, gone_runs, {"2"})
        assert before["metrics"] == 250 and before["runs_wide"] == 5 and before["experiments"] == 1
        collect(transport, plan(store, older_than_days=5), "gc --older-than 5")
        collect(transport, named, "gc by id")
        # a late write to a purged run (the SDK straight to Kafka cannot know): dropped
        sender.send([event("old-1", ev.TagsSet(("late",), ("x",)), "1")])
        sender.producer.flush()
        wait_applied(c, kafka_bootstrap, topic)
        live = dump(c) | {n: canonical(c.query(q).result_rows) for n, q in EXTRA_DUMPS.items()}
        visible = _purged_ids_visible(c, gone_runs, {"2"})
        assert {"runs_wide", "metric_points", "audit_log"} <= set(visible) and set(VIEWS) & set(
            visible
        )
        assert set(visible.values()) == {0}, visible
        assert {r[0] for r in live["runs"]} == {"keep-0", "keep-1", "keep-2"}
        assert {r[0] for r in live["experiments"]} == {"0", "1"}
        assert len(live["metrics"]) == 150 and len(live["run_inputs"]) == 3
        assert {(r[0], r[1]) for r in live["purges"]} == {("run", r) for r in gone_runs} | {
            ("experiment", "2")
        }
        tombstones = [r for r in live["audit_events"] if r[6] in ("RunPurged", "ExperimentPurged")]
        assert len(tombstones) == 6  # who purged what stays in the audit trail
        dead = c.command(
            "SELECT count() FROM audit_events WHERE run_id = 'old-1' AND event_type = 'TagsSet'"
        )
        assert int(dead) == 0
        c.close()
    store.close()
    transport.close()

    rebuilt = f"{fresh_database}_replay"
    replay(
        ReplaySettings(
            database=rebuilt, clickhouse=chdb_dsn, kafka=kafka_bootstrap, topic=topic,
            batch=BatchSettings(max_points=50_000), progress=False,
        )
    )  # fmt: skip
    c = client(chdb_dsn, rebuilt)
    again = dump(c) | {n: canonical(c.query(q).result_rows) for n, q in EXTRA_DUMPS.items()}
    assert set(_purged_ids_visible(c, gone_runs, {"2"}).values()) == {0}
    for name in [*DUMPS, *EXTRA_DUMPS]:
        assert again[name] == live[name], name
    c.close()
