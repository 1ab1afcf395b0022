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
CREATE TABLE latest_context_metrics
(
    `experiment_id` String,
    `run_id` String,
    `key` LowCardinality(String),
    `context` LowCardinality(String),
    `latest` SimpleAggregateFunction(max, Tuple(
        Int64,
        Int64,
        Float64)),
    `min_value` SimpleAggregateFunction(min, Float64),
    `max_value` SimpleAggregateFunction(max, Float64),
    `count` SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (experiment_id, run_id, key, context)
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
    PROJECTION by_run_page
    (
        SELECT *
        ORDER BY
            run_id,
            key
    ) WITH SETTINGS (index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 8192)
)
ENGINE = AggregatingMergeTree
ORDER BY (experiment_id, key, run_id)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192, deduplicate_merge_projection_mode = 'rebuild'
;
CREATE TABLE logged_model_metrics
(
    `experiment_id` String,
    `model_id` String,
    `key` String,
    `timestamp` Int64,
    `step` Int64,
    `run_id` String,
    `value` Float64,
    `dataset_name` String,
    `dataset_digest` String
)
ENGINE = ReplacingMergeTree
ORDER BY (experiment_id, model_id, key, timestamp, step, run_id, value, dataset_name, dataset_digest)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE logged_model_params
(
    `experiment_id` String,
    `model_id` String,
    `key` String,
    `value` String,
    `version` UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (experiment_id, model_id, key)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE logged_model_tags
(
    `experiment_id` String,
    `model_id` String,
    `key` String,
    `value` String,
    `version` UInt64,
    `is_deleted` UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (experiment_id, model_id, key)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE logged_models
(
    `model_id` String,
    `experiment_id` String,
    `name` String,
    `artifact_location` String,
    `creation_timestamp` Int64,
    `last_updated_timestamp` Int64,
    `status` LowCardinality(String),
    `status_message` String,
    `lifecycle_stage` LowCardinality(String),
    `model_type` Nullable(String),
    `source_run_id` String,
    `version` UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (experiment_id, model_id)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE metrics
(
    `experiment_id` String,
    `run_id` String,
    `key` LowCardinality(String),
    `step` Int64 CODEC(DoubleDelta, ZSTD(1)),
    `timestamp` Int64 CODEC(DoubleDelta, ZSTD(1)),
    `value` Float64 CODEC(Gorilla(8), ZSTD(1)),
    `context` LowCardinality(String),
    INDEX idx_run_id run_id TYPE bloom_filter GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PRIMARY KEY (experiment_id, run_id, key, step, timestamp, value)
ORDER BY (experiment_id, run_id, key, step, timestamp, value, context)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE model_version_tags
(
    `name` String,
    `model_version` Int64,
    `key` String,
    `value` String,
    `version` UInt64,
    `is_deleted` UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (name, model_version, key)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE model_versions
(
    `name` String,
    `model_version` Int64,
    `creation_time` Int64,
    `last_updated_time` Int64,
    `description` Nullable(String),
    `user_id` String,
    `current_stage` LowCardinality(String),
    `source` String,
    `storage_location` String,
    `run_id` String,
    `run_link` Nullable(String),
    `status` LowCardinality(String),
    `status_message` String,
    `model_id` String,
    `event_id` String,
    `version` UInt64,
    `is_deleted` UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (name, model_version)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE params
(
    `experiment_id` String,
    `run_id` String,
    `key` String,
    `value` String,
    INDEX idx_run_id run_id TYPE bloom_filter GRANULARITY 1,
    PROJECTION by_run_page
    (
        SELECT *
        ORDER BY
            run_id,
            key
    ) WITH SETTINGS (index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 8192)
)
ENGINE = ReplacingMergeTree
ORDER BY (experiment_id, key, run_id)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000, deduplicate_merge_projection_mode = 'rebuild'
;
CREATE TABLE purges
(
    `kind` LowCardinality(String),
    `id` String,
    `experiment_id` String,
    `topic` String,
    `partition` Int32,
    `offset` Int64,
    `purged_time` Int64,
    `principal` String,
    `reason` String,
    `lifted` UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(offset)
ORDER BY (kind, id)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE registered_model_aliases
(
    `name` String,
    `alias` String,
    `model_version` Int64,
    `version` UInt64,
    `is_deleted` UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (name, alias)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE registered_model_tags
(
    `name` String,
    `key` String,
    `value` String,
    `version` UInt64,
    `is_deleted` UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (name, key)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE registered_models
(
    `name` String,
    `creation_time` Int64,
    `last_updated_time` Int64,
    `description` Nullable(String),
    `max_version` Int64,
    `version` UInt64,
    `is_deleted` UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY name
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE run_inputs
(
    `experiment_id` String,
    `run_id` String,
    `dataset_name` String,
    `dataset_digest` String,
    `source_type` String,
    `source` String,
    `dataset_schema` Nullable(String),
    `dataset_profile` Nullable(String),
    `tags` Map(String, String),
    `version` UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (experiment_id, run_id, dataset_name, dataset_digest, version)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
CREATE TABLE run_model_links
(
    `experiment_id` String,
    `run_id` String,
    `direction` LowCardinality(String),
    `model_id` String,
    `step` Int64,
    `version` UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (experiment_id, run_id, direction, model_id, step)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
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
    PROJECTION by_run_page
    (
        SELECT *
        ORDER BY
            run_id,
            key
    ) WITH SETTINGS (index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 8192)
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (experiment_id, key, run_id)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000, deduplicate_merge_projection_mode = 'rebuild'
;
CREATE TABLE write_outcomes
(
    `event_id` String,
    `offset` UInt64,
    `error_code` LowCardinality(String),
    `message` String,
    `name` String,
    `model_version` Int64
)
ENGINE = ReplacingMergeTree(offset)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192
;
