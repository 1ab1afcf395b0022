"""Issue 11, item 5, where the edge cannot check (the SDK straight to Kafka): a conflicting
param is dead-lettered alone (the other params of its event land), and writes to a deleted
run are dead-lettered as ``run-deleted`` and not applied.  Real broker, real chDB."""

from __future__ import annotations

from collections.abc import Callable

from runstream.ingest import IngestSettings
from runstream.proto import events as ev
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


def test_only_the_conflict_is_refused_and_a_deleted_run_takes_no_writes(
    kafka_bootstrap: str, topic_prefix: str, make_settings: Callable[..., IngestSettings]
) -> None:
    topic = new_topic(kafka_bootstrap, topic_prefix, 1)
    run, gone = "refusal-run", "deleted-run"
    sender = Sender(kafka_bootstrap, topic)
    sender.send(
        [
            event(run, ev.RunCreated(start_time=1)),  # 0
            event(run, ev.ParamsLogged(("lr",), ("0.1",))),  # 1
            event(run, ev.ParamsLogged(("lr", "bs", "opt"), ("0.2", "32", "adam"))),  # 2
            event(gone, ev.RunCreated(start_time=1)),  # 3
            event(gone, points(["loss"], [0], [1.0])),  # 4: applied
            event(gone, ev.RunDeleted(deleted_time=5)),  # 5
            event(gone, points(["loss"], [1], [2.0])),  # 6: refused
            event(gone, ev.ParamsLogged(("p",), ("1",))),  # 7: refused
            event(gone, ev.TagsSet(("t",), ("v",))),  # 8: refused
            event(gone, ev.RunUpdated(status="FINISHED")),  # 9: refused
            event(gone, ev.RunRestored()),  # 10
            event(gone, points(["loss"], [2], [4.0])),  # 11: applied
        ]
    )
    sender.close()
    settings = make_settings(topic)
    with running(settings):
        c = client(settings.clickhouse, settings.database)
        wait_applied(c, kafka_bootstrap, topic)
        params = c.query("SELECT run_id, key, value FROM params ORDER BY key").result_rows
        assert params == [(run, "bs", "32"), (run, "lr", "0.1"), (run, "opt", "adam")]
        metrics = c.query(
            "SELECT step, value FROM metrics WHERE run_id = {r:String} ORDER BY step", {"r": gone}
        ).result_rows
        assert metrics == [(0, 1.0), (2, 4.0)]
        assert c.query(
            "SELECT count() FROM tags WHERE run_id = {r:String}", {"r": gone}
        ).result_rows == [(0,)]
        state = c.query(
            "SELECT status, lifecycle_stage FROM runs FINAL WHERE run_id = {r:String}", {"r": gone}
        ).result_rows
        assert state == [("RUNNING", "active")]
        c.close()
    letters = {}
    for letter in read_all(kafka_bootstrap, settings.dead_letter_topic):
        headers = {k: v.decode() for k, v in letter.headers}
        letters[int(headers["runstream-origin-offset"])] = (headers["runstream-reason"], letter)
    assert {o: r for o, (r, _) in letters.items()} == {
        2: "param-conflict",
        6: "run-deleted",
        7: "run-deleted",
        8: "run-deleted",
        9: "run-deleted",
    }
    refused = CODEC.decode(letters[2][1].value)
    assert refused.payload == ev.ParamsLogged(("lr",), ("0.2",))  # the conflict alone
