"""SDK -> a real Kafka broker: what lands on the topic decodes, is keyed by run id, and keeps
each producer's order."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import numpy as np

from runstream.producer import RunstreamClient
from runstream.proto import events as ev
from runstream.proto.vocabulary import experiment_id_for_name
from tests.integration.producer.topic import points, read_topic, unique_events


def test_events_land_decoded_keyed_by_run_and_in_order(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.producer.{uuid.uuid4().hex[:8]}"
    with RunstreamClient(f"kafka://{kafka_bootstrap}", topic=topic, linger_ms=20) as client:
        eid = client.create_experiment("integration")
        runs = [client.create_run(eid, run_name=f"r{i}") for i in range(3)]
        for run in runs:
            client.log_params(run.run_id, {"lr": 0.01, "layers": 4})
            client.set_tags(run.run_id, {"team": "a", "kind": "b"})
            for step in range(1000):
                client.log_metric(run.run_id, "loss", 1.0 / (step + 1), step=step)
            client.log_metric_columns(run.run_id, "acc", np.linspace(0, 1, 1000), np.arange(1000))
            client.log_metric(run.run_id, "nan", float("nan"))
            client.log_metric(run.run_id, "inf", float("-inf"))
            client.set_terminated(run.run_id, "FINISHED")
        token = client.flush()
    records = read_topic(kafka_bootstrap, topic)
    assert token.topic == topic
    for partition, offset in token.offsets:  # the token points at the last offsets
        assert offset == max(r.offset for r in records if r.partition == partition)
    events = [r.event for r in records]
    assert {e.producer_id for e in events} == {client.producer_id}
    assert sorted(e.seq for e in events) == list(range(len(events)))
    for r in records:
        assert r.key == r.event.kafka_key
        assert r.key == (r.event.run_id.encode() or f"experiment:{eid}".encode())
    for run in runs:
        mine = sorted((r.offset, r.event) for r in records if r.event.run_id == run.run_id)
        seqs = [e.seq for _, e in mine]
        assert seqs == sorted(seqs)  # per-run order kept on the partition
        kinds = [type(e.payload).__name__ for _, e in mine]
        assert kinds[0] == "RunCreated" and kinds[-1] == "RunUpdated"
        created = mine[0][1].payload
        assert created.tags["mlflow.runName"] == created.run_name
        metrics = [e.payload for _, e in mine if isinstance(e.payload, ev.MetricsLogged)]
        keys = [k for m in metrics for k in m.key_column()]
        assert keys.count("loss") == 1000 and keys.count("acc") == 1000
        values = np.concatenate([m.values for m in metrics])
        assert np.isnan(values).sum() == 1 and np.isneginf(values).sum() == 1
        assert {e.experiment_id for _, e in mine} == {eid}


def test_interpreter_exit_flushes_what_is_buffered(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}.producer.{uuid.uuid4().hex[:8]}"
    script = textwrap.dedent(f"""
        import runstream.producer as rs
        rs.set_uri("kafka://{kafka_bootstrap}", topic="{topic}", linger_ms=60000)
        rs.set_experiment("exit")
        run = rs.start_run()
        for step in range(20000):
            rs.log_metric("loss", step * 0.5, step=step)
        # no end_run, no flush, no close: the exit hook does it
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    events = unique_events(read_topic(kafka_bootstrap, topic))
    assert sum(len(pts) for pts in points(events).values()) == 20000
    ended = [e.payload for e in events if isinstance(e.payload, ev.RunUpdated)]
    assert [u.status for u in ended] == ["FINISHED"]


def test_an_uncaught_exception_fails_the_run_at_exit(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.producer.{uuid.uuid4().hex[:8]}"
    script = textwrap.dedent(f"""
        import runstream.producer as rs
        rs.set_uri("kafka://{kafka_bootstrap}", topic="{topic}")
        rs.start_run()
        rs.log_metric("x", 1.0)
        raise SystemError("training crashed")
    """)
    done = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True)
    assert done.returncode == 1
    events = unique_events(read_topic(kafka_bootstrap, topic))
    ended = [e.payload.status for e in events if isinstance(e.payload, ev.RunUpdated)]
    assert ended == ["FAILED"]
    assert experiment_id_for_name("Default") == "0"
