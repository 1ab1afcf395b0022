"""The event codec: Avro single-object encoding of :class:`~runstream.proto.events.RunEvent`.

Wire form (Avro specification, "Single-object encoding")::

    0xC3 0x01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's
    Parsing Canonical Form | Avro binary body

A reader holds one *reader* schema (the newest it was built with) and any
number of known *writer* schemas; it resolves a body written with any known
writer schema into the reader schema by Avro's resolution rules (fields added
with a default, fields removed, ...).  An unknown fingerprint raises
:class:`~runstream.proto.errors.UnknownSchemaError`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from importlib import resources
from typing import Any

import fastavro
import numpy as np
from fastavro.schema import fingerprint, to_parsing_canonical_form

from . import events as ev
from .errors import DecodeError, EncodeError, UnknownSchemaError

MAGIC = b"\xc3\x01"
HEADER_LEN = 10

Schema = dict[str, Any]

_PAYLOAD_BY_NAME: dict[str, type] = {cls.__name__: cls for cls in ev.PAYLOAD_TYPES}
_NAMESPACE = "runstream.events.v1"


def load_schema(name: str = "run_event.avsc") -> Schema:
    """A schema shipped in ``runstream/proto/avro``."""
    text = resources.files("runstream.proto").joinpath("avro", name).read_text()
    loaded: Schema = json.loads(text)
    return loaded


# Earlier versions of run_event.avsc, kept so that every event ever written still decodes:
# a reader resolves them into the current schema by Avro's rules (tests/unit/proto).
# v1: before the ``principal`` header field; v2: before the model half's payloads.
# v3: before point contexts on MetricsLogged; v4: before the purge tombstones.
HISTORIC_SCHEMAS: tuple[str, ...] = (
    "run_event.v1.avsc",
    "run_event.v2.avsc",
    "run_event.v3.avsc",
    "run_event.v4.avsc",
)


def historic_schemas() -> list[Schema]:
    """The writer schemas of earlier versions (oldest first)."""
    return [load_schema(name) for name in HISTORIC_SCHEMAS]


def schema_fingerprint(schema: Mapping[str, Any]) -> bytes:
    """The 8 bytes that follow the magic in single-object encoding."""
    parsed = fastavro.parse_schema(dict(schema), _write_hint=False, _force=True)
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


class EventCodec:
    """Encodes events with the reader schema; decodes any known writer schema into it."""

    def __init__(
        self,
        reader_schema: Mapping[str, Any] | None = None,
        writer_schemas: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        reader = dict(reader_schema) if reader_schema is not None else load_schema()
        self._reader = fastavro.parse_schema(reader, _force=True)
        self._fingerprint = schema_fingerprint(reader)
        self._header = MAGIC + self._fingerprint
        self._writers: dict[bytes, Any] = {self._fingerprint: self._reader}
        if reader_schema is None:  # the shipped reader knows every shipped version
            for old in historic_schemas():
                self.add_writer_schema(old)
        for schema in writer_schemas:
            self.add_writer_schema(schema)

    @property
    def fingerprint(self) -> bytes:
        return self._fingerprint

    def add_writer_schema(self, schema: Mapping[str, Any]) -> bytes:
        """Teach this reader another writer schema; returns its fingerprint."""
        fp = schema_fingerprint(schema)
        self._writers[fp] = fastavro.parse_schema(dict(schema), _force=True)
        return fp

    def known_fingerprints(self) -> frozenset[bytes]:
        return frozenset(self._writers)

    # -- encode ---------------------------------------------------------------------------

    def encode(self, event: ev.RunEvent) -> bytes:
        buf = io.BytesIO()
        buf.write(self._header)
        try:
            fastavro.schemaless_writer(buf, self._reader, event_to_record(event))
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise EncodeError(f"cannot encode {type(event.payload).__name__}: {exc}") from exc
        return buf.getvalue()

    # -- decode ---------------------------------------------------------------------------

    def decode(self, data: bytes) -> ev.RunEvent:
        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise DecodeError("not an Avro single-object message (bad magic bytes)")
        fp = bytes(data[2:HEADER_LEN])
        writer = self._writers.get(fp)
        if writer is None:
            raise UnknownSchemaError(fp)
        try:
            record = fastavro.schemaless_reader(
                io.BytesIO(data[HEADER_LEN:]),
                writer,
                self._reader,
                return_record_name=True,
            )
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise DecodeError(f"corrupt Avro body: {type(exc).__name__}: {exc}") from exc
        if not isinstance(record, dict):
            raise DecodeError("event body is not a record")
        try:
            return record_to_event(record)
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError(f"event does not fit the reader's types: {exc}") from exc


# -- dataclass <-> Avro record --------------------------------------------------------------


def _payload_record(payload: ev.Payload) -> dict[str, Any]:
    if isinstance(payload, ev.MetricsLogged):
        n = len(payload)
        columns = (payload.key_index, payload.steps, payload.timestamps)
        if any(c.shape[0] != n for c in columns):
            raise EncodeError("metric columns differ in length")
        return {
            "-type": f"{_NAMESPACE}.MetricsLogged",
            "keys": list(payload.keys),
            "key_index": np.ascontiguousarray(payload.key_index, dtype="<u2").tobytes(),
            "values": np.ascontiguousarray(payload.values, dtype="<f8").tobytes(),
            "steps": np.ascontiguousarray(payload.steps, dtype="<i8").tobytes(),
            "timestamps": np.ascontiguousarray(payload.timestamps, dtype="<i8").tobytes(),
            "contexts": [dict(c) for c in payload.contexts],
            "context_index": _context_index_bytes(payload, n),
        }
    record: dict[str, Any] = {"-type": f"{_NAMESPACE}.{type(payload).__name__}"}
    record.update(_fields_record(payload))
    if not fields(payload):
        record["reserved"] = False
    return record


def _context_index_bytes(payload: ev.MetricsLogged, n: int) -> bytes:
    if payload.context_index is None:
        if len(payload.contexts) > 1:
            raise EncodeError("several contexts need a context_index")
        return b""
    if payload.context_index.shape[0] != n:
        raise EncodeError("metric columns differ in length")
    return np.ascontiguousarray(payload.context_index, dtype="<u2").tobytes()


def _context_of(pairs: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in pairs.items()))


def _fields_record(value: Any) -> dict[str, Any]:
    """A dataclass's fields as an Avro record body (nested dataclasses as records)."""
    out: dict[str, Any] = {}
    for f in fields(value):
        item = getattr(value, f.name)
        if isinstance(item, tuple):
            out[f.name] = [_fields_record(x) if is_dataclass(x) else x for x in item]
        else:
            out[f.name] = item
    return out


