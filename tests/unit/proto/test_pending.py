"""Pending (polled, unapplied) metric points: held per run, dropped once applied, and
their latest point by the rule ingest's summaries use."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from runstream.ingest.metric_columns import summarise
from runstream.proto import events as ev
from runstream.proto.applied import AppliedFeed
from runstream.proto.pending import PendingPoints, later
from runstream.query.entities import MetricPoint, Run, RunInfo
from runstream.query.pending_merge import merge_pending, with_pending
from tests.fixtures.events import Polled, run_event
from tests.fixtures.events import metrics_logged as _points

RUN = "r" * 32


def _event(payload: ev.Payload, run_id: str = RUN, experiment_id: str = "7") -> ev.RunEvent:
    return run_event(payload, run_id, experiment_id)


def _run(stage: str = "active", metrics: tuple[MetricPoint, ...] = ()) -> Run:
    info = RunInfo(RUN, "7", "n", "u", "RUNNING", 1, None, "file:/a", stage)
    return Run(info, metrics)


def test_held_points_show_until_their_offsets_are_applied() -> None:
    feed = AppliedFeed("events")
    feed.hold([Polled(0, 5, _event(_points([("loss", 1, 10, 0.5)])))])
    feed.hold([Polled(0, 6, _event(_points([("loss", 2, 11, 0.4), ("acc", 2, 11, 0.9)])))])
    assert feed.pending.snapshot(RUN).latest("7") == {"loss": (2, 11, 0.4), "acc": (2, 11, 0.9)}
    feed.publish({0: 6})  # offset 5 applied, 6 not yet
    assert feed.pending.snapshot(RUN).latest("7") == {"loss": (2, 11, 0.4), "acc": (2, 11, 0.9)}
    assert len(feed.pending) == 1
    feed.publish({0: 7})
    assert len(feed.pending) == 0 and feed.pending.snapshot(RUN).entries == ()
    # A record below what is applied (a re-poll after a rebalance) is not held.
    feed.hold([Polled(0, 6, _event(_points([("loss", 9, 9, 9.0)])))])
    assert len(feed.pending) == 0


def test_a_record_polled_again_is_held_once() -> None:
    """After a failed write the worker seeks back and polls the same records again: a
    stalled ingest that retries must not grow what is held."""
    feed = AppliedFeed("events")
    polled = [Polled(0, o, _event(_points([("loss", o, o, float(o))]))) for o in range(3)]
    for _ in range(5):
        feed.hold(polled)
    assert len(feed.pending) == 3
    assert feed.pending.snapshot(RUN).latest("7") == {"loss": (2, 2, 2.0)}
    feed.release([0])  # revoked, then assigned again: held anew
    feed.hold(polled)
    assert len(feed.pending) == 3


def test_a_revoked_partition_is_forgotten_and_other_events_are_not_held() -> None:
    feed = AppliedFeed("events")
    feed.hold(
        [
            Polled(0, 1, _event(_points([("loss", 1, 1, 1.0)]))),
            Polled(1, 1, _event(_points([("loss", 0, 1, 2.0)]), run_id="s" * 32)),
            Polled(1, 2, _event(ev.TagsSet(("a",), ("b",)), run_id="s" * 32)),
            Polled(1, 3, None),  # poison
        ]
    )
    assert len(feed.pending) == 2
    feed.release([0])
    assert feed.pending.snapshot(RUN).entries == ()
    assert feed.pending.snapshot("s" * 32).latest("7") == {"loss": (0, 1, 2.0)}


def test_a_pending_lifecycle_event_or_another_experiment_shows_nothing() -> None:
    feed = AppliedFeed("events")
    feed.hold([Polled(0, 1, _event(_points([("loss", 1, 1, 1.0)]), experiment_id="8"))])
    assert feed.pending.snapshot(RUN).latest("7") == {}  # ingest refuses a mismatch
    feed.hold([Polled(0, 2, _event(_points([("loss", 2, 1, 2.0)])))])
    assert feed.pending.snapshot(RUN).latest("7") == {"loss": (2, 1, 2.0)}
    feed.hold([Polled(0, 3, _event(ev.RunDeleted(5)))])
    assert feed.pending.snapshot(RUN).latest("7") == {}
    feed.publish({0: 4})
    assert len(feed.pending) == 0


def test_merge_keeps_the_later_point_and_only_into_an_active_run() -> None:
    tables = (MetricPoint("loss", 0.3, 20, 5), MetricPoint("acc", 0.8, 9, 1))
    merged = merge_pending(_run(metrics=tables), {"loss": (4, 30, 0.1), "acc": (2, 1, 0.7)})
    assert {m.key: (m.step, m.value) for m in merged.metrics} == {
        "loss": (5, 0.3),  # the tables' step 5 is later than the pending step 4
        "acc": (2, 0.7),
    }
    feed = AppliedFeed("events")
    feed.hold([Polled(0, 1, _event(_points([("new", 1, 1, 1.0)])))])
    pending = feed.pending.snapshot(RUN)
    assert [m.key for m in with_pending(_run(), pending).metrics] == ["new"]
    assert with_pending(_run("deleted"), pending).metrics == ()


def test_a_search_takes_the_runs_whose_points_may_be_merged() -> None:
    """``metric_runs``: runs with metric events of the searched experiments and no pending
    lifecycle event (those get nothing merged: the search reads them from the tables)."""
    feed = AppliedFeed("events")
    other, blocked = "s" * 32, "b" * 32
    feed.hold(
        [
            Polled(0, 1, _event(_points([("loss", 1, 1, 1.0)]))),
            Polled(0, 2, _event(_points([("loss", 1, 1, 1.0)]), other, experiment_id="8")),
            Polled(0, 3, _event(_points([("loss", 1, 1, 1.0)]), blocked)),
            Polled(0, 4, _event(ev.RunRestored(), blocked)),
            Polled(0, 5, _event(ev.TagsSet(("a",), ("b",)), "t" * 32)),
        ]
    )
    assert set(feed.pending.metric_runs()) == {RUN, other}
    assert set(feed.pending.metric_runs(["7"])) == {RUN}
    assert set(feed.pending.metric_runs(["8", "9"])) == {other}
    assert feed.pending.metric_runs(["7"])[RUN].latest("7") == {"loss": (1, 1, 1.0)}
    feed.publish({0: 3})
    assert set(feed.pending.metric_runs()) == set()  # the run blocked by offset 4 too


def test_a_key_only_pending_is_merged_in_key_order() -> None:
    """As the tables order a run's metrics once the point is applied."""
    tables = (MetricPoint("b", 0.3, 20, 5), MetricPoint("d", 0.8, 9, 1))
    merged = merge_pending(_run(metrics=tables), {"c": (1, 1, 0.1), "a": (1, 1, 0.7)})
    assert [m.key for m in merged.metrics] == ["a", "b", "c", "d"]


