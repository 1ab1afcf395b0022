-- runstream tables, version 3: run-ordered projections for the read side.
-- Statements are separated by a line holding only ';'. Every statement is idempotent.
--
-- params, tags and latest_metrics are sorted (experiment_id, key, run_id): right for filtering
-- runs by one key, but fetching a page of runs' params, tags and latest metrics by run_id then
-- reads the run_id column of the whole experiment. A projection sorted by (run_id, key)
-- serves those lookups; ClickHouse picks it by itself. On these engines a projection must
-- be rebuilt after merges that collapse rows ('rebuild').
ALTER TABLE params MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild'
;
ALTER TABLE params ADD PROJECTION IF NOT EXISTS by_run
    (SELECT * ORDER BY run_id, key) WITH SETTINGS (index_granularity = 256)
;
ALTER TABLE params MATERIALIZE PROJECTION by_run
;
ALTER TABLE latest_metrics MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild'
;
ALTER TABLE latest_metrics ADD PROJECTION IF NOT EXISTS by_run
    (SELECT * ORDER BY run_id, key) WITH SETTINGS (index_granularity = 256)
;
ALTER TABLE latest_metrics MATERIALIZE PROJECTION by_run
;
ALTER TABLE tags MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild'
;
ALTER TABLE tags ADD PROJECTION IF NOT EXISTS by_run
    (SELECT * ORDER BY run_id, key) WITH SETTINGS (index_granularity = 256)
;
ALTER TABLE tags MATERIALIZE PROJECTION by_run
