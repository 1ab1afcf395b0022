-- runstream tables, version 4: each producer's last applied seq, per partition.
-- Statements are separated by a line holding only ';'. Every statement is idempotent.

-- A producer stamps its events with seq 0, 1, 2... (the gateway stamps a resent request
-- with the seqs of its first sending). An event whose seq is at or below the last one
-- applied from its producer in its partition is a resend, and ingest drops it. The row
-- is written with the batch, last (after runs), under the batch's token; `offset` is the
-- offset of the event that set `seq` (a rebuilt batch reads the rows below its first
-- offset, as its first attempt saw them).
CREATE TABLE IF NOT EXISTS ingest_producers (
    topic String,
    partition Int32,
    producer_id String,
    seq Int64,
    offset Int64
) ENGINE = ReplacingMergeTree(offset)
ORDER BY (topic, partition, producer_id)
SETTINGS non_replicated_deduplication_window = 10000
