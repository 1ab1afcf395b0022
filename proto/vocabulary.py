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
