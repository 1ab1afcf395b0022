-- runstream tables, version 5: who wrote what.
-- Statements are separated by a line holding only ';'. Every statement is idempotent.
--
-- Every event carries the principal of the gateway call that wrote it (the 'principal'
-- header; '' when written straight to Kafka by the SDK, or before the header existed).

-- The principal whose ExperimentCreated / RunCreated ingest applied: the creator, who
-- holds MANAGE on the experiment unless a grant says otherwise (docs/security.md).
ALTER TABLE experiments ADD COLUMN IF NOT EXISTS created_by String DEFAULT ''
;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS created_by String DEFAULT ''
;
-- One row per event ingest decoded: who wrote it, what it was, what ingest did with it
-- ('applied', or the dead-letter reason). Keyed by its place in the log, so replays and
-- rebuilt batches leave one row per event.
CREATE TABLE IF NOT EXISTS audit_events (
    topic String,
    partition Int32,
    offset Int64,
    event_id String,
    principal LowCardinality(String),
    producer_id String,
    event_type LowCardinality(String),
    experiment_id String,
    run_id String,
    client_ts Int64,
    items UInt32,
    outcome LowCardinality(String)
) ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 10000
