"""Issue 11, item 3, at the cause: an event the sender cannot encode is dropped alone.

Validation refuses lone surrogates at the call (tests/unit/producer/test_hostile_strings.py);
here an event that slipped past it is put straight into the pipeline, in the same sender
cycle as another run's points, against a real broker.  Before: the whole cycle (5,000
points of the other run) was lost, and flush() sometimes reported success.  Now: flush()
raises naming the dropped event, and every other event is on the topic."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from runstream.producer import ProducerError, RunstreamClient
from runstream.proto import events as ev
from tests.integration.producer.topic import points, read_topic, unique_events


def test_an_unencodable_event_takes_nothing_else_with_it(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.unencodable.{uuid.uuid4().hex[:8]}"
    client = RunstreamClient(
        f"kafka://{kafka_bootstrap}", topic=topic, linger_ms=60_000, batch_points=10**6
    )
    rounds = 4
    try:
        victims = []
        for _ in range(rounds):
            bad = client.create_run("0")
            other = client.create_run("0")
            victims.append(other.run_id)
            client.flush()
            # one cycle: the bad event between the other run's points
            for step in range(2500):
                client.log_metric(other.run_id, "loss", float(step), step=step)
            client._pipeline.put_event(  # bypasses validation, as a bug would
                bad.run_id, "0", ev.ParamsLogged(("p",), ("a\ud800b",))
            )
            for step in range(2500, 5000):
                client.log_metric(other.run_id, "loss", float(step), step=step)
            client.log_param(other.run_id, "lr", "0.1")
            with pytest.raises(ProducerError) as info:
                client.flush()
            text = str(info.value)
            assert "ParamsLogged" in text and bad.run_id in text and "dropped" in text
        client.flush()  # nothing else is pending or failed
    finally:
        client.close()
    events = unique_events(read_topic(kafka_bootstrap, topic))
    assert not any(isinstance(e.payload, ev.ParamsLogged) and "p" in e.payload.keys for e in events)
    for run_id in victims:
        mine = [e for e in events if e.run_id == run_id]
        steps = points(mine)[client.producer_id][:, 0]
        assert np.array_equal(np.sort(steps), np.arange(5000))
        params = [e.payload for e in mine if isinstance(e.payload, ev.ParamsLogged)]
        assert [(p.keys, p.values) for p in params] == [(("lr",), ("0.1",))]
