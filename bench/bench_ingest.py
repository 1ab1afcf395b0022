"""Ingest throughput: metric points per second from Kafka into chDB, against a ceiling.

Side by side, in one process and on one chDB directory (a temporary one by default):

1. ceiling: the same point columns (experiment_id, run_id, key, step, timestamp, value)
   inserted with a plain clickhouse-connect column-oriented insert, in blocks of
   --batch-points, into a metrics table made by the ingest migrations;
2. ceiling, Arrow: the same, inserted the way the worker inserts them (an Arrow table
   with dictionary-encoded strings; faster than the plain insert on chDB);
3. ingest: a fresh topic pre-filled with --points points in columnar MetricsLogged
   events (--points-per-event each, plus one RunCreated per run; producing is not
   timed), then an IngestWorker in a thread, timed from the moment it consumes until
   its applied offsets reach the topic's end offsets (start-up and migrations are not
   timed).

Prints each rate and ingest / ceiling for both ceilings.  Needs a running Kafka broker
(--kafka); creates a fresh topic and consumer group per run and deletes neither.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid

import numpy as np


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench_ingest.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python bench/bench_ingest.py --kafka 127.0.0.1:9092 --points 2000000",
    )
    parser.add_argument(
        "--kafka",
        default=os.environ.get("RUNSTREAM_KAFKA", "127.0.0.1:9092"),
        help="bootstrap servers of a running broker (default: $RUNSTREAM_KAFKA or 127.0.0.1:9092)",
    )
    parser.add_argument(
        "--points", type=int, default=2_000_000, help="points to ingest (default: 2000000)"
    )
    parser.add_argument(
        "--points-per-event",
        type=int,
        default=10_000,
        help="points per MetricsLogged event (default: 10000)",
    )
    parser.add_argument(
        "--runs", type=int, default=100, help="runs the points spread over (default: 100)"
    )
    parser.add_argument("--keys", type=int, default=10, help="metric keys per run (default: 10)")
    parser.add_argument(
        "--partitions", type=int, default=8, help="partitions of the fresh topic (default: 8)"
    )
    parser.add_argument(
        "--batch-points",
        type=int,
        default=500_000,
        help="worker batch bound and ceiling block size (default: 500000)",
    )
    parser.add_argument(
        "--dsn",
        default=None,
        help="chdb:///DIR to use (default: a new temporary directory, removed afterwards)",
    )
    return parser.parse_args(argv)


def _events(args: argparse.Namespace, experiment_id: str) -> tuple[list, dict[str, np.ndarray]]:
    from runstream.proto import events as ev

    now = int(time.time() * 1000)
    seq = iter(range(10**12))
    out: list = []
    run_ids = [uuid.uuid4().hex for _ in range(args.runs)]
    for run_id in run_ids:
        out.append(
            ev.RunEvent(
                ev.new_event_id(),
                run_id,
                experiment_id,
                "bench",
                next(seq),
                now,
                ev.RunCreated(start_time=now),
            )
        )
    per_run = args.points // args.runs
    keys = tuple(f"metric_{k}" for k in range(args.keys))
    cols: dict[str, list] = {"run": [], "key": [], "step": [], "ts": [], "value": []}
    rng = np.random.default_rng(7)
    for r, run_id in enumerate(run_ids):
        for start in range(0, per_run, args.points_per_event):
            n = min(args.points_per_event, per_run - start)
            idx = np.arange(start, start + n)
            key_index = (idx % args.keys).astype(np.uint16)
            steps = (idx // args.keys).astype(np.int64)
            ts = now + steps
            values = rng.random(n)
            out.append(
                ev.RunEvent(
                    ev.new_event_id(), run_id, experiment_id, "bench", next(seq), now,
                    ev.MetricsLogged(keys, key_index, values, steps, ts),
                )
            )  # fmt: skip
            cols["run"].append(np.full(n, r))
            cols["key"].append(key_index)
            cols["step"].append(steps)
            cols["ts"].append(ts)
            cols["value"].append(values)
    columns = {k: np.concatenate(v) for k, v in cols.items()}
    columns["run_ids"] = np.asarray(run_ids, dtype=object)
    columns["keys"] = np.asarray(keys, dtype=object)
    return out, columns


def _ceiling(
    dsn: str, columns: dict[str, np.ndarray], block: int, arrow: bool
) -> tuple[int, float]:
    """Insert the point columns in blocks; ``arrow``: the way the worker inserts them
    (Arrow table, strings dictionary-encoded), else a plain column-oriented insert."""
    import clickhouse_connect
    import pyarrow as pa

    from runstream.ingest.clickhouse_sink import ClickHouseStore
    from runstream.ingest.settings import ClickHouseTarget

    database = "bench_ceiling_arrow" if arrow else "bench_ceiling"
    store = ClickHouseStore(ClickHouseTarget(dsn, database))
    store.migrate()
    store.close()
    client = clickhouse_connect.get_client(dsn=dsn, database=database)
    n = columns["value"].shape[0]
    names = ["experiment_id", "run_id", "key", "step", "timestamp", "value"]
    run_ids, keys = columns["run_ids"].tolist(), columns["keys"].tolist()
    started = time.perf_counter()
    for i in range(0, n, block):
        s = slice(i, i + block)
        m = columns["value"][s].shape[0]
        if arrow:
            table = pa.Table.from_arrays(
                [
                    pa.DictionaryArray.from_arrays(
                        pa.array(np.zeros(m, np.int32)), pa.array(["1"])
                    ),
                    pa.DictionaryArray.from_arrays(
                        pa.array(columns["run"][s].astype(np.int32)), pa.array(run_ids)
                    ),
                    pa.DictionaryArray.from_arrays(
                        pa.array(columns["key"][s].astype(np.int32)), pa.array(keys)
                    ),
                    pa.array(columns["step"][s]),
                    pa.array(columns["ts"][s]),
                    pa.array(columns["value"][s]),
                ],
                names=names,
            )
            client.insert_arrow("metrics", table)
            continue
        data = [
            ["1"] * m,
            columns["run_ids"][columns["run"][s]].tolist(),
            columns["keys"][columns["key"][s]].tolist(),
            columns["step"][s],
            columns["ts"][s],
            columns["value"][s],
        ]
        client.insert("metrics", data, column_names=names, column_oriented=True)
    seconds = time.perf_counter() - started
    count = int(client.command("SELECT count() FROM metrics"))
    client.close()
    return count, seconds


def _ingest(args: argparse.Namespace, dsn: str, events: list) -> tuple[int, float, float]:
    from kafka import KafkaProducer

    from runstream.ingest import BatchSettings, IngestSettings, IngestWorker
    from runstream.ingest.kafka_dead_letters import ensure_topics
    from runstream.proto.codec import EventCodec

    topic = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topics(args.kafka, [(topic, args.partitions, 1)])
    codec = EventCodec()
    producer = KafkaProducer(
        bootstrap_servers=args.kafka.split(","), linger_ms=20, batch_size=1 << 20,
        max_request_size=32 << 20, compression_type="lz4",
    )  # fmt: skip
    started = time.perf_counter()
    for e in events:
        producer.send(topic, key=e.kafka_key, value=codec.encode(e))
    producer.flush()
    produce_s = time.perf_counter() - started
    producer.close()
    settings = IngestSettings(
        clickhouse=dsn, database="bench_ingest", kafka=args.kafka, topic=topic,
        group=f"bench-{uuid.uuid4().hex[:8]}", partitions=args.partitions,
        batch=BatchSettings(max_points=args.batch_points),
    )  # fmt: skip
    worker = IngestWorker(settings)
    worker.prepare()
    from kafka import KafkaConsumer, TopicPartition

    probe = KafkaConsumer(bootstrap_servers=args.kafka.split(","))
    tps = [TopicPartition(topic, p) for p in range(args.partitions)]
    ends = {tp.partition: o for tp, o in probe.end_offsets(tps).items()}
    probe.close()
    worker.start()
    if not worker.wait_ready(120):
        raise SystemExit(f"worker did not start: {worker.error}")
    started = time.perf_counter()
    while True:
        applied = worker.applied_offsets()
        if all(applied.get(p, -1) >= end for p, end in ends.items() if end > 0):
            break
        if not worker.running:
            raise SystemExit(f"worker died: {worker.error}")
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    worker.stop()
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=dsn, database="bench_ingest")
    count = int(client.command("SELECT count() FROM metrics"))
    client.close()
    return count, seconds, produce_s


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    tmp = None
    dsn = args.dsn
    if dsn is None:
        tmp = tempfile.mkdtemp(prefix="bench-ingest-")
        dsn = "chdb://" + tmp
    try:
        print(
            f"building {args.points:,} points in events of {args.points_per_event:,} ...",
            flush=True,
        )
        events, columns = _events(args, "1")
        n = int(columns["value"].shape[0])
        c_count, c_s = _ceiling(dsn, columns, args.batch_points, arrow=False)
        a_count, a_s = _ceiling(dsn, columns, args.batch_points, arrow=True)
        i_count, i_s, p_s = _ingest(args, dsn, events)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    ceiling, arrow, ingest = n / c_s, n / a_s, n / i_s
    print(
        f"points: {n:,} in {len(events):,} events, {args.partitions} partitions, "
        f"{os.cpu_count()} cores; producing the topic took {p_s:.2f} s (not counted)"
    )
    rows = (
        ("ceiling  plain column-oriented insert", c_count, c_s, ceiling),
        ("ceiling  Arrow insert, as the worker  ", a_count, a_s, arrow),
        ("ingest   Kafka -> worker -> chDB      ", i_count, i_s, ingest),
    )
    for label, count, secs, rate in rows:
        print(f"{label} {count:>10,} rows {secs:7.2f} s {rate:>12,.0f} points/s")
    print(f"ratio    ingest / plain-insert ceiling: {ingest / ceiling:.2f}")
    print(f"ratio    ingest / Arrow-insert ceiling: {ingest / arrow:.2f}")
    if {c_count, a_count, i_count} != {n}:
        print("row counts differ from the points sent", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
