"""GetRun's answers are kept while ingest applies nothing but points to their runs; those
points are merged in by the rule the tables follow (a fresh read's answer)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from runstream.ingest.metric_columns import summarise
from runstream.proto import events as ev
from runstream.proto.applied import AppliedFeed
from runstream.query.entities import MetricPoint, Run, RunInfo
from runstream.query.run_cache import RunCache
from tests.fixtures.events import Polled, run_event
from tests.fixtures.events import metrics_logged as _points

RUN, OTHER = "r" * 32, "o" * 32


def _run(run_id: str, name: str = "n", stage: str = "active", metrics: tuple = ()) -> Run:
    info = RunInfo(run_id, "7", name, "someone", "RUNNING", 1, None, "file:/a", stage)
    return Run(info, metrics)


def _event(payload: ev.Payload, run_id: str = RUN, experiment_id: str = "7") -> ev.RunEvent:
    return run_event(payload, run_id, experiment_id)


def _started(feed: AppliedFeed, cache: RunCache, *runs: Run) -> None:
    """Offsets of partition 0 known (the first publish drops everything), ``runs`` kept."""
    feed.publish({0: 0})
    for run in runs:
        assert cache.get(run.info.run_id) is None
        cache.put(run.info.run_id, cache.stamp(), run)


def _metrics(run: Run | None) -> dict[str, tuple[int, int, float]]:
    assert run is not None
    return {m.key: (m.step, m.timestamp, m.value) for m in run.metrics}


def test_an_answer_is_kept_until_offsets_move_past_records_the_feed_never_held() -> None:
    feed = AppliedFeed("events")
    cache = RunCache(feed)
    assert cache.get("r1") is None
    cache.put("r1", cache.stamp(), _run("r1", "first"))
    got = cache.get("r1")
    assert got is not None and got.info.run_name == "first" and cache.hits == 1
    feed.publish({3: 1})  # the first offsets of partition 3: every answer goes
    assert cache.get("r1") is None


def test_an_answer_read_while_offsets_moved_is_not_kept() -> None:
    feed = AppliedFeed("events")
    cache = RunCache(feed)
    assert cache.get("r1") is None
    stamp = cache.stamp()
    feed.publish({0: 1})  # ingest recorded offsets while the tables were read
    cache.put("r1", stamp, _run("r1", "maybe stale"))
    assert cache.get("r1") is None


def test_the_least_recently_used_answer_goes_first() -> None:
    cache = RunCache(AppliedFeed("events"), capacity=2)
    assert cache.get("a") is None
    for run_id in ("a", "b"):
        cache.put(run_id, cache.stamp(), _run(run_id, run_id))
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", cache.stamp(), _run("c", "c"))
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None


def test_points_applied_to_a_run_are_merged_into_its_kept_answer() -> None:
    feed = AppliedFeed("events")
    cache = RunCache(feed)
    kept = _run(RUN, metrics=(MetricPoint("loss", 0.9, 10, 1),))
    _started(feed, cache, kept, _run(OTHER))
    feed.hold([Polled(0, 0, _event(_points([("loss", 2, 11, 0.5), ("acc", 2, 11, 0.1)])))])
    feed.publish({0: 1})
    assert _metrics(cache.get(RUN)) == {"loss": (2, 11, 0.5), "acc": (2, 11, 0.1)}
    assert cache.get(OTHER) is not None and cache.merged == 1
    # An earlier step does not replace the latest point.
    feed.hold([Polled(0, 1, _event(_points([("loss", 1, 12, 0.1)])))])
    feed.publish({0: 2})
    assert _metrics(cache.get(RUN))["loss"] == (2, 11, 0.5)


def test_points_ingest_refuses_are_not_merged() -> None:
    feed = AppliedFeed("events")
    cache = RunCache(feed)
    _started(feed, cache, _run(RUN, stage="deleted"), _run(OTHER))
    feed.hold(
        [
            Polled(0, 0, _event(_points([("loss", 1, 1, 0.5)]))),  # a deleted run's
            Polled(0, 1, _event(_points([("loss", 1, 1, 0.5)]), OTHER, "8")),  # wrong experiment
        ]
    )
    feed.publish({0: 2})
    assert _metrics(cache.get(RUN)) == {} and _metrics(cache.get(OTHER)) == {}


def test_another_event_of_a_run_drops_only_its_answer() -> None:
    for payload in (
        ev.ParamsLogged(("lr",), ("0.1",)),
        ev.TagsSet(("k",), ("v",)),
        ev.TagDeleted("k"),
        ev.RunUpdated(status="FINISHED", end_time=5),
        ev.RunDeleted(),
        ev.RunRestored(),
        ev.RunPurged(),
    ):
        feed = AppliedFeed("events")
        cache = RunCache(feed)
        _started(feed, cache, _run(RUN), _run(OTHER))
        feed.hold(
            [
                Polled(0, 0, _event(_points([("loss", 1, 1, 0.5)]))),
                Polled(0, 1, _event(payload)),
            ]
        )
        feed.publish({0: 2})
        assert cache.get(RUN) is None, payload
        assert cache.get(OTHER) is not None, payload


def test_an_event_that_may_concern_other_runs_drops_every_answer() -> None:
    model = ev.LoggedModelCreated(model_id="m1", name="m", artifact_location="file:/m")
    for event in (
        ev.RunEvent("e" * 32, "", "7", "p" * 32, 3, 1, ev.ExperimentDeleted()),
        _event(ev.InputsLogged()),
        _event(model),
        None,  # undecodable: dead-lettered
    ):
        feed = AppliedFeed("events")
        cache = RunCache(feed)
        _started(feed, cache, _run(RUN), _run(OTHER))
        feed.hold([Polled(0, 0, event)])
        feed.publish({0: 1})
        assert cache.get(RUN) is None and cache.get(OTHER) is None, event


def test_a_released_partition_drops_every_answer_when_its_offsets_move_again() -> None:
    feed = AppliedFeed("events")
    cache = RunCache(feed)
    _started(feed, cache, _run(RUN))
    feed.release([0])  # records of partition 0 may now be applied unseen
    feed.hold([Polled(0, 5, _event(_points([("loss", 1, 1, 0.5)])))])
    feed.publish({0: 6})
    assert cache.get(RUN) is None


_point = st.tuples(
    st.sampled_from(["loss", "acc", "lr"]),
    st.integers(0, 4),  # step
    st.integers(0, 4),  # timestamp
    st.one_of(st.sampled_from([0.0, 1.0, -1.0, math.inf, math.nan]), st.floats(-2, 2)),
)


def _latest(rows: list[tuple[str, int, int, float]]) -> dict[str, tuple[int, int, float]]:
    """What the tables answer for these points: ingest's own summary."""
    if not rows:
        return {}
    keys = sorted({r[0] for r in rows})
    s = summarise(
        np.array([keys.index(r[0]) for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=np.float64),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.int64),
    )
    return {
        keys[int(g)]: (int(a), int(b), float(c))
        for g, a, b, c in zip(
            s.groups, s.latest_step, s.latest_timestamp, s.latest_value, strict=True
        )
    }


