"""Poison between good events: each in the dead-letter topic with its reason and origin;
every good event in the tables; the partition keeps moving."""

from __future__ import annotations

from collections.abc import Callable

from runstream.ingest import IngestSettings
from runstream.proto import events as ev
from runstream.proto.codec import MAGIC
from tests.integration.ingest.conftest import running
from tests.integration.ingest.workload import (
    CODEC,
    Sender,
    client,
    event,
    new_topic,
    points,
    read_all,
    wait_applied,
)


def test_poison_goes_to_the_dead_letter_topic(
    kafka_bootstrap: str, topic_prefix: str, make_settings: Callable[..., IngestSettings]
) -> None:
    topic = new_topic(kafka_bootstrap, topic_prefix, 1)
    good_run = event("dl-run", ev.RunCreated(start_time=1))
    unknown_schema = MAGIC + b"\x13" * 8 + CODEC.encode(good_run)[10:]
    sender = Sender(kafka_bootstrap, topic)
    sender.send([good_run, event("dl-run", ev.ParamsLogged(("lr",), ("0.1",)))])  # offsets 0, 1
    sender.raw(b"dl-run", b"not avro at all")  # 2
    sender.send([event("dl-run", points(["loss"] * 3, [0, 1, 2], [3.0, 2.0, 1.0]))])  # 3
    sender.raw(b"dl-run", unknown_schema)  # 4
    sender.send([event("dl-run", ev.ParamsLogged(("lr",), ("0.2",)))])  # 5: conflict
    sender.send([event("dl-run", ev.TagsSet(("t",), ("x",)))])  # 6
    sender.send([event("ghost-run", points(["loss"], [0], [1.0]))])  # 7: run never created
    sender.send([event("dl-run", points(["loss"], [9], [0.5]), experiment_id="42")])  # 8
    sender.send([event("dl-run", points(["loss"], [3], [0.5]))])  # 9
    sender.close()
    settings = make_settings(topic)
    with running(settings) as worker:
        c = client(settings.clickhouse, settings.database)
        wait_applied(c, kafka_bootstrap, topic)
        assert c.query("SELECT value FROM params").result_rows == [("0.1",)]
        assert c.query("SELECT key, value FROM tags FINAL").result_rows == [("t", "x")]
        assert c.query("SELECT count(), sum(value) FROM metrics").result_rows == [(4, 6.5)]
        assert c.query("SELECT sum(count), max(latest) FROM latest_metrics").result_rows == [
            (4, (3, 1000, 0.5))
        ]
        c.close()
        letters = read_all(kafka_bootstrap, settings.dead_letter_topic)
        counted = worker.metrics.dead_letters
        assert (
            sum(
                counted.labels(topic, r)._value.get()
                for r in (
                    "decode-error",
                    "unknown-schema",
                    "param-conflict",
                    "run-not-found",
                    "experiment-mismatch",
                )
            )
            == 5
        )
    found = {}
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        assert headers["runstream-origin-topic"] == topic
        assert headers["runstream-origin-partition"] == "0"
        found[int(headers["runstream-origin-offset"])] = (
            headers["runstream-reason"],
            letter.key,
            letter.value,
        )
    assert {o: r for o, (r, _, _) in found.items()} == {
        2: "decode-error",
        4: "unknown-schema",
        5: "param-conflict",
        7: "run-not-found",
        8: "experiment-mismatch",
    }
    assert found[2][1:] == (b"dl-run", b"not avro at all")
    assert found[4][2] == unknown_schema
