"""The run ids the tables hold (``query/run_ids.py``): a Bloom filter that never says "not
held" of a run it was given, kept by the applied feed, loaded again after records it never
held were applied.

The table is faked through the ``SqlPort`` protocol (what it answers is the hashes of a
list of run ids); ``tests/integration/infra/test_run_ids.py`` runs the same against chDB,
a broker and an ingest worker.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from runstream.proto import events as ev
from runstream.proto.applied import AppliedFeed
from runstream.query.ports import Row
from runstream.query.run_ids import _RETRY_S, BloomFilter, RunIds, _Stage, run_hashes
from runstream.query.sql_text import Sql
from tests.fixtures.events import Polled, run_event


def _ids(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(n)]


def _hashes(run_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [run_hashes(r) for r in run_ids]
    return (
        np.array([p[0] for p in pairs], dtype=np.uint64),
        np.array([p[1] for p in pairs], dtype=np.uint64),
    )


def _false_positives(f: BloomFilter, others: list[str]) -> float:
    return sum(r in f for r in others) / len(others)


def test_a_run_added_one_by_one_is_always_held_and_about_one_in_a_hundred_others_are() -> None:
    held, others = _ids(30_000, 1), _ids(30_000, 2)
    f = BloomFilter(capacity=30_000, error_rate=0.01)
    f.update(held)
    assert all(r in f for r in held)
    rate = _false_positives(f, others)
    assert 0.002 < rate < 0.02, rate
    assert f.stages == 1


def test_the_bulk_load_sets_the_bits_one_by_one_adds_set() -> None:
    run_ids = _ids(5_000, 3)
    one, bulk = _Stage(8_000, 0.01), _Stage(8_000, 0.01)
    for r in run_ids:
        one.add(*run_hashes(r))
    bulk.add_many(*_hashes(run_ids))
    assert one.bits == bulk.bits and one.count == bulk.count == 5_000
    assert any(one.bits)


def test_a_filter_built_from_hashes_holds_them_and_what_is_added_after() -> None:
    loaded, added, others = _ids(20_000, 4), _ids(50_000, 5), _ids(20_000, 6)
    f = BloomFilter.of_hashes(*_hashes(loaded))
    assert all(r in f for r in loaded)
    f.update(added)  # past the capacity it was sized for: new stages take them
    assert f.stages > 1
    assert all(r in f for r in loaded + added)
    assert _false_positives(f, others) < 0.02


def test_an_empty_table_gives_an_empty_filter() -> None:
    f = BloomFilter.of_hashes(*_hashes([]))
    assert not any(r in f for r in _ids(1000, 7))
    assert "" not in f and None not in f


class _Table:
    """The ``runs`` table as a SqlPort: the hashes of ``run_ids``.  ``gate``, when set,
    holds a read until it is set (a load in progress)."""

    def __init__(self, run_ids: list[str]) -> None:
        self.run_ids = list(run_ids)
        self.reads = 0
        self.reading = threading.Event()
        self.gate: threading.Event | None = None
        self.fail = False

    def rows(self, sql: Sql) -> list[Row]:
        assert "FROM runs" in sql.text
        self.reads += 1
        snapshot = list(self.run_ids)
        self.reading.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail:
            raise OSError("engine gone")
        return [run_hashes(r) for r in snapshot]

    def rows_many(self, statements: Mapping[str, Sql]) -> dict[str, list[Row]]:
        return {k: self.rows(v) for k, v in statements.items()}

    def command(self, text: str) -> None:
        raise AssertionError("no command")

    def close(self) -> None:
        pass


def _created(run_id: str, offset: int, partition: int = 0) -> Polled:
    return Polled(partition, offset, run_event(ev.RunCreated(start_time=1), run_id))


@contextmanager
def _running(table: _Table, feed: AppliedFeed, retry_s: float = _RETRY_S) -> Iterator[RunIds]:
    ids = RunIds(table, feed, retry_s=retry_s)
    try:
        yield ids
    finally:
        ids.close()


@contextmanager
def _started(table: _Table, feed: AppliedFeed) -> Iterator[RunIds]:
    feed.publish({0: 0})  # partition 0's first offsets: before the filter is loaded
    with _running(table, feed, retry_s=0.05) as ids:
        assert ids.wait_ready(10)
        yield ids


def test_loaded_runs_are_held_other_ids_are_absent() -> None:
    run_ids = _ids(2_000, 8)
    table, feed = _Table(run_ids), AppliedFeed("events")
    with _started(table, feed) as ids:
        assert not any(ids.absent(r) for r in run_ids)
        others = _ids(2_000, 9)
        assert sum(ids.absent(r) for r in others) > 1_900
        assert ids.loads == 1 and table.reads == 1


def test_a_created_run_is_held_before_a_read_waiting_for_its_offset_wakes() -> None:
    table, feed = _Table([]), AppliedFeed("events")
    with _started(table, feed) as ids:
        run_id = uuid.uuid4().hex
        assert ids.absent(run_id)
        seen: list[bool] = []

        def reader() -> None:
            assert feed.wait_applied({0: 0}, 10)
            seen.append(ids.absent(run_id))

        t = threading.Thread(target=reader)
        t.start()
        feed.hold([_created(run_id, 0)])
        table.run_ids.append(run_id)  # ingest writes the tables, then records the offsets
        feed.publish({0: 1})
        t.join(10)
        assert seen == [False]
        assert table.reads == 1  # told by the feed, not read again


def test_records_the_feed_never_held_set_the_filter_aside_until_it_is_read_again() -> None:
    table, feed = _Table([]), AppliedFeed("events")
    with _started(table, feed) as ids:
        written_elsewhere = uuid.uuid4().hex
        table.gate = threading.Event()
        table.reading.clear()
        table.run_ids.append(written_elsewhere)
        feed.publish({1: 5})  # partition 1's first offsets: nothing known of what they hold
        assert not ids.ready and not ids.absent(written_elsewhere)
        assert not ids.absent(uuid.uuid4().hex)  # every id takes the statement path
        assert table.reading.wait(10)
        table.gate.set()
        assert ids.wait_ready(10)
        assert not ids.absent(written_elsewhere) and ids.loads == 2


def test_a_run_applied_while_the_table_is_read_is_held() -> None:
    table, feed = _Table([]), AppliedFeed("events")
    feed.publish({0: 0})
    table.gate = threading.Event()
    with _running(table, feed) as ids:
        assert table.reading.wait(10)  # the load has read the table (without the run)
        run_id = uuid.uuid4().hex
        feed.hold([_created(run_id, 0)])
        table.run_ids.append(run_id)
        feed.publish({0: 1})
        table.gate.set()
        assert ids.wait_ready(10)
        assert not ids.absent(run_id) and table.reads == 1


def test_a_load_during_which_records_were_applied_unheld_is_done_again() -> None:
    table, feed = _Table([]), AppliedFeed("events")
    table.gate = threading.Event()
    with _running(table, feed) as ids:
        assert table.reading.wait(10)  # the first load read an empty table
        run_id = uuid.uuid4().hex
        table.run_ids.append(run_id)
        feed.publish({0: 3})  # unheld: the run came with records the feed never held
        table.gate.set()
        assert ids.wait_ready(10)
        assert not ids.absent(run_id)
        assert table.reads == 2 and ids.loads == 1


def test_a_failed_read_is_retried_and_the_statement_path_serves_meanwhile() -> None:
    table, feed = _Table([]), AppliedFeed("events")
    table.fail = True
    with _running(table, feed, retry_s=0.05) as ids:
        assert not ids.wait_ready(0.2)
        assert not ids.absent(uuid.uuid4().hex)
        table.fail = False
        assert ids.wait_ready(10)
        assert table.reads >= 2


def test_other_events_add_their_runs_and_drop_nothing() -> None:
    loaded = _ids(100, 10)
    table, feed = _Table(loaded), AppliedFeed("events")
    with _started(table, feed) as ids:
        exp = ev.RunEvent("e" * 32, "", "7", "p" * 32, 3, 1, ev.ExperimentDeleted())
        feed.hold([Polled(0, 0, exp), Polled(0, 1, run_event(ev.RunPurged(), loaded[0]))])
        feed.publish({0: 2})
        assert ids.ready and ids.loads == 1  # an experiment's event adds no run
        assert not any(ids.absent(r) for r in loaded)  # a purged run may stay held
