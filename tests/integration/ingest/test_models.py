"""The model registry on the real broker and chDB: version numbers from concurrent writers,
outcomes by event id, and state read back from the tables by a worker that starts cold."""

from __future__ import annotations

import threading
from collections.abc import Callable

from runstream.ingest import BatchSettings, IngestSettings
from runstream.proto import events as ev
from tests.integration.ingest.conftest import running
from tests.integration.ingest.workload import Sender, client, event, new_topic, wait_applied

WRITERS, VERSIONS = 8, 20


def test_concurrent_writers_get_dense_unique_version_numbers(
    kafka_bootstrap: str,
    topic_prefix: str,
    chdb_dsn: str,
    make_settings: Callable[..., IngestSettings],
) -> None:
    topic = new_topic(kafka_bootstrap, topic_prefix, 4)
    setup = Sender(kafka_bootstrap, topic)
    setup.send([event("", ev.RegisteredModelCreated("iris", tags={"k": "v"}), "")])
    setup.close()
    sent: dict[str, int] = {}  # event id -> writer
    lock = threading.Lock()

    def writer(w: int) -> None:
        # a producer of its own, as a process has: its own id, its own seq from 0
        sender = Sender(kafka_bootstrap, topic)
        for i in range(VERSIONS):
            payload = ev.ModelVersionCreated("iris", f"s3://m/{w}/{i}", tags={"w": str(w)})
            e = ev.RunEvent(ev.new_event_id(), "", "", f"writer-{w}", i, 1_000, payload)
            with lock:
                sent[e.event_id] = w
            sender.send([e])
        sender.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    settings = make_settings(topic, batch=BatchSettings(max_events=7, max_interval_s=0.05))
    # the first worker sees part of the log, the second starts cold: its registry state
    # comes from the tables (as of each batch's first offset)
    with running(settings):
        for t in threads[:4]:
            t.start()
        for t in threads[:4]:
            t.join(60)
        c = client(chdb_dsn, settings.database)
        wait_applied(c, kafka_bootstrap, topic)
    with running(settings):
        for t in threads[4:]:
            t.start()
        for t in threads[4:]:
            t.join(60)
        wait_applied(c, kafka_bootstrap, topic)
    outcomes = c.query(
        "SELECT event_id, error_code, model_version FROM write_outcomes FINAL WHERE name = 'iris'"
    ).result_rows
    numbers = {e: n for e, code, n in outcomes if code == "" and e in sent}
    assert len(numbers) == WRITERS * VERSIONS
    assert sorted(numbers.values()) == list(range(1, WRITERS * VERSIONS + 1))
    rows = c.query(
        "SELECT model_version, event_id, source FROM model_versions FINAL WHERE name = 'iris' "
        "ORDER BY model_version"
    ).result_rows
    assert [r[0] for r in rows] == list(range(1, WRITERS * VERSIONS + 1))
    # the number an event got is the one its row carries, and versions of one writer are in
    # the order it sent them (its events are in one partition, in order)
    assert all(numbers[event_id] == n for n, event_id, _ in rows)
    for w in range(WRITERS):
        mine = [n for n, event_id, _ in rows if sent[event_id] == w]
        sources = [s for n, event_id, s in rows if sent[event_id] == w]
        assert sources == [f"s3://m/{w}/{i}" for i in range(VERSIONS)] and mine == sorted(mine)
    (max_version,) = c.query(
        "SELECT max_version FROM registered_models FINAL WHERE name = 'iris'"
    ).result_rows[0]
    assert max_version == WRITERS * VERSIONS
    c.close()


def test_a_cold_worker_reads_the_registry_state_it_needs(
    kafka_bootstrap: str,
    topic_prefix: str,
    chdb_dsn: str,
    make_settings: Callable[..., IngestSettings],
) -> None:
    """Rename, delete, aliases and tags decided by a second worker from the tables."""
    topic = new_topic(kafka_bootstrap, topic_prefix, 2)
    settings = make_settings(topic, batch=BatchSettings(max_events=3, max_interval_s=0.05))
    first = [
        event("", ev.RegisteredModelCreated("a", "d", {"k": "v"}), ""),
        event("", ev.ModelVersionCreated("a", "s1", tags={"t": "1"}), ""),
        event("", ev.ModelVersionCreated("a", "s2"), ""),
        event("", ev.RegisteredModelAliasSet("a", "champion", 2), ""),
        event("", ev.RegisteredModelCreated("b"), ""),
    ]
    second = [
        event("", ev.RegisteredModelCreated("a"), ""),  # taken
        event("", ev.RegisteredModelRenamed("a", "b"), ""),  # taken
        event("", ev.RegisteredModelRenamed("a", "c"), ""),
        event("", ev.ModelVersionCreated("c", "s3"), ""),  # 3
        event("", ev.RegisteredModelDeleted("b"), ""),
        event("", ev.ModelVersionCreated("b", "s"), ""),  # gone
    ]
    for batch in (first, second):
        sender = Sender(kafka_bootstrap, topic)
        sender.send(batch)
        sender.close()
        with running(settings):  # a new worker each time: its cache starts empty
            c = client(chdb_dsn, settings.database)
            wait_applied(c, kafka_bootstrap, topic)
    got = dict(
        (r[0], (r[1], r[2]))
        for r in c.query(
            "SELECT event_id, error_code, model_version FROM write_outcomes FINAL"
        ).result_rows
    )
    assert [got[e.event_id] for e in second] == [
        ("RESOURCE_ALREADY_EXISTS", 0),
        ("RESOURCE_ALREADY_EXISTS", 0),
        ("", 0),
        ("", 3),
        ("", 0),
        ("RESOURCE_DOES_NOT_EXIST", 0),
    ]
    assert c.query("SELECT name FROM registered_models FINAL ORDER BY name").result_rows == [("c",)]
    assert c.query(
        "SELECT name, alias, model_version FROM registered_model_aliases FINAL"
    ).result_rows == [("c", "champion", 2)]
    assert c.query(
        "SELECT name, model_version, key, value FROM model_version_tags FINAL"
    ).result_rows == [("c", 1, "t", "1")]
    assert c.query(
        "SELECT model_version FROM model_versions FINAL WHERE name = 'c' ORDER BY model_version"
    ).result_rows == [(1,), (2,), (3,)]
    c.close()
