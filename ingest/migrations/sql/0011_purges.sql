-- runstream tables, version 11: permanent deletion (runstream gc).
-- Statements are separated by a line holding only ';'. Every statement is idempotent.
--
-- One row per tombstone ingest applied (RunPurged, ExperimentPurged): what was purged, by
-- which event. The projection reads it to drop any later event of a purged run or
-- experiment, and a replay deletes every row of the ids it lists once it is done, so a
-- rebuilt database never holds a purged run, whatever order its partitions were read in.
-- Experiment ids come from names, so an experiment created again under a purged name
-- writes a row with lifted = 1 (the newest row per id counts). Ids only: no names,
-- params, tags or values.
CREATE TABLE IF NOT EXISTS purges (
    kind LowCardinality(String),
    id String,
    experiment_id String,
    topic String,
    partition Int32,
    offset Int64,
    purged_time Int64,
    principal String,
    reason String,
    lifted UInt8 DEFAULT 0
) ENGINE = ReplacingMergeTree(offset)
ORDER BY (kind, id)
SETTINGS non_replicated_deduplication_window = 10000
