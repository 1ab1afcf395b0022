"""Replay from offset 0 into a fresh database gives tables equal to the live ones."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from runstream.ingest import BatchSettings, IngestSettings, ReplayError, ReplaySettings, replay
from runstream.proto import events as ev
from tests.integration.ingest.conftest import running
from tests.integration.ingest.workload import (
    Sender,
    client,
    dump,
    event,
    new_topic,
    points,
    wait_applied,
)


def mixed_events(seed: int = 11) -> list[ev.RunEvent]:
    rnd = random.Random(seed)
    out = [
        event("", ev.ExperimentCreated("e1", tags={"a": "1"}), "1"),
        event("", ev.ExperimentCreated("e2"), "2"),
    ]
    out += [
        event("", ev.ExperimentRenamed("e1b"), "1"),
        event("", ev.ExperimentTagSet("b", "2"), "1"),
    ]
    runs = [(f"mix-{i}", "1" if i % 2 else "2") for i in range(12)]
    for run_id, exp in runs:
        out.append(event(run_id, ev.RunCreated(start_time=i_of(run_id), tags={"src": "x"}), exp))
    for round_ in range(6):
        for run_id, exp in runs:
            keys = [rnd.choice(["loss", "acc", "lr"]) for _ in range(200)]
            steps = [
                round_ * 100 + rnd.randrange(100) for _ in keys
            ]  # repeats: identical points collapse
            values = [rnd.choice([0.5, 1.5, math.nan, math.inf, float(s)]) for s in steps]
            out.append(event(run_id, points(keys, steps, values, ts=1000 + round_), exp))
            if rnd.random() < 0.3:
                out.append(event(run_id, ev.ParamsLogged((f"p{round_}",), (str(round_),)), exp))
            if rnd.random() < 0.3:
                out.append(event(run_id, ev.TagsSet(("t",), (str(round_),)), exp))
            if rnd.random() < 0.1:
                out.append(event(run_id, ev.TagDeleted("src"), exp))
    for run_id, exp in runs[:4]:
        out.append(event(run_id, ev.RunUpdated(status="FINISHED", end_time=7), exp))
    out.append(event(runs[5][0], ev.RunDeleted(deleted_time=9), runs[5][1]))
    out.append(
        event(runs[5][0], ev.ParamsLogged(("p0",), ("changed",)), runs[5][1])
    )  # maybe a conflict
    out.append(event("", ev.ExperimentDeleted(), "2"))
    return out + model_events(runs[0][0], runs[0][1], rnd)


def model_events(run_id: str, exp: str, rnd: random.Random) -> list[ev.RunEvent]:
    """The model half: a registry with versions, aliases, stages, a rename and a delete;
    a logged model with tags, params and metrics; a run's datasets and outputs."""
    out = [event("", ev.RegisteredModelCreated(n, tags={"team": n}), "") for n in "abc"]
    for i in range(30):
        name = rnd.choice("abc")
        out.append(
            event("", ev.ModelVersionCreated(name, f"s3://m/{i}", run_id, tags={"i": str(i)}), "")
        )
        if rnd.random() < 0.3:
            out.append(
                event("", ev.RegisteredModelAliasSet(name, "champion", rnd.randint(1, 6)), "")
            )
        if rnd.random() < 0.3:
            out.append(
                event(
                    "",
                    ev.ModelVersionStageTransitioned(name, rnd.randint(1, 6), "Production", True),
                    "",
                )
            )
        if rnd.random() < 0.1:
            out.append(event("", ev.ModelVersionDeleted(name, rnd.randint(1, 6)), ""))
    out.append(event("", ev.RegisteredModelRenamed("a", "a2"), ""))
    out.append(event("", ev.RegisteredModelDeleted("b"), ""))
    out.append(event("", ev.RegisteredModelCreated("b"), ""))
    out.append(event("", ev.ModelVersionCreated("b", "s3://again"), ""))
    model = "m-" + "1" * 32
    out.append(
        event(
            "",
            ev.LoggedModelCreated(
                model, "model", "file:///x", run_id, "sk", {"t": "1"}, {"p": "2"}
            ),
            exp,
        )
    )
    out.append(event("", ev.LoggedModelFinalized(model, "READY"), exp))
    out.append(event("", ev.LoggedModelTagsSet(model, {"u": "v"}), exp))
    data = ev.DatasetInput(
        "iris",
        "abc123",
        "code",
        "{}",
        '{"mlflow_colspec": []}',
        None,
        {"mlflow.data.context": "train"},
    )
    out.append(event(run_id, ev.InputsLogged((data,), ()), exp))
    out.append(event(run_id, ev.OutputsLogged((model,), (0,)), exp))
    pts = tuple(
        ev.ModelMetricPoint("acc", 0.5 + i / 10, 1000 + i, i, model, "iris", "abc123")
        for i in range(3)
    )
    out.append(event(run_id, ev.ModelMetricsLogged(pts), exp))
    return out


def i_of(run_id: str) -> int:
    return int(run_id.split("-")[1])


def test_replay_equals_live(
    kafka_bootstrap: str,
    topic_prefix: str,
    chdb_dsn: str,
    make_settings: Callable[..., IngestSettings],
) -> None:
    topic = new_topic(kafka_bootstrap, topic_prefix, 4)
    sender = Sender(kafka_bootstrap, topic)
    sender.send(mixed_events())
    sender.close()
    # small live batches, large replay batches: different boundaries, same tables
    settings = make_settings(topic, batch=BatchSettings(max_points=700, max_interval_s=0.05))
    with running(settings) as worker:
        c = client(chdb_dsn, settings.database)
        ends = wait_applied(c, kafka_bootstrap, topic)
    live = dump(c)
    c.close()
    assert worker.metrics.batches.labels(topic)._value.get() >= 12  # many small batches
    assert len(live["metrics"]) > 5000 and len(live["runs"]) == 12
    assert len(live["model_versions"]) > 20 and len(live["run_inputs"]) == 1
    assert {r[0] for r in live["registered_models"]} == {"a2", "b", "c"}

    rebuilt = f"{settings.database}_replay"
    target = ReplaySettings(
        database=rebuilt, clickhouse=chdb_dsn, kafka=kafka_bootstrap, topic=topic,
        batch=BatchSettings(max_points=50_000), progress=False,
    )  # fmt: skip
    result = replay(target)
    assert result.end_offsets == {p: o for p, o in ends.items()} | {
        p: 0 for p in range(4) if p not in ends
    }
    c = client(chdb_dsn, rebuilt)
    assert dump(c) == live

    with pytest.raises(ReplayError):
        replay(target)  # not a fresh database
    again = replay(ReplaySettings(**{**target.__dict__, "resume": True}))
    assert again.events == 0 and dump(c) == live
    c.close()