_value = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, math.nan, math.inf]),
    st.floats(allow_nan=False, width=32),
)
_row = st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 3), st.integers(0, 3), _value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_row, min_size=1, max_size=6), min_size=1, max_size=4), st.integers(0, 4))
def test_latest_is_ingests_rule_however_the_points_are_split(
    events: list[list[tuple[str, int, int, float]]], applied: int
) -> None:
    """The tables hold the first ``applied`` events, the rest are pending: GetRun's merged
    answer equals ingest's summary of every point (NaN the greatest value, ties kept)."""
    applied = min(applied, len(events))
    rows = [r for e in events for r in e]
    keys = sorted({r[0] for r in rows})
    group = np.array([keys.index(r[0]) for r in rows], dtype=np.int64)
    s = summarise(
        group,
        np.array([r[3] for r in rows], dtype=np.float64),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.int64),
    )
    expected = {
        keys[int(g)]: (int(st_), int(ts), float(v))
        for g, st_, ts, v in zip(
            s.groups, s.latest_step, s.latest_timestamp, s.latest_value, strict=True
        )
    }

    tables: dict[str, tuple[int, int, float]] = {}
    for e in events[:applied]:
        for key, step, ts, value in e:
            if key not in tables or later((step, ts, value), tables[key]):
                tables[key] = (step, ts, value)
    feed = AppliedFeed("events")
    feed.hold([Polled(0, i, _event(_points(e))) for i, e in enumerate(events) if i >= applied])
    run = _run(metrics=tuple(MetricPoint(k, v, t, st_) for k, (st_, t, v) in tables.items()))
    got = {
        m.key: (m.step, m.timestamp, m.value)
        for m in with_pending(run, feed.pending.snapshot(RUN)).metrics
    }
    assert got.keys() == expected.keys()
    for key, (step, ts, value) in expected.items():
        g = got[key]
        assert g[:2] == (step, ts), key
        assert (math.isnan(g[2]) and math.isnan(value)) or g[2] == value, key


def test_only_records_the_feed_never_held_are_unheld_and_every_creation_is_told() -> None:
    pending = PendingPoints()
    first = pending.applied({0: 5})  # the partition's first offsets: below them, unknown
    assert first.everything and first.unheld
    experiment = ev.RunEvent("e" * 32, "", "7", "p" * 32, 3, 1, ev.ExperimentDeleted())
    pending.hold(
        [
            Polled(0, 5, run_event(ev.RunCreated(start_time=1), "r1")),
            Polled(0, 6, experiment),
            Polled(0, 7, None),  # undecodable: dead-lettered, adds no run
            Polled(0, 8, run_event(ev.RunCreated(start_time=1), "r2")),
        ]
    )
    gained = pending.applied({0: 9})
    assert gained.everything and not gained.unheld
    assert gained.changed == {"r1", "r2"}
    pending.release([0])  # revoked: what comes next was held by no one here
    again = pending.applied({0: 12})
    assert again.everything and again.unheld
