"""The log-start check against applied offsets, and a snapshot's reach (pure)."""

from __future__ import annotations

import pytest

from runstream.ingest.batch import Intent, Progress
from runstream.ingest.errors import LogTruncated
from runstream.ingest.retention import check_log_start, log_gaps


def test_a_gap_is_where_the_log_starts_past_what_the_tables_need() -> None:
    progress = {
        0: Progress(100, None),  # applied up to 100, log starts at 80: fine
        1: Progress(50, None),  # applied up to 50, log starts at 60: events 50..59 are gone
        2: Progress(None, None),  # a fresh database needs the log from 0
        3: Progress(40, Intent("t", 3, 40, 90)),  # a half-written batch is rebuilt from 40
    }
    starts = {0: 80, 1: 60, 2: 5, 3: 40}
    assert log_gaps([0, 1, 2, 3], progress, starts) == {1: (50, 60), 2: (0, 5)}
    assert log_gaps([2], progress, {}) == {}  # replay from offsets the caller chose


def test_a_gap_stops_ingest_unless_allowed() -> None:
    progress = {0: Progress(10, None)}
    with pytest.raises(LogTruncated, match="partition 0 needs 10, log starts at 20"):
        check_log_start("t", [0], progress, {0: 20}, allow=False)
    assert check_log_start("t", [0], progress, {0: 20}, allow=True) == {0: (10, 20)}
    assert check_log_start("t", [0], progress, {0: 10}, allow=False) == {}


def test_a_snapshot_is_completable_while_the_log_starts_at_or_before_its_offsets() -> None:
    from runstream.ingest.snapshot import Manifest

    m = Manifest("s1", 0, "runstream", "t", {0: 100, 1: 7})
    assert Manifest.from_json(m.to_json()) == m
    assert m.unreachable({0: 100, 1: 0}) == {}
    assert m.unreachable({0: 101, 1: 0, 2: 3}) == {0: (100, 101), 2: (0, 3)}


def test_the_worker_warns_about_a_newest_snapshot_the_log_cannot_complete() -> None:
    from runstream.ingest.snapshot import Manifest, newest_warning

    older = Manifest("a", 1, "runstream", "t", {0: 10})
    newest = Manifest("b", 2, "runstream", "t", {0: 50})
    assert newest_warning([older, newest], "t", {0: 40}) is None
    warning = newest_warning([older, newest], "t", {0: 60})
    assert warning is not None and "newest snapshot b" in warning and "log starts at 60" in warning
    no_snapshot = newest_warning([], "t", {0: 3, 1: 0})
    assert no_snapshot is not None and "no snapshot of t" in no_snapshot
    assert newest_warning([], "t", {0: 0}) is None  # the whole log is there
    assert newest_warning([newest], "other", {0: 0}) is None
