-- runstream tables, version 6: the model half (model registry, logged models, a run's
-- inputs and outputs) and the outcomes of registry writes.
-- Statements are separated by a line holding only ';'. Every statement is idempotent.
--
-- Versioned tables: `version` is the Kafka offset of the event that wrote the row (every
-- event of one registered model, or of one logged model, sits in one partition, so offsets
-- order them); read with FINAL or argMax(..., version). `is_deleted = 1` rows vanish under
-- FINAL. Every table has a deduplication window: each batch writes it with a token.

-- The model registry: one row per registered model (name is the key; a rename deletes the
-- rows under the old name and writes them under the new one, in the same batch).
-- max_version: the highest version number ever given to this model (deleted versions keep
-- theirs), so the next version is max_version + 1.
CREATE TABLE IF NOT EXISTS registered_models (
    name String,
    creation_time Int64,
    last_updated_time Int64,
    description Nullable(String),
    max_version Int64,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY name
SETTINGS non_replicated_deduplication_window = 10000
;
CREATE TABLE IF NOT EXISTS registered_model_tags (
    name String,
    key String,
    value String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (name, key)
SETTINGS non_replicated_deduplication_window = 10000
;
CREATE TABLE IF NOT EXISTS registered_model_aliases (
    name String,
    alias String,
    model_version Int64,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (name, alias)
SETTINGS non_replicated_deduplication_window = 10000
;
-- One row per model version. event_id: the ModelVersionCreated event that made it (a
-- creator finds its number by it).
CREATE TABLE IF NOT EXISTS model_versions (
    name String,
    model_version Int64,
    creation_time Int64,
    last_updated_time Int64,
    description Nullable(String),
    user_id String,
    current_stage LowCardinality(String),
    source String,
    storage_location String,
    run_id String,
    run_link Nullable(String),
    status LowCardinality(String),
    status_message String,
    model_id String,
    event_id String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (name, model_version)
SETTINGS non_replicated_deduplication_window = 10000
;
CREATE TABLE IF NOT EXISTS model_version_tags (
    name String,
    model_version Int64,
    key String,
    value String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (name, model_version, key)
SETTINGS non_replicated_deduplication_window = 10000
;
-- What ingest decided about each registry event: error_code '' (applied) or MLflow's code
-- name, with MLflow's message; name and model_version it created or changed.
CREATE TABLE IF NOT EXISTS write_outcomes (
    event_id String,
    offset UInt64,
    error_code LowCardinality(String),
    message String,
    name String,
    model_version Int64
) ENGINE = ReplacingMergeTree(offset)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 10000
;
-- Logged models (MLflow 3): one row per model state, like runs.
CREATE TABLE IF NOT EXISTS logged_models (
    model_id String,
    experiment_id String,
    name String,
    artifact_location String,
    creation_timestamp Int64,
    last_updated_timestamp Int64,
    status LowCardinality(String),
    status_message String,
    lifecycle_stage LowCardinality(String),
    model_type Nullable(String),
    source_run_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (experiment_id, model_id)
SETTINGS non_replicated_deduplication_window = 10000
;
CREATE TABLE IF NOT EXISTS logged_model_tags (
    experiment_id String,
    model_id String,
    key String,
    value String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (experiment_id, model_id, key)
SETTINGS non_replicated_deduplication_window = 10000
;
CREATE TABLE IF NOT EXISTS logged_model_params (
    experiment_id String,
    model_id String,
    key String,
    value String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (experiment_id, model_id, key)
SETTINGS non_replicated_deduplication_window = 10000
;
-- Metric points that name a logged model (MLflow's logged_model_metrics); they come with
-- the run's events. Identical points collapse.
CREATE TABLE IF NOT EXISTS logged_model_metrics (
    experiment_id String,
    model_id String,
    key String,
    timestamp Int64,
    step Int64,
    run_id String,
    value Float64,
    dataset_name String,
    dataset_digest String
) ENGINE = ReplacingMergeTree
ORDER BY (experiment_id, model_id, key, timestamp, step, run_id, value, dataset_name, dataset_digest)
SETTINGS non_replicated_deduplication_window = 10000
;
-- The datasets a run consumed: one row per (run, dataset name, digest) and logging event;
-- the first one logged counts (read with argMin(..., version)), as in MLflow.
CREATE TABLE IF NOT EXISTS run_inputs (
    experiment_id String,
    run_id String,
    dataset_name String,
    dataset_digest String,
    source_type String,
    source String,
    dataset_schema Nullable(String),
    dataset_profile Nullable(String),
    tags Map(String, String),
    version UInt64
) ENGINE = ReplacingMergeTree
ORDER BY (experiment_id, run_id, dataset_name, dataset_digest, version)
SETTINGS non_replicated_deduplication_window = 10000
;
-- Logged models a run consumed (direction 'input') or produced ('output', with a step).
CREATE TABLE IF NOT EXISTS run_model_links (
    experiment_id String,
    run_id String,
    direction LowCardinality(String),
    model_id String,
    step Int64,
    version UInt64
) ENGINE = ReplacingMergeTree
ORDER BY (experiment_id, run_id, direction, model_id, step)
SETTINGS non_replicated_deduplication_window = 10000
