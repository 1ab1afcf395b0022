CREATE TABLE audit_events
(
    `topic` String,
    `partition` Int32,
    `offset` Int64,
    `event_id` String,
    `principal` LowCardinality(String),
    `producer_id` String,
    `event_type` LowCardinality(String),
    `experiment_id` String,
    `run_id` String,
    `client_ts` Int64,
    `items` UInt32,
    `outcome` LowCardinality(String)
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE experiment_tags
(
    `experiment_id` String,
    `key` String,
    `value` String,
    `version` UInt64,
    `is_deleted` UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (experiment_id, key)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
;
CREATE TABLE experiments
(
    `experiment_id` String,
    `name` String,
    `artifact_location` String,
    `lifecycle_stage` LowCardinality(String),
    `creation_time` Int64,
    `last_update_time` Int64,
    `version` UInt64,
    `created_by` String DEFAULT ''
)
ENGINE = ReplacingMergeTree(version)
ORDER BY experiment_id
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
;
CREATE TABLE ingest_batches
(
    `topic` String,
    `partition` Int32,
    `first_offset` Int64,
    `end_offset` Int64,
    `created_at` DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(end_offset)
ORDER BY (topic, partition)
SETTINGS index_granularity = 8192
;
CREATE TABLE ingest_offsets
(
    `topic` String,
    `partition` Int32,
    `next_offset` Int64,
    `updated_at` DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (topic, partition)
SETTINGS index_granularity = 8192
;
CREATE TABLE ingest_producers
(
    `topic` String,
    `partition` Int32,
    `producer_id` String,
    `seq` Int64,
    `offset` Int64
)
ENGINE = ReplacingMergeTree(offset)
ORDER BY (topic, partition, producer_id)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE latest_metrics
(
    `experiment_id` String,
    `key` String,
    `run_id` String,
    `latest` SimpleAggregateFunction(max, Tuple(
        Int64,
        Int64,
        Float64)),
    `min_value` SimpleAggregateFunction(min, Float64),
    `max_value` SimpleAggregateFunction(max, Float64),
    `count` SimpleAggregateFunction(sum, UInt64),
    INDEX idx_run_id run_id TYPE bloom_filter GRANULARITY 1,
    PROJECTION by_run
    (
        SELECT *
        ORDER BY
            run_id,
            key
    ) WITH SETTINGS (index_granularity = 256)
)
ENGINE = AggregatingMergeTree
ORDER BY (experiment_id, key, run_id)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192, deduplicate_merge_projection_mode = 'rebuild'
;
CREATE TABLE metrics
(
    `experiment_id` String,
    `run_id` String,
    `key` LowCardinality(String),
    `step` Int64,
    `timestamp` Int64,
    `value` Float64,
    INDEX idx_run_id run_id TYPE bloom_filter GRANULARITY 1
)
ENGINE = ReplacingMergeTree
ORDER BY (experiment_id, run_id, key, step, timestamp, value)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE params
(
    `experiment_id` String,
    `run_id` String,
    `key` String,
    `value` String,
    INDEX idx_run_id run_id TYPE bloom_filter GRANULARITY 1,
    PROJECTION by_run
    (
        SELECT *
        ORDER BY
            run_id,
            key
    ) WITH SETTINGS (index_granularity = 256)
)
ENGINE = ReplacingMergeTree
ORDER BY (experiment_id, key, run_id)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000, deduplicate_merge_projection_mode = 'rebuild'
;
CREATE TABLE runs
(
    `run_id` String,
    `experiment_id` String,
    `run_name` String,
    `user_id` String,
    `status` LowCardinality(String),
    `start_time` Int64,
    `end_time` Nullable(Int64),
    `artifact_uri` String,
    `lifecycle_stage` LowCardinality(String),
    `parent_run_id` String,
    `deleted_time` Nullable(Int64),
    `version` UInt64,
    `created_by` String DEFAULT '',
    INDEX idx_run_id run_id TYPE bloom_filter GRANULARITY 1
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (experiment_id, run_id)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000
;
CREATE TABLE schema_migrations
(
    `version` UInt32,
    `name` String,
    `checksum` String,
    `applied_at` DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
SETTINGS index_granularity = 8192
;
CREATE TABLE tags
(
    `experiment_id` String,
    `run_id` String,
    `key` String,
    `value` String,
    `version` UInt64,
    `is_deleted` UInt8 DEFAULT 0,
    INDEX idx_run_id run_id TYPE bloom_filter GRANULARITY 1,
    PROJECTION by_run
    (
        SELECT *
        ORDER BY
            run_id,
            key
    ) WITH SETTINGS (index_granularity = 256)
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (experiment_id, key, run_id)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000, deduplicate_merge_projection_mode = 'rebuild'
;
