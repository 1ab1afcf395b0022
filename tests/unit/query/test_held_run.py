"""A run whose creation ingest holds unapplied, answered from the held events
(``query/held_run.py``): what the projection will apply of them, and nothing when unsure."""

from __future__ import annotations

import itertools

import pytest

from runstream.proto import events as ev
from runstream.proto.applied import AppliedFeed
from runstream.proto.pending import PendingRun
from runstream.query.entities import MetricPoint
from runstream.query.held_run import HeldRun, Verdict, held_run, verdict
from tests.fixtures.events import Polled
from tests.fixtures.events import metrics_logged as _points

RUN = "r" * 32
EXP = "7"
_seq = itertools.count(1)


def _event(
    payload: ev.Payload,
    run_id: str = RUN,
    experiment_id: str = EXP,
    producer: str = "p" * 32,
    seq: int | None = None,
) -> ev.RunEvent:
    """An event of one producer, each with the next seq unless given."""
    return ev.RunEvent(
        "e" * 32, run_id, experiment_id, producer, next(_seq) if seq is None else seq, 1, payload
    )


def _created(status: str = "RUNNING", **kw: object) -> ev.RunCreated:
    return ev.RunCreated(
        start_time=5, run_name="n", user_id="u", status=status, artifact_uri="file:/a", **kw
    )  # type: ignore[arg-type]


def _feed(*events: ev.RunEvent, first: int = 10) -> AppliedFeed:
    feed = AppliedFeed("events")
    feed.hold([Polled(0, first + i, e) for i, e in enumerate(events)])
    return feed


def _held(feed: AppliedFeed, run_id: str = RUN) -> HeldRun | None:
    return held_run(feed.pending.snapshot(run_id))


def test_the_run_as_the_projection_will_create_it_from_its_held_events() -> None:
    feed = _feed(
        _event(_points([("loss", 0, 1, 9.0)])),  # before its creation: refused by ingest
        _event(_created(tags={"t": "1"})),
        _event(ev.ParamsLogged(("lr", "layers"), ("0.1", "4"))),
        _event(ev.ParamsLogged(("lr",), ("0.2",))),  # a conflict: the first value stays
        _event(ev.TagsSet(("phase", "t"), ("warmup", "2"))),
        _event(ev.TagDeleted("phase")),
        _event(_points([("loss", 2, 12, 2.5), ("loss", 1, 11, 2.0), ("acc", 0, 10, 0.25)])),
        _event(ev.RunUpdated(status="FINISHED", end_time=99, run_name="m")),
    )
    held = _held(feed)
    assert held is not None
    info = held.run.info
    assert (info.run_id, info.experiment_id, info.run_name, info.user_id) == (RUN, EXP, "m", "u")
    assert (info.status, info.start_time, info.end_time) == ("FINISHED", 5, 99)
    assert (info.artifact_uri, info.lifecycle_stage) == ("file:/a", "active")
    assert held.run.params == {"lr": "0.1", "layers": "4"}
    assert held.run.tags == {"t": "2"}
    assert held.run.metrics == (MetricPoint("acc", 0.25, 10, 0), MetricPoint("loss", 2.5, 12, 2))
    assert (held.partition, held.offset, held.producer_id) == (0, 11, "p" * 32)
    assert held.experiment is None  # the experiment's creation is not held


