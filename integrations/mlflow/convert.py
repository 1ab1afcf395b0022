"""MLflow entities <-> runstream protobuf messages: the MLflow plugin's one converter.

Protobuf messages stop here: the stores hand MLflow entities to MLflow and protobuf
messages to :mod:`.rpc`, converting at this edge only.  Imported only by the plugin's
store modules (which MLflow loads lazily), so importing MLflow's entities at module level
is safe here.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlflow.entities import (
    Experiment,
    ExperimentTag,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
    ViewType,
)
from mlflow.exceptions import MlflowException
from mlflow.utils.uri import append_to_uri_path

from runstream.proto import vocabulary
from runstream.proto.v1 import common_pb2

from . import model_convert

ARTIFACTS_FOLDER_NAME = "artifacts"

_VIEW_TYPES: dict[int, common_pb2.ViewType] = {
    ViewType.ACTIVE_ONLY: common_pb2.ACTIVE_ONLY,
    ViewType.DELETED_ONLY: common_pb2.DELETED_ONLY,
    ViewType.ALL: common_pb2.ALL,
}


def view_type_to_proto(view_type: int | None) -> common_pb2.ViewType:
    if view_type is None:
        return common_pb2.ACTIVE_ONLY
    return _VIEW_TYPES.get(view_type, common_pb2.ACTIVE_ONLY)


def run_status_to_proto(status: int | str | None) -> common_pb2.RunStatus:
    """MLflow RunStatus (int enum or its name) -> runstream RunStatus (UNSPECIFIED for None)."""
    if status is None:
        return common_pb2.RUN_STATUS_UNSPECIFIED
    name = status if isinstance(status, str) else RunStatus.to_string(status)
    if name not in vocabulary.RUN_STATUSES:
        raise MlflowException.invalid_parameter_value(f"not a run status: {name!r}")
    return vocabulary.status_to_proto(name)


def run_status_name(status: int) -> str:
    """runstream RunStatus -> MLflow's status string (UNSPECIFIED reads as RUNNING)."""
    return vocabulary.status_from_proto(status) or vocabulary.RUNNING


def experiment_from_proto(pb: common_pb2.Experiment, artifact_root: str | None) -> Experiment:
    location = pb.artifact_location
    if not location and artifact_root:
        location = append_to_uri_path(artifact_root, pb.experiment_id)
    return Experiment(
        experiment_id=pb.experiment_id,
        name=pb.name,
        artifact_location=location,
        lifecycle_stage=pb.lifecycle_stage or vocabulary.ACTIVE,
        tags=[ExperimentTag(t.key, t.value) for t in pb.tags],
        creation_time=pb.creation_time or None,
        last_update_time=pb.last_update_time or None,
    )


def run_artifact_uri(experiment_location: str, run_id: str) -> str:
    if not experiment_location:
        return ""
    return append_to_uri_path(experiment_location, run_id, ARTIFACTS_FOLDER_NAME)


def run_info_from_proto(pb: common_pb2.RunInfo, experiment_location: str = "") -> RunInfo:
    return RunInfo(
        run_id=pb.run_id,
        experiment_id=pb.experiment_id,
        user_id=pb.user_id,
        status=run_status_name(pb.status),
        start_time=pb.start_time,
        end_time=pb.end_time if pb.HasField("end_time") else None,
        lifecycle_stage=pb.lifecycle_stage or vocabulary.ACTIVE,
        artifact_uri=pb.artifact_uri or run_artifact_uri(experiment_location, pb.run_id),
        run_name=pb.run_name,
    )


def metric_from_proto(pb: common_pb2.Metric) -> Metric:
    return Metric(key=pb.key, value=pb.value, timestamp=pb.timestamp, step=pb.step)


def run_data_from_proto(pb: common_pb2.RunData) -> RunData:
    return RunData(
        metrics=[metric_from_proto(m) for m in pb.metrics],
        params=[Param(p.key, p.value) for p in pb.params],
        tags=[RunTag(t.key, t.value) for t in pb.tags],
    )


def run_from_proto(pb: common_pb2.Run, experiment_location: str = "") -> Run:
    return Run(
        run_info_from_proto(pb.info, experiment_location),
        run_data_from_proto(pb.data),
        RunInputs(
            dataset_inputs=model_convert.dataset_inputs_from_proto(pb.inputs),
            model_inputs=model_convert.model_inputs_from_proto(pb.inputs),
        ),
        RunOutputs(model_outputs=model_convert.model_outputs_from_proto(pb.outputs)),
    )


def metrics_to_proto(metrics: Iterable[Metric]) -> list[common_pb2.Metric]:
    return [
        common_pb2.Metric(
            key=m.key, value=float(m.value), timestamp=int(m.timestamp), step=int(m.step or 0)
        )
        for m in metrics
    ]


def params_to_proto(params: Iterable[Param]) -> list[common_pb2.Param]:
    return [common_pb2.Param(key=p.key, value=str(p.value)) for p in params]


def tags_to_proto(tags: Iterable[RunTag | ExperimentTag]) -> list[common_pb2.Tag]:
    return [common_pb2.Tag(key=t.key, value=str(t.value)) for t in tags]