def _same(got: dict[str, tuple[int, int, float]], want: dict[str, tuple[int, int, float]]) -> bool:
    return got.keys() == want.keys() and all(
        got[k][:2] == want[k][:2]
        and (got[k][2] == want[k][2] or (math.isnan(got[k][2]) and math.isnan(want[k][2])))
        for k in want
    )


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(st.lists(_point, min_size=1, max_size=4), min_size=1, max_size=8),
    data=st.data(),
)
def test_a_kept_answer_with_applied_points_merged_is_a_fresh_read(
    events: list[list[tuple[str, int, int, float]]], data: st.DataObject
) -> None:
    """Whatever the batches and wherever the answer was read (before a batch, or while one
    was being written: some of its points already in the tables), kept answer + merged
    applied points == what the tables answer once the batches are applied."""
    n = len(events)
    read_at = data.draw(st.integers(0, n), "events in the tables when the answer was read")
    cuts = sorted(data.draw(st.lists(st.integers(read_at, n), max_size=3), "batch ends"))
    written = data.draw(st.integers(0, n - read_at), "more events written, not yet recorded")
    feed = AppliedFeed("events")
    cache = RunCache(feed)
    feed.publish({0: read_at})  # offsets known: what is held from now on is all there is
    feed.hold([Polled(0, i, _event(_points(e))) for i, e in enumerate(events) if i >= read_at])
    seen = [r for e in events[: read_at + written] for r in e]
    run = _run(
        RUN, metrics=tuple(MetricPoint(k, v, t, s) for k, (s, t, v) in _latest(seen).items())
    )
    cache.put(RUN, cache.stamp(), run)
    for end in [*cuts, n]:
        feed.publish({0: end})
        applied = [r for e in events[: max(end, read_at + written)] for r in e]
        assert _same(_metrics(cache.get(RUN)), _latest(applied))
