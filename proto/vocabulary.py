"""Words every process must agree on, said once: run statuses, lifecycle stages, the
default topic, the default experiment, and how an experiment's id follows from its name."""

from __future__ import annotations

import hashlib
from typing import cast

from .v1 import common_pb2

# -- run statuses (MLflow's names; the proto enum ``RunStatus`` carries them on the wire) --
RUNNING = "RUNNING"
SCHEDULED = "SCHEDULED"
FINISHED = "FINISHED"
FAILED = "FAILED"
KILLED = "KILLED"
RUN_STATUSES: tuple[str, ...] = (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED)
TERMINAL_STATUSES = frozenset({FINISHED, FAILED, KILLED})


def status_to_proto(name: str) -> common_pb2.RunStatus:
    """``"FINISHED"`` -> ``common_pb2.FINISHED``; an unknown name -> ``RUN_STATUS_UNSPECIFIED``."""
    if name in RUN_STATUSES:
        return cast(common_pb2.RunStatus, common_pb2.RunStatus.Value(name))
    return common_pb2.RUN_STATUS_UNSPECIFIED


def status_from_proto(value: int) -> str | None:
    """``common_pb2.FINISHED`` -> ``"FINISHED"``; unspecified or unknown -> ``None``."""
    if value == common_pb2.RUN_STATUS_UNSPECIFIED:
        return None
    try:
        return common_pb2.RunStatus.Name(value)
    except ValueError:
        return None


# -- lifecycle stages of experiments and runs ----------------------------------------------
ACTIVE = "active"
DELETED = "deleted"
LIFECYCLE_STAGES: tuple[str, ...] = (ACTIVE, DELETED)

# -- the event log -------------------------------------------------------------------------
DEFAULT_TOPIC = "runstream.events"
DEAD_LETTER_SUFFIX = ".dlq"
# Replicas of the topics runstream creates: up to 3, as the cluster's brokers allow; an
# acknowledged write (acks=all) is on min_insync_replicas(replicas) of them.
MAX_TOPIC_REPLICAS = 3


def replicas_for(brokers: int) -> int:
    """Replication factor of a new topic on a cluster of ``brokers``: min(3, brokers)."""
    return max(1, min(MAX_TOPIC_REPLICAS, brokers))


def min_insync_replicas(replicas: int) -> int:
    """``min.insync.replicas`` for a replication factor: 2 of 3, 1 of 1 or 2 (a write
    survives the loss of any one broker, and one broker down does not stop writes)."""
    return max(1, min(2, replicas - 1))


# -- experiments ---------------------------------------------------------------------------
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


def experiment_id_for_name(name: str) -> str:
    """A deterministic experiment id for ``name``: every process that names the same
    experiment gets the same id, without a round trip.  ``Default`` is ``"0"``.

    The id is the decimal form of the first 63 bits of SHA-256 of the UTF-8 name.  This is
    a contract between processes (SDK, gateway, MLflow plugin, ingest): never change it.
    """
    if name == DEFAULT_EXPERIMENT_NAME:
        return DEFAULT_EXPERIMENT_ID
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    number = int.from_bytes(digest[:8], "big") >> 1
    return str(number or 1)


# Experiment tags that ``runstream import mlflow`` sets on every experiment it copies: the
# source's experiment id and the source (its URI without credentials).  The mapping of ids
# is read from them (the ``experiment_imports`` view), so it lives in the log like every
# other write and survives a replay.
IMPORT_SOURCE_EXPERIMENT_ID_TAG = "runstream.import.source_experiment_id"
IMPORT_SOURCE_TAG = "runstream.import.source"
IMPORT_TAG_PREFIX = "runstream.import."


# -- the model registry ----------------------------------------------------------------------
# Every registry event (registered models, their versions, tags and aliases) travels under
# this one Kafka key, so all of them sit in one partition, in one order.  Ingest decides
# there, in log order, whether a name is free and which number a new version gets; a name
# key per model could not make a rename (which frees one name and takes another) atomic.
# See docs/ingest.md, "The model registry".
REGISTRY_KEY = "model-registry"

# Model version stages (MLflow's legacy stages; names as MLflow spells them).
STAGE_NONE = "None"
STAGE_STAGING = "Staging"
STAGE_PRODUCTION = "Production"
STAGE_ARCHIVED = "Archived"
MODEL_VERSION_STAGES: tuple[str, ...] = (
    STAGE_NONE,
    STAGE_STAGING,
    STAGE_PRODUCTION,
    STAGE_ARCHIVED,
)
# Stages whose current holders ``archive_existing_versions`` moves to Archived.
ACTIVE_MODEL_VERSION_STAGES: tuple[str, ...] = (STAGE_STAGING, STAGE_PRODUCTION)
# A model version is READY as soon as it exists (no asynchronous copy).
MODEL_VERSION_READY = "READY"


def canonical_stage(name: str) -> str | None:
    """``"production"`` -> ``"Production"`` (case-insensitive, as MLflow); ``None`` if unknown."""
    for stage in MODEL_VERSION_STAGES:
        if stage.lower() == name.lower():
            return stage
    return None


# Aliases MLflow reserves: ``latest`` (the newest version) and ``v<number>``.
RESERVED_ALIAS = "latest"


def is_reserved_alias(alias: str) -> bool:
    lowered = alias.lower()
    return lowered == RESERVED_ALIAS or (
        len(lowered) > 1 and lowered[0] == "v" and lowered[1:].isdigit()
    )


# -- logged models (MLflow 3) ----------------------------------------------------------------
# Events of one logged model travel under ``LOGGED_MODEL_KEY_PREFIX + model_id``.
LOGGED_MODEL_KEY_PREFIX = "logged-model:"
LOGGED_MODEL_ID_PREFIX = "m-"
LOGGED_MODEL_PENDING = "PENDING"
LOGGED_MODEL_READY = "READY"
LOGGED_MODEL_FAILED = "FAILED"
LOGGED_MODEL_STATUSES: tuple[str, ...] = (
    LOGGED_MODEL_PENDING,
    LOGGED_MODEL_READY,
    LOGGED_MODEL_FAILED,
)
EXPERIMENT_KEY_PREFIX = "experiment:"

# audit_events.outcome of an event ingest applied (any other outcome names why it did not:
# a dead-letter reason or a registry refusal). The live tail reads only applied events.
AUDIT_APPLIED = "applied"
