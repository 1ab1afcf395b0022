"""Views for analysts and Grafana, created by the query service on start in its database
(``CREATE OR REPLACE VIEW``: always the current definition).  See docs/sql.md."""

from __future__ import annotations

import logging

from runstream.proto.vocabulary import IMPORT_SOURCE_EXPERIMENT_ID_TAG, IMPORT_SOURCE_TAG

from .errors import QueryError
from .model_views import MODEL_VIEWS
from .ports import SqlPort

logger = logging.getLogger(__name__)

VIEWS: dict[str, str] = {
    # One row per run: attributes, params, tags and latest metric values as maps.
    "runs_wide": """
CREATE OR REPLACE VIEW runs_wide AS
SELECT
    r.experiment_id AS experiment_id, r.run_id AS run_id, r.run_name AS run_name,
    r.user_id AS user_id, r.status AS status, r.start_time AS start_time,
    r.end_time AS end_time, fromUnixTimestamp64Milli(r.start_time, 'UTC') AS started_at,
    r.artifact_uri AS artifact_uri, r.lifecycle_stage AS lifecycle_stage,
    r.parent_run_id AS parent_run_id,
    p.params AS params, t.tags AS tags, m.metrics AS metrics, r.created_by AS created_by
FROM (SELECT * FROM runs FINAL) AS r
LEFT JOIN (
    SELECT run_id, mapFromArrays(groupArray(key), groupArray(value)) AS params
    FROM params FINAL GROUP BY run_id
) AS p ON p.run_id = r.run_id
LEFT JOIN (
    SELECT run_id, mapFromArrays(groupArray(key), groupArray(value)) AS tags
    FROM tags FINAL GROUP BY run_id
) AS t ON t.run_id = r.run_id
LEFT JOIN (
    SELECT run_id, mapFromArrays(groupArray(key), groupArray(tupleElement(latest, 3))) AS metrics
    FROM latest_metrics FINAL GROUP BY run_id
) AS m ON m.run_id = r.run_id
""",
    # One row per (run, key): the latest point and the summary.
    "run_metrics": """
CREATE OR REPLACE VIEW run_metrics AS
SELECT
    experiment_id, run_id, key,
    tupleElement(latest, 1) AS latest_step, tupleElement(latest, 2) AS latest_timestamp,
    tupleElement(latest, 3) AS latest_value, min_value, max_value, count AS points
FROM latest_metrics FINAL
""",
    # Every metric point in long form, with a DateTime64 for time-series tools.
    "metric_points": """
CREATE OR REPLACE VIEW metric_points AS
SELECT
    experiment_id, run_id, key, step, timestamp,
    fromUnixTimestamp64Milli(timestamp, 'UTC') AS time, value
FROM metrics FINAL
""",
    # Who wrote what: one row per event ingest decoded, with the writer's principal.
    "audit_log": """
CREATE OR REPLACE VIEW audit_log AS
SELECT
    fromUnixTimestamp64Milli(client_ts, 'UTC') AS time, principal, event_type,
    experiment_id, run_id, items, outcome, event_id, producer_id, topic, partition, offset
FROM audit_events FINAL
""",
    # The experiment ids ``runstream import mlflow`` mapped: read from the tags it sets on
    # every experiment it copies (so the mapping is in the log and survives a replay).
    "experiment_imports": f"""
CREATE OR REPLACE VIEW experiment_imports AS
SELECT
    s.experiment_id AS experiment_id, e.name AS name, e.lifecycle_stage AS lifecycle_stage,
    s.value AS source_experiment_id, u.value AS source
FROM (
    SELECT experiment_id, value FROM experiment_tags FINAL
    WHERE key = '{IMPORT_SOURCE_EXPERIMENT_ID_TAG}' AND is_deleted = 0
) AS s
LEFT JOIN (
    SELECT experiment_id, value FROM experiment_tags FINAL
    WHERE key = '{IMPORT_SOURCE_TAG}' AND is_deleted = 0
) AS u ON u.experiment_id = s.experiment_id
LEFT JOIN (SELECT * FROM experiments FINAL) AS e ON e.experiment_id = s.experiment_id
""",
    **MODEL_VIEWS,
}


def ensure_views(store: SqlPort, *, quiet: bool = False) -> bool:
    """Create or replace the views; False when the tables do not exist yet."""
    try:
        for name, statement in VIEWS.items():
            store.command(statement)
            logger.debug("view %s ready", name)
    except QueryError as exc:
        logger.log(
            logging.DEBUG if quiet else logging.INFO,
            "analyst views not created yet (retrying every few seconds): %s",
            exc,
        )
        return False
    return True
