"""The gateway's model writes (no gRPC): requests -> events, checks that need no state."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from runstream.producer.errors import ValidationError
from runstream.producer.gateway.access import WriteAccess
from runstream.producer.gateway.model_writes import ModelWriteCore, ModelWritesServicer
from runstream.proto import events as ev
from runstream.proto.permissions import (
    ANONYMOUS,
    ExperimentFacts,
    Permission,
    PermissionDeniedError,
    Principal,
)
from runstream.proto.v1 import common_pb2, write_pb2
from tests.unit.producer.fakes import FakeTransport
from tests.unit.producer.test_gateway_access import FakeDirectory

MODEL = "m-" + "a" * 32


class Servicer(ModelWritesServicer):
    def __init__(self, models: ModelWriteCore) -> None:
        self._models = models


def _servicer(directory: FakeDirectory | None = None) -> tuple[Servicer, FakeTransport]:
    fake = FakeTransport()
    return Servicer(ModelWriteCore(fake, access=WriteAccess(directory))), fake


def call(principal: Principal = ANONYMOUS) -> object:
    """A call context as the auth interceptor leaves it (the caller's principal)."""
    return SimpleNamespace(runstream_principal=principal)


def test_registry_calls_become_one_event_each_under_the_registry_key() -> None:
    s, fake = _servicer()
    answers = [
        s.CreateRegisteredModel(
            write_pb2.CreateRegisteredModelRequest(
                name="iris", description="d", tags=[common_pb2.Tag(key="k", value="v")]
            ),
            call(),
        ),
        s.CreateModelVersion(
            write_pb2.CreateModelVersionRequest(name="iris", source="s3://m", run_id="r" * 32),
            call(),
        ),
        s.TransitionModelVersionStage(
            write_pb2.TransitionModelVersionStageRequest(
                name="iris", version=1, stage="production", archive_existing_versions=True
            ),
            call(),
        ),
        s.SetRegisteredModelAlias(
            write_pb2.SetRegisteredModelAliasRequest(name="iris", alias="champion", version=1),
            call(),
        ),
    ]
    assert [a.event_id for a in answers] == [e.event_id for e in fake.events]
    assert {e.kafka_key for e in fake.events} == {b"model-registry"}
    payloads = [e.payload for e in fake.events]
    assert payloads[0] == ev.RegisteredModelCreated("iris", "d", {"k": "v"})
    assert payloads[1] == ev.ModelVersionCreated("iris", "s3://m", "r" * 32)
    assert payloads[2] == ev.ModelVersionStageTransitioned("iris", 1, "Production", True)
    assert answers[-1].token.offsets  # acknowledged where it landed


@pytest.mark.parametrize(
    ("method", "request_", "field"),
    [
        ("CreateRegisteredModel", write_pb2.CreateRegisteredModelRequest(name=""), "name"),
        ("CreateRegisteredModel", write_pb2.CreateRegisteredModelRequest(name="a/b"), "name"),
        (
            "RenameRegisteredModel",
            write_pb2.RenameRegisteredModelRequest(name="a", new_name=" "),
            "new_name",
        ),
        (
            "TransitionModelVersionStage",
            write_pb2.TransitionModelVersionStageRequest(name="a", version=1, stage="Prod"),
            "stage",
        ),
        (
            "SetRegisteredModelAlias",
            write_pb2.SetRegisteredModelAliasRequest(name="a", alias="v3", version=1),
            "alias",
        ),
        (
            "SetRegisteredModelAlias",
            write_pb2.SetRegisteredModelAliasRequest(name="a", alias="a b", version=1),
            "alias",
        ),
        ("DeleteModelVersion", write_pb2.ModelVersionRef(name="a", version=0), "version"),
        (
            "SetModelVersionTag",
            write_pb2.SetModelVersionTagRequest(name="a", version=1, key="", value="x"),
            "tag[0].key",
        ),
        (
            "FinalizeLoggedModel",
            write_pb2.FinalizeLoggedModelRequest(model_id=MODEL, status="DONE"),
            "status",
        ),
        ("DeleteLoggedModel", write_pb2.LoggedModelRef(model_id="m-1"), "model_id"),
    ],
)
def test_bad_input_is_refused_before_anything_is_published(
    method: str, request_: object, field: str
) -> None:
    s, fake = _servicer()
    with pytest.raises(ValidationError) as info:
        getattr(s, method)(request_, call())
    assert info.value.problems[0].field == field
    assert info.value.error_code == common_pb2.INVALID_PARAMETER_VALUE
    assert fake.events == []


def test_logged_models_are_keyed_by_model_and_get_an_id() -> None:
    s, fake = _servicer()
    created = s.CreateLoggedModel(
        write_pb2.CreateLoggedModelRequest(
            experiment_id="7",
            name="model",
            artifact_location="file:///a",
            params=[common_pb2.Param(key="alpha", value="0.5")],
        ),
        call(),
    )
    assert created.model_id.startswith("m-") and len(created.model_id) == 34
    s.FinalizeLoggedModel(
        write_pb2.FinalizeLoggedModelRequest(
            model_id=created.model_id, experiment_id="7", status="READY"
        ),
        call(),
    )
    assert [e.kafka_key for e in fake.events] == [f"logged-model:{created.model_id}".encode()] * 2
    assert fake.events[0].experiment_id == "7"
    assert fake.events[0].payload.params == {"alpha": "0.5"}  # type: ignore[union-attr]


def test_inputs_outputs_and_model_metrics_go_with_the_run() -> None:
    s, fake = _servicer()
    dataset = common_pb2.DatasetInput(
        dataset=common_pb2.Dataset(name="iris", digest="d", source_type="code", source="{}"),
        tags=[common_pb2.Tag(key="mlflow.data.context", value="train")],
    )
    run = "r" * 32
    s.LogInputs(
        write_pb2.LogInputsRequest(run_id=run, experiment_id="7", datasets=[dataset]), call()
    )
    s.LogOutputs(
        write_pb2.LogOutputsRequest(
            run_id=run, models=[common_pb2.ModelOutput(model_id=MODEL, step=2)]
        ),
        call(),
    )
    s.LogModelMetrics(
        write_pb2.LogModelMetricsRequest(
            run_id=run,
            metrics=[common_pb2.Metric(key="acc", value=0.9, timestamp=5, step=1, model_id=MODEL)],
        ),
        call(),
    )
    assert {e.kafka_key for e in fake.events} == {run.encode()}
    inputs = fake.events[0].payload
    assert isinstance(inputs, ev.InputsLogged)
    assert inputs.datasets[0].tags == {"mlflow.data.context": "train"}
    assert inputs.datasets[0].schema is None
    assert fake.events[1].payload == ev.OutputsLogged((MODEL,), (2,))
    with pytest.raises(ValidationError):  # a model metric must name its model
        s.LogModelMetrics(
            write_pb2.LogModelMetricsRequest(run_id=run, metrics=[common_pb2.Metric(key="acc")]),
            call(),
        )
    with pytest.raises(ValidationError):  # a dataset needs its name, digest, source
        s.LogInputs(
            write_pb2.LogInputsRequest(run_id=run, datasets=[common_pb2.DatasetInput()]), call()
        )


def test_permissions_the_registry_is_the_default_and_models_follow_their_experiment() -> None:
    """Registry calls need the principal's default permission (admins: MANAGE); a logged
    model's and a run's writes need EDIT (delete: MANAGE) on the experiment they name, and
    a refused call publishes nothing.  Every event carries the caller's principal."""
    directory = FakeDirectory()
    directory.experiments["7"] = ExperimentFacts("7", "theirs", "bob")
    directory.runs["r" * 32] = "7"
    s, fake = _servicer(directory)
    reader = Principal("ann", default=Permission.READ)
    editor = Principal("eve", default=Permission.EDIT)
    create = write_pb2.CreateRegisteredModelRequest(name="iris")
    with pytest.raises(PermissionDeniedError, match="model registry"):
        s.CreateRegisteredModel(create, call(reader))
    s.CreateRegisteredModel(create, call(editor))
    with pytest.raises(PermissionDeniedError, match="lacks MANAGE on the model registry"):
        s.DeleteRegisteredModel(write_pb2.RegisteredModelRef(name="iris"), call(editor))
    assert [e.principal for e in fake.events] == ["eve"]
    logged = write_pb2.CreateLoggedModelRequest(
        experiment_id="7", name="m", artifact_location="file:///a"
    )
    with pytest.raises(PermissionDeniedError, match="lacks EDIT on experiment '7'"):
        s.CreateLoggedModel(logged, call(reader))
    model_id = s.CreateLoggedModel(logged, call(editor)).model_id
    finalize = write_pb2.FinalizeLoggedModelRequest(model_id=model_id, status="READY")
    with pytest.raises(ValidationError):  # the experiment must be named: it is checked
        s.FinalizeLoggedModel(finalize, call(editor))
    finalize.experiment_id = "7"
    s.FinalizeLoggedModel(finalize, call(editor))
    with pytest.raises(PermissionDeniedError, match="lacks MANAGE"):
        s.DeleteLoggedModel(
            write_pb2.LoggedModelRef(model_id=model_id, experiment_id="7"), call(editor)
        )
    outputs = write_pb2.LogOutputsRequest(
        run_id="r" * 32, models=[common_pb2.ModelOutput(model_id=model_id)]
    )
    with pytest.raises(PermissionDeniedError):
        s.LogOutputs(outputs, call(reader))  # the run's experiment, looked up
    s.LogOutputs(outputs, call(editor))
    assert fake.events[-1].experiment_id == "7"  # the header names the run's experiment
    assert [e.principal for e in fake.events] == ["eve"] * 4
