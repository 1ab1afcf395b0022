"""Analyst views over the model half (registry, logged models, datasets of runs), created
with the run views (``views.py``).  See docs/sql.md."""

from __future__ import annotations

MODEL_VIEWS: dict[str, str] = {
    # One row per registered model: tags and aliases as maps, its versions counted.
    "registered_models_wide": """
CREATE OR REPLACE VIEW registered_models_wide AS
SELECT
    m.name AS name, m.description AS description,
    m.creation_time AS creation_time, m.last_updated_time AS last_updated_time,
    fromUnixTimestamp64Milli(m.creation_time, 'UTC') AS created_at,
    ifNull(v.versions, 0) AS versions, ifNull(v.latest_version, 0) AS latest_version,
    t.tags AS tags, a.aliases AS aliases
FROM (SELECT * FROM registered_models FINAL) AS m
LEFT JOIN (
    SELECT name, count() AS versions, max(model_version) AS latest_version
    FROM model_versions FINAL GROUP BY name
) AS v ON v.name = m.name
LEFT JOIN (
    SELECT name, mapFromArrays(groupArray(key), groupArray(value)) AS tags
    FROM registered_model_tags FINAL GROUP BY name
) AS t ON t.name = m.name
LEFT JOIN (
    SELECT name, mapFromArrays(groupArray(alias), groupArray(model_version)) AS aliases
    FROM registered_model_aliases FINAL GROUP BY name
) AS a ON a.name = m.name
""",
    # One row per live model version: stage, where it came from, tags, its aliases.
    "model_versions_wide": """
CREATE OR REPLACE VIEW model_versions_wide AS
SELECT
    v.name AS name, v.model_version AS version, v.current_stage AS stage,
    v.description AS description, v.source AS source,
    v.storage_location AS storage_location, v.run_id AS run_id, v.model_id AS model_id,
    v.creation_time AS creation_time, v.last_updated_time AS last_updated_time,
    fromUnixTimestamp64Milli(v.creation_time, 'UTC') AS created_at,
    t.tags AS tags, ifNull(a.aliases, []) AS aliases
FROM (SELECT * FROM model_versions FINAL) AS v
LEFT JOIN (
    SELECT name, model_version, mapFromArrays(groupArray(key), groupArray(value)) AS tags
    FROM model_version_tags FINAL GROUP BY name, model_version
) AS t ON t.name = v.name AND t.model_version = v.model_version
LEFT JOIN (
    SELECT name, model_version, groupArray(alias) AS aliases
    FROM registered_model_aliases FINAL GROUP BY name, model_version
) AS a ON a.name = v.name AND a.model_version = v.model_version
""",
    # One row per logged model: tags, params and each metric's latest value as maps.
    "logged_models_wide": """
CREATE OR REPLACE VIEW logged_models_wide AS
SELECT
    m.experiment_id AS experiment_id, m.model_id AS model_id, m.name AS name,
    m.status AS status, m.model_type AS model_type, m.source_run_id AS source_run_id,
    m.artifact_location AS artifact_location, m.lifecycle_stage AS lifecycle_stage,
    m.creation_timestamp AS creation_timestamp,
    fromUnixTimestamp64Milli(m.creation_timestamp, 'UTC') AS created_at,
    t.tags AS tags, p.params AS params, x.metrics AS metrics
FROM (SELECT * FROM logged_models FINAL) AS m
LEFT JOIN (
    SELECT model_id, mapFromArrays(groupArray(key), groupArray(value)) AS tags
    FROM logged_model_tags FINAL GROUP BY model_id
) AS t ON t.model_id = m.model_id
LEFT JOIN (
    SELECT model_id, mapFromArrays(groupArray(key), groupArray(value)) AS params
    FROM logged_model_params FINAL GROUP BY model_id
) AS p ON p.model_id = m.model_id
LEFT JOIN (
    SELECT model_id, mapFromArrays(groupArray(key), groupArray(latest)) AS metrics FROM (
        SELECT model_id, key, argMin(value, (-timestamp, -step, run_id)) AS latest
        FROM logged_model_metrics GROUP BY model_id, key
    ) GROUP BY model_id
) AS x ON x.model_id = m.model_id
""",
    # One row per (run, dataset): what each run was trained or evaluated on.
    "run_datasets": """
CREATE OR REPLACE VIEW run_datasets AS
SELECT
    experiment_id, run_id, dataset_name, dataset_digest,
    argMin(source_type, version) AS source_type, argMin(source, version) AS source,
    argMin(tags, version)['mlflow.data.context'] AS context
FROM run_inputs
GROUP BY experiment_id, run_id, dataset_name, dataset_digest
""",
}
