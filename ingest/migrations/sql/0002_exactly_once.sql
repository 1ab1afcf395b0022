-- runstream tables, version 2: exactly-once bookkeeping and skipping indexes.
-- Statements are separated by a line holding only ';'. Every statement is idempotent.

-- The last batch each partition started to write: offsets [first_offset, end_offset).
-- When ingest_offsets.next_offset < end_offset the batch may be partly written, and the
-- worker that takes the partition over rebuilds exactly that batch (same rows, same
-- insert deduplication tokens) before it goes on.
CREATE TABLE IF NOT EXISTS ingest_batches (
    topic String,
    partition Int32,
    first_offset Int64,
    end_offset Int64,
    created_at DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(end_offset)
ORDER BY (topic, partition)
;
-- Every table the worker writes with insert deduplication tokens needs a window > 0
-- (0001 set it on metrics and latest_metrics only).
ALTER TABLE experiments MODIFY SETTING non_replicated_deduplication_window = 10000
;
ALTER TABLE experiment_tags MODIFY SETTING non_replicated_deduplication_window = 10000
;
ALTER TABLE runs MODIFY SETTING non_replicated_deduplication_window = 10000
;
ALTER TABLE params MODIFY SETTING non_replicated_deduplication_window = 10000
;
ALTER TABLE tags MODIFY SETTING non_replicated_deduplication_window = 10000
;
-- Points and summaries of one run without its experiment id (GetRun, GetMetricHistory
-- called with a run id only) skip granules through a bloom filter on run_id.
ALTER TABLE metrics ADD INDEX IF NOT EXISTS idx_run_id run_id TYPE bloom_filter GRANULARITY 1
;
ALTER TABLE latest_metrics ADD INDEX IF NOT EXISTS idx_run_id run_id TYPE bloom_filter GRANULARITY 1
