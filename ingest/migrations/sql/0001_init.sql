-- runstream tables, version 1. Applied by the ingest worker on start, in the target database.
-- Statements are separated by a line holding only ';'.
-- Every table is idempotent under replay: ReplacingMergeTree on natural keys (points,
-- params) or on the Kafka offset of the last applied event (runs, experiments, tags), and
-- the summary table only receives deterministic batches with insert deduplication tokens.

CREATE TABLE IF NOT EXISTS experiments (
    experiment_id String,
    name String,
    artifact_location String,
    lifecycle_stage LowCardinality(String),
    creation_time Int64,
    last_update_time Int64,
    -- Kafka offset of the last event applied (all events of one experiment share a partition)
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY experiment_id
;
CREATE TABLE IF NOT EXISTS experiment_tags (
    experiment_id String,
    key String,
    value String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (experiment_id, key)
;
CREATE TABLE IF NOT EXISTS runs (
    run_id String,
    experiment_id String,
    run_name String,
    user_id String,
    status LowCardinality(String),
    start_time Int64,
    end_time Nullable(Int64),
    artifact_uri String,
    lifecycle_stage LowCardinality(String),
    parent_run_id String,
    deleted_time Nullable(Int64),
    version UInt64,
    INDEX idx_run_id run_id TYPE bloom_filter GRANULARITY 1
) ENGINE = ReplacingMergeTree(version)
ORDER BY (experiment_id, run_id)
;
CREATE TABLE IF NOT EXISTS params (
    experiment_id String,
    run_id String,
    key String,
    value String,
    INDEX idx_run_id run_id TYPE bloom_filter GRANULARITY 1
) ENGINE = ReplacingMergeTree
ORDER BY (experiment_id, key, run_id)
;
CREATE TABLE IF NOT EXISTS tags (
    experiment_id String,
    run_id String,
    key String,
    value String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0,
    INDEX idx_run_id run_id TYPE bloom_filter GRANULARITY 1
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (experiment_id, key, run_id)
;
-- Raw points. Identical (run, key, step, timestamp, value) points collapse, as in MLflow.
CREATE TABLE IF NOT EXISTS metrics (
    experiment_id String,
    run_id String,
    key LowCardinality(String),
    step Int64,
    timestamp Int64,
    value Float64
) ENGINE = ReplacingMergeTree
ORDER BY (experiment_id, run_id, key, step, timestamp, value)
SETTINGS non_replicated_deduplication_window = 10000
;
-- Per (run, key): latest = max of (step, timestamp, value); min, max, count of points.
-- Read with GROUP BY (or FINAL) and max(latest), min(min_value), max(max_value), sum(count).
CREATE TABLE IF NOT EXISTS latest_metrics (
    experiment_id String,
    key String,
    run_id String,
    latest SimpleAggregateFunction(max, Tuple(Int64, Int64, Float64)),
    min_value SimpleAggregateFunction(min, Float64),
    max_value SimpleAggregateFunction(max, Float64),
    count SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (experiment_id, key, run_id)
SETTINGS non_replicated_deduplication_window = 10000
;
-- Next offset to apply per partition (everything below it is in the tables).
-- The query service reads it to honour read-your-writes tokens.
CREATE TABLE IF NOT EXISTS ingest_offsets (
    topic String,
    partition Int32,
    next_offset Int64,
    updated_at DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (topic, partition)
;
INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time, version)
SELECT '0', 'Default', '', 'active', 0, 0, 0
WHERE (SELECT count() FROM experiments WHERE experiment_id = '0') = 0
