"""The event codec: single-object framing, round trips of every payload, schema evolution."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from runstream.proto import (
    DecodeError,
    EventCodec,
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentRenamed,
    ExperimentRestored,
    ExperimentTagSet,
    ParamsLogged,
    RunCreated,
    RunDeleted,
    RunEvent,
    RunRestored,
    RunUpdated,
    TagDeleted,
    TagsSet,
    UnknownSchemaError,
    load_schema,
    metrics_from_rows,
    schema_fingerprint,
)
from runstream.proto import events as ev
from runstream.proto.codec import HISTORIC_SCHEMAS, MAGIC


def _event(payload: object, run_id: str = "r" * 32) -> RunEvent:
    return RunEvent("e" * 32, run_id, "7", "p" * 32, 3, 1_700_000_000_000, payload)  # type: ignore[arg-type]


SIMPLE_PAYLOADS = [
    ExperimentCreated("exp", "s3://bucket", {"team": "a"}),
    ExperimentRenamed("new"),
    ExperimentDeleted(),
    ExperimentRestored(),
    ExperimentTagSet("k", "v"),
    RunCreated(5, run_name="n", user_id="u", parent_run_id="p", tags={"a": "b"}),
    RunUpdated(status="FINISHED", end_time=9),
    RunUpdated(run_name="renamed"),
    RunDeleted(11),
    RunRestored(),
    ParamsLogged(("lr", "batch"), ("0.01", "32")),
    TagsSet(("t",), ("v",)),
    TagDeleted("t"),
    ev.ExperimentTagDeleted("k"),
    ev.RegisteredModelCreated("iris", "flowers", {"team": "a"}),
    ev.RegisteredModelCreated("iris"),
    ev.RegisteredModelRenamed("iris", "iris-2"),
    ev.RegisteredModelUpdated("iris", None),
    ev.RegisteredModelDeleted("iris"),
    ev.RegisteredModelTagSet("iris", "k", "v"),
    ev.RegisteredModelTagDeleted("iris", "k"),
    ev.RegisteredModelAliasSet("iris", "champion", 3),
    ev.RegisteredModelAliasDeleted("iris", "champion"),
    ev.ModelVersionCreated("iris", "s3://b/m", "r" * 32, None, "d", {"a": "b"}, "m-1", "s3://x"),
    ev.ModelVersionUpdated("iris", 2, "new"),
    ev.ModelVersionStageTransitioned("iris", 2, "Production", True),
    ev.ModelVersionDeleted("iris", 2),
    ev.ModelVersionTagSet("iris", 2, "k", "v"),
    ev.ModelVersionTagDeleted("iris", 2, "k"),
    ev.LoggedModelCreated("m-1", "model", "file:///a", "r" * 32, "sklearn", {"a": "b"}, {"p": "1"}),
    ev.LoggedModelFinalized("m-1", "READY"),
    ev.LoggedModelTagsSet("m-1", {"a": "b"}),
    ev.LoggedModelTagDeleted("m-1", "a"),
    ev.LoggedModelParamsLogged("m-1", {"alpha": "0.5"}),
    ev.LoggedModelDeleted("m-1"),
    ev.InputsLogged(
        (ev.DatasetInput("iris", "abc", "code", "{}", '{"s": 1}', None, {"c": "train"}),),
        ("m-1",),
    ),
    ev.OutputsLogged(("m-1", "m-2"), (0, 3)),
    ev.ModelMetricsLogged((ev.ModelMetricPoint("acc", 0.9, 5, 1, "m-1", "iris", "abc"),)),
    ev.RunPurged("gc --older-than 30"),
    ev.ExperimentPurged(),
]


@pytest.mark.parametrize("payload", SIMPLE_PAYLOADS, ids=lambda p: type(p).__name__)
def test_round_trip_every_payload(payload: object) -> None:
    codec = EventCodec()
    event = _event(payload)
    assert codec.decode(codec.encode(event)) == event


def test_metrics_round_trip_keeps_nan_and_inf() -> None:
    codec = EventCodec()
    values = [0.5, math.nan, math.inf, -math.inf, -0.0]
    payload = metrics_from_rows(["a", "b", "a", "c", "a"], values, [0, 1, 2, 3, 4], [10] * 5)
    decoded = codec.decode(codec.encode(_event(payload))).payload
    assert payload.same_points(decoded)  # type: ignore[arg-type]
    assert decoded.key_column() == ["a", "b", "a", "c", "a"]  # type: ignore[union-attr]
    assert math.isnan(decoded.values[1]) and decoded.values[2] == math.inf  # type: ignore[union-attr]


def test_single_object_framing() -> None:
    codec = EventCodec()
    data = codec.encode(_event(RunRestored()))
    assert data[:2] == MAGIC == b"\xc3\x01"
    assert data[2:10] == codec.fingerprint == schema_fingerprint(load_schema())


def test_experiment_events_are_keyed_by_experiment() -> None:
    assert _event(ExperimentRenamed("x")).kafka_key == b"experiment:7"
    assert _event(ev.ExperimentTagDeleted("x")).kafka_key == b"experiment:7"
    assert _event(TagDeleted("x"), run_id="abc").kafka_key == b"abc"


def test_model_events_have_their_own_keys() -> None:
    # every registry event, whatever the model: one key, so one partition and one order
    assert _event(ev.RegisteredModelCreated("a"), run_id="").kafka_key == b"model-registry"
    assert _event(ev.ModelVersionCreated("b", "s"), run_id="").kafka_key == b"model-registry"
    assert _event(ev.LoggedModelFinalized("m-9", "READY")).kafka_key == b"logged-model:m-9"
    # a run's inputs, outputs and model metrics stay with the run
    assert _event(ev.OutputsLogged(("m-9",), (0,)), run_id="abc").kafka_key == b"abc"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "magic"),
        (b"\x00\x01" + b"\x00" * 20, "magic"),
        (MAGIC + b"\x00" * 8 + b"\x01", "unknown writer schema"),
    ],
)
def test_bad_bytes_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        EventCodec().decode(data)


def test_unknown_fingerprint_is_its_own_error() -> None:
    with pytest.raises(UnknownSchemaError) as info:
        EventCodec().decode(MAGIC + b"\x01" * 8 + b"\x00")
    assert info.value.fingerprint == b"\x01" * 8


def test_truncated_body_is_a_decode_error() -> None:
    codec = EventCodec()
    data = codec.encode(_event(ParamsLogged(("lr",), ("0.1",))))
    with pytest.raises(DecodeError, match="corrupt"):
        codec.decode(data[:-3])


def test_mismatched_metric_columns_are_refused() -> None:
    codec = EventCodec()
    good = metrics_from_rows(["a", "a"], [1.0, 2.0], [0, 1], [5, 5])
    bad = type(good)(good.keys, good.key_index, good.values, good.steps[:1], good.timestamps)
    with pytest.raises(Exception, match="differ in length"):
        codec.encode(_event(bad))


# -- schema evolution ------------------------------------------------------------------------


def _schema_with_added_header_field() -> dict[str, object]:
    """v2: the envelope gains a field with a default (a compatible change)."""
    v2 = copy.deepcopy(load_schema())
    fields = v2["fields"]
    assert isinstance(fields, list)
    fields.insert(-1, {"name": "host", "type": "string", "default": "unknown"})
    return v2


def _schema_with_added_payload_field() -> dict[str, object]:
    v2 = copy.deepcopy(load_schema())
    payload_union = v2["fields"][-1]["type"]  # type: ignore[index]
    for record in payload_union:
        if record["name"] == "RunCreated":
            record["fields"].append({"name": "priority", "type": "int", "default": 0})
    return v2


@pytest.mark.parametrize(
    "make_v2", [_schema_with_added_header_field, _schema_with_added_payload_field]
)
def test_old_reader_resolves_new_writer(make_v2: object) -> None:
    v2 = make_v2()  # type: ignore[operator]
    v1 = load_schema()
    assert schema_fingerprint(v2) != schema_fingerprint(v1)
    new_writer = EventCodec(reader_schema=v2)
    event = _event(RunCreated(42, run_name="n", tags={"a": "b"}))
    data = new_writer.encode(event)

    old_reader = EventCodec(reader_schema=v1, writer_schemas=[v2])
    assert old_reader.decode(data) == event

    # A reader that does not know v2 says so instead of guessing.
    with pytest.raises(UnknownSchemaError):
        EventCodec(reader_schema=v1).decode(data)


def test_new_reader_fills_defaults_for_old_writer() -> None:
    v1, v2 = load_schema(), _schema_with_added_payload_field()
    data = EventCodec(reader_schema=v1).encode(_event(RunCreated(1, run_name="old")))
    new_reader = EventCodec(reader_schema=v2, writer_schemas=[v1])
    # The typed layer drops the unknown field; check the resolved record saw the default.
    import io

    import fastavro

    record = fastavro.schemaless_reader(
        io.BytesIO(data[10:]),
        fastavro.parse_schema(v1, _force=True),
        fastavro.parse_schema(v2, _force=True),
        return_record_name=True,
    )
    assert record["payload"][1]["priority"] == 0
    assert new_reader.decode(data).payload == RunCreated(1, run_name="old")


def test_columnar_payload_is_compact() -> None:
    n = 10_000
    payload = metrics_from_rows(["loss"] * n, list(np.linspace(0, 1, n)), list(range(n)), [1] * n)
    size = len(EventCodec().encode(_event(payload)))
    assert size < n * 27  # 2 + 8 + 8 + 8 bytes a point, plus a header


# -- the principal header (run_event.avsc v2; v1 shipped so old events decode) -------------


def test_the_principal_travels_in_the_header() -> None:
    codec = EventCodec()
    event = replace(_event(RunCreated(7, run_name="n")), principal="alice")
    assert codec.decode(codec.encode(event)).principal == "alice"
    assert _event(TagDeleted("t")).principal == ""  # the default: no verified principal


def test_events_written_before_the_principal_field_read_as_empty() -> None:
    v1 = load_schema("run_event.v1.avsc")
    assert "principal" not in {f["name"] for f in v1["fields"]}
    old_bytes = EventCodec(reader_schema=v1).encode(_event(RunCreated(3, run_name="old")))
    assert old_bytes[2:10] == schema_fingerprint(v1) != EventCodec().fingerprint
    decoded = EventCodec().decode(old_bytes)  # the shipped reader knows v1
    assert decoded == _event(RunCreated(3, run_name="old")) and decoded.principal == ""


def test_an_old_reader_resolves_events_with_a_principal() -> None:
    v1 = load_schema("run_event.v1.avsc")
    new_bytes = EventCodec().encode(replace(_event(ParamsLogged(("a",), ("1",))), principal="bob"))
    old_reader = EventCodec(reader_schema=v1, writer_schemas=[load_schema()])
    decoded = old_reader.decode(new_bytes)
    assert decoded.payload == ParamsLogged(("a",), ("1",)) and decoded.principal == ""
    with pytest.raises(UnknownSchemaError):  # an old reader not taught the new schema
        EventCodec(reader_schema=v1).decode(new_bytes)


# -- the shipped history: every earlier schema still decodes -----------------------------------


@pytest.mark.parametrize("name", HISTORIC_SCHEMAS)
@pytest.mark.parametrize("payload", SIMPLE_PAYLOADS[:13], ids=lambda p: type(p).__name__)
def test_events_written_with_an_earlier_schema_still_decode(name: str, payload: object) -> None:
    """Events already on the topic were written with an earlier run_event.avsc: the shipped
    reader (the current schema) knows those writers and resolves them into the current
    types."""
    old_writer = EventCodec(reader_schema=load_schema(name))
    event = _event(payload)
    data = old_writer.encode(event)
    assert data[2:10] == schema_fingerprint(load_schema(name)) != EventCodec().fingerprint
    assert EventCodec().decode(data) == event


@pytest.mark.parametrize("name", HISTORIC_SCHEMAS)
def test_an_earlier_reader_decodes_current_events_of_its_own_types(name: str) -> None:
    """The other direction: a reader still on an earlier schema that is taught the current
    writer schema decodes the payload types it knows (new types are unknown to it, and
    refused)."""
    old_reader = EventCodec(reader_schema=load_schema(name), writer_schemas=[load_schema()])
    current = EventCodec()
    event = _event(RunCreated(42, run_name="n", tags={"a": "b"}))
    assert old_reader.decode(current.encode(event)) == event
    if "RegisteredModelDeleted" not in json.dumps(load_schema(name)):  # before the model half
        with pytest.raises(DecodeError):
            old_reader.decode(current.encode(_event(ev.RegisteredModelDeleted("iris"))))
    with pytest.raises(DecodeError):  # every earlier schema predates the tombstones
        old_reader.decode(current.encode(_event(ev.RunPurged())))


# -- the purge tombstones (run_event.avsc v5; v4 shipped so earlier events decode) -------------


def test_tombstones_travel_under_their_entity_key() -> None:
    run = RunEvent("e" * 32, "r" * 32, "7", "p", 0, 1, ev.RunPurged())
    experiment = RunEvent("e" * 32, "", "7", "p", 0, 1, ev.ExperimentPurged())
    assert run.kafka_key == b"r" * 32
    assert experiment.kafka_key == b"experiment:7"
