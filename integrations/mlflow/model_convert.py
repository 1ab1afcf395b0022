"""MLflow's model entities <-> runstream's messages: registered models, model versions,
logged models, datasets.  The edge for the model half, as :mod:`.convert` is for runs.

Shapes follow MLflow's SQL stores, which the tests compare against: version numbers are
ints, fields MLflow leaves unset are ``None`` (runstream sends them as empty strings).
"""

from __future__ import annotations

from collections.abc import Iterable

from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
)
from mlflow.entities.model_registry import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)

from runstream.proto.v1 import common_pb2, models_pb2


def _or_none(value: str) -> str | None:
    return value or None


def model_version_from_proto(pb: models_pb2.ModelVersion, aliases: bool = True) -> ModelVersion:
    return ModelVersion(
        name=pb.name,
        version=int(pb.version),  # type: ignore[arg-type]  # an int, as MLflow's SQL store
        creation_timestamp=pb.creation_timestamp,
        last_updated_timestamp=pb.last_updated_timestamp,
        description=pb.description if pb.HasField("description") else None,
        user_id=_or_none(pb.user_id),
        current_stage=pb.current_stage,
        source=pb.source,
        run_id=_or_none(pb.run_id),
        status=pb.status or "READY",
        status_message=_or_none(pb.status_message),
        tags=[ModelVersionTag(t.key, t.value) for t in pb.tags],
        run_link=pb.run_link if pb.HasField("run_link") else None,
        aliases=list(pb.aliases) if aliases else [],
    )


def registered_model_from_proto(pb: models_pb2.RegisteredModel) -> RegisteredModel:
    return RegisteredModel(
        name=pb.name,
        creation_timestamp=pb.creation_timestamp,
        last_updated_timestamp=pb.last_updated_timestamp,
        description=pb.description if pb.HasField("description") else None,
        # as MLflow's SQL store: the newest version per stage, without their aliases
        latest_versions=[model_version_from_proto(v, aliases=False) for v in pb.latest_versions],
        tags=[RegisteredModelTag(t.key, t.value) for t in pb.tags],
        aliases=[RegisteredModelAlias(a.alias, int(a.version)) for a in pb.aliases],
    )


def _status(name: str) -> LoggedModelStatus:
    try:
        return LoggedModelStatus(name)
    except ValueError:
        return LoggedModelStatus.UNSPECIFIED


def logged_model_from_proto(pb: models_pb2.LoggedModel) -> LoggedModel:
    return LoggedModel(
        experiment_id=pb.experiment_id,
        model_id=pb.model_id,
        name=pb.name,
        artifact_location=pb.artifact_location,
        creation_timestamp=pb.creation_timestamp,
        last_updated_timestamp=pb.last_updated_timestamp,
        model_type=pb.model_type if pb.HasField("model_type") else None,
        source_run_id=_or_none(pb.source_run_id),
        status=_status(pb.status),
        status_message=_or_none(pb.status_message),
        # None when empty, as MLflow's SQL store
        tags={t.key: t.value for t in pb.tags} or None,
        params={p.key: p.value for p in pb.params} or None,
        metrics=[
            Metric(
                key=m.key,
                value=m.value,
                timestamp=m.timestamp,
                step=m.step,
                run_id=m.run_id,
                dataset_name=_or_none(m.dataset_name),
                dataset_digest=_or_none(m.dataset_digest),
                model_id=m.model_id,
            )
            for m in pb.metrics
        ]
        or None,
    )


def dataset_inputs_from_proto(pb: common_pb2.RunInputs) -> list[DatasetInput]:
    return [
        DatasetInput(
            dataset=Dataset(
                name=d.dataset.name,
                digest=d.dataset.digest,
                source_type=d.dataset.source_type,
                source=d.dataset.source,
                schema=d.dataset.schema if d.dataset.HasField("schema") else None,
                profile=d.dataset.profile if d.dataset.HasField("profile") else None,
            ),
            tags=[InputTag(t.key, t.value) for t in d.tags],
        )
        for d in pb.dataset_inputs
    ]


def model_inputs_from_proto(pb: common_pb2.RunInputs) -> list[LoggedModelInput]:
    return [LoggedModelInput(model_id=m) for m in pb.model_ids]


def model_outputs_from_proto(pb: common_pb2.RunOutputs) -> list[LoggedModelOutput]:
    return [LoggedModelOutput(model_id=m.model_id, step=m.step) for m in pb.models]


def dataset_inputs_to_proto(inputs: Iterable[DatasetInput]) -> list[common_pb2.DatasetInput]:
    out = []
    for d in inputs:
        data = common_pb2.Dataset(
            name=d.dataset.name,
            digest=d.dataset.digest,
            source_type=d.dataset.source_type,
            source=d.dataset.source,
        )
        if d.dataset.schema is not None:
            data.schema = d.dataset.schema
        if d.dataset.profile is not None:
            data.profile = d.dataset.profile
        tags = [common_pb2.Tag(key=t.key, value=t.value) for t in d.tags or ()]
        out.append(common_pb2.DatasetInput(dataset=data, tags=tags))
    return out


def model_metrics_to_proto(metrics: Iterable[Metric]) -> list[common_pb2.Metric]:
    """Points that name a logged model (and the dataset they were computed on)."""
    return [
        common_pb2.Metric(
            key=m.key,
            value=float(m.value),
            timestamp=int(m.timestamp),
            step=int(m.step or 0),
            model_id=m.model_id or "",
            dataset_name=m.dataset_name or "",
            dataset_digest=m.dataset_digest or "",
        )
        for m in metrics
    ]
