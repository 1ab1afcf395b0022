"""The write protocol and crash recovery of the pipeline, on fake ports.

The fake store drops an insert whose token it has seen (as ClickHouse does with
``insert_deduplication_token``); the integration tests check that on real chDB.
"""

from __future__ import annotations

import itertools

import pytest

from runstream.ingest.observability import IngestMetrics
from runstream.ingest.pipeline import PartitionBuffer, Pipeline
from runstream.ingest.settings import BatchSettings
from runstream.proto import events as ev
from tests.unit.ingest.fakes import FakeDeadLetters, FakeSource, FakeStore, event, metrics, records


class Crash(Exception):
    pass


def workload(partitions: int = 2, runs: int = 2, events_per_run: int = 6) -> dict[int, list]:
    log = {}
    step = itertools.count()
    for p in range(partitions):
        evs = []
        for r in range(runs):
            run_id = f"p{p}r{r}"
            evs.append(event(run_id, ev.RunCreated(start_time=1)))
            evs.append(event(run_id, ev.ParamsLogged(("lr",), ("0.1",))))
            for _ in range(events_per_run):
                s = next(step)
                evs.append(event(run_id, metrics([("loss", s, float(s)), ("acc", s, 1.0)])))
            evs.append(event(run_id, ev.RunUpdated(status="FINISHED")))
        log[p] = records(evs, partition=p)
    return log


def pipeline(
    source: FakeSource,
    store: FakeStore,
    *,
    checkpoint=None,
    points: int = 5,
    pipelined: bool = False,
) -> Pipeline:
    return Pipeline(
        source, store, FakeDeadLetters(),
        batch=BatchSettings(max_points=points, max_events=1000, max_interval_s=60),
        metrics=IngestMetrics(source.topic), checkpoint=checkpoint, pipelined=pipelined,
    )  # fmt: skip


def run_to_end(pipe: Pipeline, source: FakeSource, rounds: int = 200) -> None:
    pipe.assign(source.assignment())
    ends = source.end_offsets(source.assignment())
    for _ in range(rounds):
        pipe.handle(source.poll(0))
        pipe.tick()
        if all(pipe.applied.get(p, -1) >= e for p, e in ends.items()):
            break
    pipe.tick(force=True)
    pipe.drain()
    pipe.close()


def expected_points(log: dict[int, list]) -> int:
    return sum(r.points for recs in log.values() for r in recs)


def check_exact(store: FakeStore, log: dict[int, list]) -> None:
    points = store.rows["metrics"]
    assert len(points) == expected_points(log)
    assert len({(p["run_id"], p["key"], p["step"]) for p in points}) == len(points)
    assert sum(r["count"] for r in store.rows["latest_metrics"]) == expected_points(log)


@pytest.mark.parametrize("pipelined", [False, True])
def test_protocol_order_and_commit(pipelined: bool) -> None:
    log = workload()
    source, store = FakeSource(log), FakeStore()
    run_to_end(pipeline(source, store, pipelined=pipelined), source)
    check_exact(store, log)
    kinds = [e.split()[0] for e in store.events]
    first_intent, first_offsets = kinds.index("intents"), kinds.index("offsets")
    assert first_intent < kinds.index("insert") < first_offsets
    assert source.commits[-1] == source.end_offsets([0, 1])
    # batches chain: each intent starts where the previous one of its partition ended
    for p in (0, 1):
        mine = [i for i in store.intents if i.partition == p]
        assert mine[0].first == 0 and all(a.end == b.first for a, b in itertools.pairwise(mine))


STEPS = ["dead-letters", "intents", "batch:0", "batch:1", "offsets", "commit"]


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("nth", [1, 3])
def test_crash_at_any_step_neither_loses_nor_doubles(step: str, nth: int) -> None:
    log = workload()
    source, store = FakeSource(log), FakeStore()
    seen = itertools.count(1)

    def crash_at(name: str) -> None:
        if name == step and next(seen) == nth:
            raise Crash(name)

    with pytest.raises(Crash):
        run_to_end(pipeline(source, store, checkpoint=crash_at), source)
    # a new worker: positions come from the database only
    fresh = FakeSource(log)
    run_to_end(pipeline(fresh, store, points=7), fresh)
    check_exact(store, log)
    assert len([r for r in store.rows["params"]]) == 4


def test_incomplete_intent_is_rebuilt_exactly() -> None:
    log = workload(partitions=1)
    store = FakeStore()
    first = FakeSource(log)
    pipe = pipeline(first, store)
    pipe.assign({0})
    pipe.recover()
    pipe.handle(first.poll(0) + first.poll(0))
    batch = pipe._build(0, 0, 5, pipe.buffers[0].records[:5])
    store.write_intents([batch.intent])
    store.write(batch)  # written, but offsets never recorded: a crash
    second = FakeSource(log, per_poll=2)
    run_to_end(pipeline(second, store, points=50), second)
    rebuilt = [i for i in store.intents if i.partition == 0]
    assert (rebuilt[0].first, rebuilt[0].end) == (0, 5) and (rebuilt[1].first, rebuilt[1].end) == (
        0,
        5,
    )
    assert rebuilt[2].first == 5
    check_exact(store, log)


def test_unavailable_store_retries_from_the_database() -> None:
    log = workload()
    source, store = FakeSource(log), FakeStore()
    clock = itertools.count(0.0, 1.0)
    pipe = Pipeline(
        source, store, FakeDeadLetters(), batch=BatchSettings(max_points=5, max_interval_s=60),
        metrics=IngestMetrics("t"), clock=lambda: next(clock), pipelined=True,
    )  # fmt: skip
    store.fail_next = 2
    run_to_end(pipe, source, rounds=400)
    check_exact(store, log)
    assert pipe.metrics.retries.labels("t")._value.get() >= 1


