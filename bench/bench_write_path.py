"""CPU time per metric point of each step the runstream stack takes with columnar points.

    python -m bench.bench_write_path

A run of 10 keys x 1,000 points (what ``runstream import mlflow`` sends per run) goes, in
this process and with no broker or database, through the steps between the wire and the
chDB insert: the gateway's parse of a ``LogBatch`` with ``MetricColumns`` and its checks
and split into events, the Avro encoding of the event, the lz4 compression Kafka's producer
applies to it, the Avro decoding in ingest, and ingest's columns and per-key summaries of
a batch of ten such runs (``MetricAccumulator``).  Then the chDB inserts of such batches
(the three point tables of one partition batch) on a temporary chDB directory, for batches
of 1, 4 and 40 runs: an insert's cost is mostly per insert, not per point.

Prints microseconds of CPU (``time.process_time``, all this process's threads: chDB
inserts and merges run in threads of their own) per point.  The numbers say where a point's
cost is *not*; the stack's threads, measured live, are in ``python -m bench.bench_import``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

import lz4.frame
import numpy as np

from runstream.ingest.clickhouse_sink import ClickHouseStore
from runstream.ingest.metric_columns import MetricAccumulator
from runstream.ingest.settings import ClickHouseTarget
from runstream.producer.columns import Chunk, split_events
from runstream.producer.gateway.server import columns_in
from runstream.producer.ids import make_event
from runstream.producer.validation import check_columns
from runstream.proto.codec import EventCodec
from runstream.proto.events import MetricsLogged
from runstream.proto.v1 import common_pb2, write_pb2

KEYS, POINTS = 10, 1000
RUN_POINTS = KEYS * POINTS
MAX_EVENT_BYTES = 900_000  # the gateway's default


def _run_columns() -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    keys = tuple(f"metric_{k}" for k in range(KEYS))
    index = np.repeat(np.arange(KEYS, dtype=np.uint16), POINTS)
    steps = np.tile(np.arange(POINTS, dtype=np.int64), KEYS)
    return keys, index, 1.0 / (steps + 1.0), steps, 1_700_000_000_000 + steps


def _per_point(fn: Callable[[], object], points: int, repeat: int) -> float:
    fn()  # warm
    started = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - started) / repeat / points * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=200, help="runs per in-memory step")
    args = p.parse_args(argv)
    keys, index, values, steps, stamps = _run_columns()
    request = write_pb2.LogBatchRequest(
        run_id=uuid.uuid4().hex,
        metric_columns=common_pb2.MetricColumns(
            keys=list(keys),
            key_index=index.tobytes(),
            values=values.tobytes(),
            steps=steps.tobytes(),
            timestamps=stamps.tobytes(),
        ),
    )
    wire = request.SerializeToString()

    def gateway() -> list[MetricsLogged]:
        parsed = write_pb2.LogBatchRequest.FromString(wire)
        got = columns_in(parsed.metric_columns)
        assert got is not None
        c = check_columns(got.keys, got.key_index, got.values, got.steps, got.timestamps)
        chunk = Chunk(parsed.run_id, c.keys, c.key_index, c.values, c.steps, c.timestamps)
        return split_events(chunk, MAX_EVENT_BYTES)

    codec = EventCodec()
    (payload,) = gateway()
    event = make_event(uuid.uuid4().hex, 0, request.run_id, "1", payload, 0, "")
    data = codec.encode(event)
    decoded = codec.decode(data)
    assert isinstance(decoded.payload, MetricsLogged)

    def accumulate(runs: int) -> MetricAccumulator:
        acc = MetricAccumulator()
        for _ in range(runs):
            acc.add(uuid.uuid4().hex, "1", decoded.payload)  # type: ignore[arg-type]
        return acc

    rows = [
        ("gateway: parse, check, split", _per_point(gateway, RUN_POINTS, args.repeat)),
        ("Avro encode", _per_point(lambda: codec.encode(event), RUN_POINTS, args.repeat)),
        ("lz4 (the producer's codec)", _per_point(lambda: lz4.frame.compress(data), RUN_POINTS,
                                                   args.repeat)),  # fmt: skip
        ("Avro decode", _per_point(lambda: codec.decode(data), RUN_POINTS, args.repeat)),
        ("ingest: columns and summaries (10 runs)",
         _per_point(lambda: accumulate(10).tables(), 10 * RUN_POINTS, max(1, args.repeat // 10))),
    ]  # fmt: skip
    print(f"one run: {RUN_POINTS:,} points, event {len(data):,} bytes, "
          f"{len(lz4.frame.compress(data)):,} bytes compressed")  # fmt: skip
    root = tempfile.mkdtemp(prefix="bench-write-path-")
    try:
        store = ClickHouseStore(ClickHouseTarget(f"chdb://{root}", "bench"))
        store.migrate()
        for runs, batches in ((1, 20), (4, 10), (40, 3)):
            tables = [accumulate(runs).tables() for _ in range(batches)]
            started = time.process_time()
            for tables_of_batch in tables:
                token = uuid.uuid4().hex
                for t in tables_of_batch:
                    store._insert(t.table, t.columns, t.data, t.rows, f"{token}-{t.table}")
            spent = time.process_time() - started
            rows.append((f"chDB inserts, {runs * RUN_POINTS:,}-point batches "
                         f"({spent / batches * 1000:.0f} ms a batch)",
                         spent / (batches * runs * RUN_POINTS) * 1e6))  # fmt: skip
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for label, us in rows:
        print(f"{label:<58}{us:>8.3f} us/point")
    return 0


if __name__ == "__main__":
    sys.exit(main())
