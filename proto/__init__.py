"""runstream's contracts: Avro run events, their codec, and the gRPC API (``runstream.proto.v1``).

Every other component depends on this package; it depends on none of them.
"""

from .codec import EventCodec, load_schema, schema_fingerprint
from .errors import ContractError, DecodeError, EncodeError, UnknownSchemaError
from .events import (
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentRenamed,
    ExperimentRestored,
    ExperimentTagSet,
    MetricsLogged,
    ParamsLogged,
    Payload,
    RunCreated,
    RunDeleted,
    RunEvent,
    RunRestored,
    RunUpdated,
    TagDeleted,
    TagsSet,
    metrics_from_rows,
    new_event_id,
)

__all__ = [
    "ContractError",
    "DecodeError",
    "EncodeError",
    "EventCodec",
    "ExperimentCreated",
    "ExperimentDeleted",
    "ExperimentRenamed",
    "ExperimentRestored",
    "ExperimentTagSet",
    "MetricsLogged",
    "ParamsLogged",
    "Payload",
    "RunCreated",
    "RunDeleted",
    "RunEvent",
    "RunRestored",
    "RunUpdated",
    "TagDeleted",
    "TagsSet",
    "UnknownSchemaError",
    "load_schema",
    "metrics_from_rows",
    "new_event_id",
    "schema_fingerprint",
]