def test_later_events_the_projection_refuses_or_drops_are_left_out() -> None:
    created = _event(_created())
    feed = _feed(
        created,
        _event(_points([("loss", 1, 1, 1.0)]), experiment_id="8"),  # another experiment's
        _event(ev.RunUpdated(status="BOGUS")),  # an unknown status
        _event(ev.ParamsLogged(("a", "b"), ("1",))),  # lengths differ
        _event(ev.TagsSet(("x",), ("1",)), seq=created.seq),  # a resend (seq not above)
    )
    held = _held(feed)
    assert held is not None
    assert held.run.metrics == () and held.run.params == {} and held.run.tags == {}
    assert held.run.info.status == "RUNNING"
    # A record whose key is not the event's is refused too.
    feed = AppliedFeed("events")
    feed.hold([Polled(0, 1, _event(_created())), Polled(0, 2, _event(ev.TagDeleted("x")), b"k")])
    feed.hold([Polled(0, 3, _event(ev.TagsSet(("x",), ("1",))), b"other")])
    held = _held(feed)
    assert held is not None and held.run.tags == {}


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([_event(_created(status="BOGUS"))], id="unknown status"),
        pytest.param([_event(_created(), experiment_id="")], id="no experiment id"),
        pytest.param([_event(_created()), _event(ev.RunDeleted())], id="deletion held after it"),
        pytest.param([_event(_created()), _event(ev.RunPurged())], id="purge held after it"),
        pytest.param([_event(_created()), _event(_created())], id="created twice"),
        pytest.param([_event(_created()), _event(ev.InputsLogged())], id="inputs not modelled"),
        pytest.param(
            [_event(_created()), _event(ev.ExperimentDeleted(), run_id="")],
            id="its experiment's deletion held",
        ),
        pytest.param(
            [_event(ev.ExperimentPurged(), run_id=""), _event(_created())],
            id="its experiment's purge held",
        ),
    ],
)
def test_nothing_when_ingest_may_not_apply_it_as_answered(events: list[ev.RunEvent]) -> None:
    assert _held(_feed(*events)) is None


def test_a_key_that_is_not_the_events_refuses_the_creation() -> None:
    feed = AppliedFeed("events")
    feed.hold([Polled(0, 1, _event(_created()), b"not-the-run")])
    assert _held(feed) is None


def test_nothing_once_the_creation_is_applied_or_its_partition_released() -> None:
    feed = _feed(_event(_created()), _event(_points([("loss", 1, 1, 1.0)])), first=10)
    assert _held(feed) is not None
    feed.publish({0: 11})  # the RunCreated applied: the tables answer from now on
    snap = feed.pending.snapshot(RUN)
    assert snap.created == () and held_run(snap) is None
    assert snap.latest(EXP) == {"loss": (1, 1, 1.0)}  # the point still pending is merged
    feed = _feed(_event(_created()))
    feed.release([0])
    assert _held(feed) is None
    assert held_run(PendingRun(())) is None


def test_a_held_experiment_creation_gives_the_facts_of_its_experiment() -> None:
    make = ev.RunEvent("e" * 32, "", EXP, "q" * 32, 1, 1, ev.ExperimentCreated("exp-a"), "ann")
    feed = _feed(make, _event(_created()))
    held = _held(feed)
    assert held is not None and held.experiment is not None
    assert (held.experiment.name, held.experiment.created_by) == ("exp-a", "ann")
    feed.publish({0: 11})  # the experiment applied, the run not yet
    held = _held(feed)
    assert held is not None and held.experiment is None


H, T, N = Verdict.HELD, Verdict.TABLES, Verdict.NONE


@pytest.mark.parametrize(
    ("row", "held_experiment", "expected"),
    [
        ((1, 1, 0, 0, 0, 0, 0), False, H),  # experiment active in the tables
        ((0, 1, 0, 0, 0, 0, 0), False, N),  # deleted
        ((1, 1, 0, 1, 0, 0, 0), False, N),  # purged
        ((0, 0, 0, 0, 0, 0, 0), False, N),  # unknown, its creation not held
        ((0, 0, 0, 1, 0, 0, 0), True, H),  # unknown (purged): a held creation lifts the purge
        ((0, 1, 0, 0, 0, 0, 0), True, N),  # known and deleted: a held creation is refused
        ((1, 1, 1, 0, 0, 0, 0), False, N),  # the run is purged
        ((1, 1, 0, 0, 1, 0, 0), False, N),  # the RunCreated is a resend
        ((1, 1, 0, 0, 0, 0, 1), False, T),  # an older run of that id: refused, the tables
        ((1, 1, 0, 0, 0, 1, 1), False, H),  # applied (its batch being written): the events
        ((0, 0, 0, 0, 0, 1, 0), True, H),  # audited, the rest not written yet
    ],
)
def test_what_the_tables_say(
    row: tuple[int, ...], held_experiment: bool, expected: Verdict
) -> None:
    events = [_event(_created())]
    if held_experiment:
        events.insert(0, _event(ev.ExperimentCreated("x"), run_id=""))
    held = _held(_feed(*events))
    assert held is not None and (held.experiment is not None) == held_experiment
    assert verdict(held, row) is expected