def _from_fields(cls: type, body: dict[str, Any]) -> Any:
    nested: dict[str, type] = getattr(cls, "NESTED", {})
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        value = body[f.name]
        if isinstance(value, list):
            inner = nested.get(f.name)
            value = tuple(_from_fields(inner, x) for x in value) if inner else tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def event_to_record(event: ev.RunEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "run_id": event.run_id,
        "experiment_id": event.experiment_id,
        "producer_id": event.producer_id,
        "seq": event.seq,
        "client_ts": event.client_ts,
        "principal": event.principal,
        "payload": _payload_record(event.payload),
    }


def _payload_from_record(name: str, body: dict[str, Any]) -> ev.Payload:
    short = name.rsplit(".", 1)[-1]
    cls = _PAYLOAD_BY_NAME.get(short)
    if cls is None:
        raise ValueError(f"unknown payload type {name}")
    if cls is ev.MetricsLogged:
        key_index = np.frombuffer(body["key_index"], dtype="<u2")
        values = np.frombuffer(body["values"], dtype="<f8")
        steps = np.frombuffer(body["steps"], dtype="<i8")
        timestamps = np.frombuffer(body["timestamps"], dtype="<i8")
        n = values.shape[0]
        if not (key_index.shape[0] == steps.shape[0] == timestamps.shape[0] == n):
            raise ValueError("metric columns differ in length")
        keys = tuple(body["keys"])
        if n and int(key_index.max()) >= len(keys):
            raise ValueError("metric key index out of range")
        contexts = tuple(_context_of(c) for c in body.get("contexts", ()))
        raw_index = body.get("context_index", b"")
        context_index = np.frombuffer(raw_index, dtype="<u2") if raw_index else None
        if context_index is not None:
            if context_index.shape[0] != n:
                raise ValueError("metric columns differ in length")
            if n and int(context_index.max()) >= max(len(contexts), 1):
                raise ValueError("metric context index out of range")
        return ev.MetricsLogged(keys, key_index, values, steps, timestamps, contexts, context_index)
    payload: ev.Payload = _from_fields(cls, body)
    return payload


def record_to_event(record: dict[str, Any]) -> ev.RunEvent:
    name, body = record["payload"]
    return ev.RunEvent(
        event_id=record["event_id"],
        run_id=record["run_id"],
        experiment_id=record["experiment_id"],
        producer_id=record["producer_id"],
        seq=record["seq"],
        client_ts=record["client_ts"],
        payload=_payload_from_record(name, body),
        principal=record.get("principal", ""),
    )
