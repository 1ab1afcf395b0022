-- runstream tables, version 8: point contexts (rank, node, device, free pairs).
-- Statements are separated by a line holding only ';'. Every statement is idempotent.
--
-- A point's context is stored once per point as LowCardinality(String): the canonical
-- compact JSON of its pairs, keys sorted ('' for the empty context, which every point
-- written before contexts has). A run's ranks are a handful of dictionary entries, so
-- filtering and grouping by context compare dictionary codes, and an analyst reads a
-- dimension with JSONExtractString(context, 'rank').
--
-- Where it sits in the sort key: an existing table can only get a new column appended to
-- its sorting key (in the same ALTER that adds it, and without a DEFAULT expression), so the
-- key becomes (experiment_id, run_id, key, step, timestamp, value, context) and the primary
-- index stays (experiment_id, run_id, key, step, timestamp, value). That is what the reads
-- need: every context read is of one run and one key, which the primary index narrows to
-- that series' granules; the points of all ranks of a step sit together there, so the
-- cross-rank aggregate per step reads them in order, and a per-rank read filters codes in
-- the same few granules. Having context last also means identical points of two ranks are
-- two rows (they no longer collapse), while a resent point of one rank still collapses.
-- Other migrations may add columns or codecs to metrics beside this one: this statement
-- names only the columns it needs.
ALTER TABLE metrics
    ADD COLUMN IF NOT EXISTS context LowCardinality(String) AFTER value,
    MODIFY ORDER BY (experiment_id, run_id, key, step, timestamp, value, context)
;
-- Per (run, key, context): latest = max of (step, timestamp, value); min, max, count, as
-- latest_metrics has per (run, key) (which stays: MLflow's one value per key).
CREATE TABLE IF NOT EXISTS latest_context_metrics (
    experiment_id String,
    run_id String,
    key LowCardinality(String),
    context LowCardinality(String),
    latest SimpleAggregateFunction(max, Tuple(Int64, Int64, Float64)),
    min_value SimpleAggregateFunction(min, Float64),
    max_value SimpleAggregateFunction(max, Float64),
    count SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (experiment_id, run_id, key, context)
SETTINGS non_replicated_deduplication_window = 10000
;
-- Points written before this migration: their summaries, from latest_metrics, under the
-- empty context (the one they have). A second worker applying this at once inserts the
-- same block, which the deduplication window drops.
INSERT INTO latest_context_metrics (
    experiment_id, run_id, key, context, latest, min_value, max_value, count
)
SELECT experiment_id, run_id, key, '', max(latest), min(min_value), max(max_value), sum(count)
FROM latest_metrics
WHERE (SELECT count() FROM latest_context_metrics) = 0
GROUP BY experiment_id, run_id, key
ORDER BY experiment_id, run_id, key
