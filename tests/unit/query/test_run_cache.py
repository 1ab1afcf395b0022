"""GetRun's answers are kept only while the applied-offsets feed has not moved."""

from __future__ import annotations

from runstream.proto.applied import AppliedFeed
from runstream.query.entities import Run, RunInfo
from runstream.query.run_cache import RunCache


def _run(run_id: str, name: str) -> Run:
    return Run(RunInfo(run_id, "1", name, "someone", "RUNNING", 1, None, "file:/a", "active"))


def test_an_answer_is_kept_until_any_offset_moves() -> None:
    feed = AppliedFeed("events")
    cache = RunCache(feed)
    assert cache.get("r1") is None
    cache.put("r1", cache.stamp(), _run("r1", "first"))
    got = cache.get("r1")
    assert got is not None and got.info.run_name == "first" and cache.hits == 1
    feed.publish({3: 1})  # any partition: every answer goes
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