def test_revoke_writes_buffered_records_without_consumer_calls() -> None:
    log = workload(partitions=1)
    source, store = FakeSource(log), FakeStore()
    pipe = pipeline(source, store, points=10_000)
    pipe.assign({0})
    pipe.recover()
    pipe.handle(source.poll(0))
    commits = len(source.commits)
    pipe.revoke({0})
    assert store.offsets[-1][1:] == (0, 3) and len(source.commits) == commits
    assert 0 not in pipe.buffers and 0 not in pipe.applied


def test_dead_letters_are_sent_before_the_intent() -> None:
    evs = [event("ghost", metrics([("m", 1, 1.0)])), event("r", ev.RunCreated(start_time=1))]
    source, store = FakeSource({0: records(evs)}), FakeStore()
    dead = FakeDeadLetters()
    pipe = Pipeline(
        source,
        store,
        dead,
        batch=BatchSettings(max_points=1),
        metrics=IngestMetrics("t"),
        pipelined=False,
    )
    run_to_end(pipe, source)
    assert [d.record.offset for d in dead.sent] == [0]
    assert store.read_progress("t", [0])[0].next_offset == 2


def test_replay_cut_at_stop_offsets() -> None:
    log = workload(partitions=1)
    source, store = FakeSource(log), FakeStore()
    pipe = Pipeline(
        source, store, None, batch=BatchSettings(max_points=10_000, max_interval_s=60),
        metrics=IngestMetrics("t"), start_offsets={0: 2}, stop_offsets={0: 9}, pipelined=False,
    )  # fmt: skip
    run_to_end(pipe, source)
    assert pipe.applied[0] == 9
    assert [(i.first, i.end) for i in store.intents] == [(2, 9)]


def test_buffer_drops_refetched_records_and_cuts() -> None:
    recs = records([event("r", ev.RunCreated(start_time=1))] * 6)
    b = PartitionBuffer(0, 2, rebuild_end=4)
    assert not b.add(recs[1], 0.0)
    assert b.add(recs[2], 0.0) and b.add(recs[3], 0.0) and b.add(recs[4], 0.0)
    assert not b.add(recs[3], 0.0)
    assert b.complete_cut(None) == 4
    first, end, taken = b.take(1.0, 4)  # type: ignore[misc]
    assert (first, end, [r.offset for r in taken]) == (2, 4, [2, 3])
    assert b.next_offset == 4 and [r.offset for r in b.records] == [4] and not b.waiting_for_rebuild


def test_a_rebuilt_batch_reads_producer_seqs_as_of_its_first_offset() -> None:
    """Its own ``ingest_producers`` row landed before the crash: the rebuild must not take
    its events for resends (it decides, and counts, as the first attempt did)."""
    log = workload(partitions=1)
    store = FakeStore()
    first = FakeSource(log)
    pipe = pipeline(first, store)
    pipe.assign({0})
    pipe.recover()
    pipe.handle(first.poll(0) + first.poll(0))
    batch = pipe._build(0, 0, 6, pipe.buffers[0].records[:6])
    store.write_intents([batch.intent])
    store.write(batch)  # every insert landed, ingest_producers last; offsets never recorded
    assert store.rows["ingest_producers"] and batch.points > 0
    second = FakeSource(log)
    again = pipeline(second, store)
    again.assign({0})
    again.recover()
    again.handle(second.poll(0) + second.poll(0))
    rebuilt = again._build(0, 0, 6, again.buffers[0].records[:6])
    assert (rebuilt.points, rebuilt.events, rebuilt.duplicates) == (batch.points, batch.events, 0)


def test_while_a_write_runs_tick_without_wait_buffers_and_the_next_batch_takes_it_all() -> None:
    """The worker's loop ticks with ``wait=False``: a batch due while the writer thread
    still writes stays buffered (the loop goes on polling), and the first tick after the
    write ended writes everything that arrived meanwhile, in one batch, exactly once."""
    import threading

    class HeldStore(FakeStore):
        def __init__(self) -> None:
            super().__init__()
            self.release = threading.Event()
            self.held = 0

        def write(self, batch):  # type: ignore[no-untyped-def]
            if self.held == 0:
                self.held += 1
                assert self.release.wait(10), "the test never released the first write"
            super().write(batch)

    log = workload(partitions=1, runs=1, events_per_run=6)
    source = FakeSource(log, per_poll=2)
    store = HeldStore()
    pipe = pipeline(source, store, points=1000, pipelined=True)
    pipe.assign(source.assignment())
    pipe.tick(wait=False)  # recovery: where the partition starts
    pipe.handle(source.poll(0))
    assert pipe.tick(force=True, wait=False) == 1  # the first batch goes to the writer
    for _ in range(10):  # the rest of the log arrives while that write is held
        pipe.handle(source.poll(0))
    assert pipe.writing
    assert pipe.tick(force=True, wait=False) == 0  # nothing waits for the held write
    buffered = pipe.pending_points
    assert buffered > 0
    store.release.set()
    for _ in range(200):
        if not pipe.writing:
            break
        threading.Event().wait(0.01)
    assert pipe.tick(force=True, wait=False) == 1  # all that arrived, in one batch
    assert pipe.pending_points == 0
    pipe.drain()
    pipe.close()
    assert len(store.intents) == 2
    check_exact(store, log)
