"""The Default experiment is seeded by migration 0001 with ``version`` 0, the field that
records the offset of the last event applied to a row.  The first event of its partition
sits at offset 0, so without care it read as "already applied" and was dropped, silently:
a tag set on Default as the first experiment event of a fresh log was lost.  Real broker,
real chDB."""

from __future__ import annotations

from collections.abc import Callable

from runstream.ingest import IngestSettings
from runstream.proto import events as ev
from runstream.proto.vocabulary import DEFAULT_EXPERIMENT_ID
from tests.integration.ingest.conftest import running
from tests.integration.ingest.workload import Sender, client, event, new_topic, wait_applied


def test_the_first_event_of_the_default_experiment_is_applied(
    kafka_bootstrap: str, topic_prefix: str, make_settings: Callable[..., IngestSettings]
) -> None:
    topic = new_topic(kafka_bootstrap, topic_prefix, 1)
    sender = Sender(kafka_bootstrap, topic)
    sender.send(
        [
            event("", ev.ExperimentTagSet("team", "vision"), DEFAULT_EXPERIMENT_ID),  # offset 0
            event("", ev.ExperimentTagSet("owner", "ana"), DEFAULT_EXPERIMENT_ID),  # offset 1
        ]
    )
    sender.close()
    settings = make_settings(topic)
    with running(settings):
        c = client(settings.clickhouse, settings.database)
        wait_applied(c, kafka_bootstrap, topic)
        tags = c.query(
            "SELECT key, value FROM experiment_tags FINAL WHERE experiment_id = {e:String} "
            "AND NOT is_deleted ORDER BY key",
            {"e": DEFAULT_EXPERIMENT_ID},
        ).result_rows
        assert tags == [("owner", "ana"), ("team", "vision")]
        (version,) = c.query(
            "SELECT version FROM experiments FINAL WHERE experiment_id = {e:String}",
            {"e": DEFAULT_EXPERIMENT_ID},
        ).result_rows[0]
        assert version == 1  # both applied; a redelivery of either is skipped from here on
        c.close()
