"""Conversions between the read side's types and the runstream.v1 protobuf messages: the
edge, and the only place that knows both.  Enum fields are open in proto3 (any int32
arrives): a value outside the enum is INVALID_ARGUMENT here."""

from __future__ import annotations

import numpy as np

from runstream.proto.tokens import WaitToken
from runstream.proto.v1 import common_pb2, query_pb2
from runstream.proto.vocabulary import status_to_proto

from .context_reader import check_context_filter
from .entities import (
    Experiment,
    MetricPoint,
    RankBy,
    Run,
    RunSelection,
    Series,
    SeriesColumns,
    SeriesRequest,
    StepAggregates,
    ViewType,
    XAxis,
)
from .errors import InvalidRequestError
from .grpc_models import run_io

_RANK_BY: dict[int, RankBy] = {
    query_pb2.RANK_BY_UNSPECIFIED: RankBy.LATEST,
    query_pb2.RANK_BY_LATEST: RankBy.LATEST,
    query_pb2.RANK_BY_MIN: RankBy.MIN,
    query_pb2.RANK_BY_MAX: RankBy.MAX,
}
_X_AXIS: dict[int, XAxis] = {
    query_pb2.X_AXIS_UNSPECIFIED: XAxis.STEP,
    query_pb2.X_AXIS_STEP: XAxis.STEP,
    query_pb2.X_AXIS_TIMESTAMP: XAxis.TIMESTAMP,
}
_MAXIMIZE: dict[int, bool] = {
    query_pb2.GOAL_UNSPECIFIED: False,
    query_pb2.GOAL_MINIMIZE: False,
    query_pb2.GOAL_MAXIMIZE: True,
}


def _unknown(field: str, value: int, known: object) -> InvalidRequestError:
    return InvalidRequestError(f"'{field}' has no value {value} (known: {known})")


def wait_token(read: query_pb2.ReadOptions) -> tuple[WaitToken | None, float | None]:
    token = None
    if read.HasField("write_token") and read.write_token.offsets:
        token = WaitToken(read.write_token.topic, dict(read.write_token.offsets))
    timeout = read.wait_timeout_ms / 1000.0 if read.wait_timeout_ms > 0 else None
    return token, timeout


def view_type(value: int, field: str = "view_type") -> ViewType:
    if value != 0 and value not in ViewType.__members__.values():
        raise _unknown(field, value, "0-3")
    return ViewType.of(value)


def selection(experiment_ids: list[str], filter_string: str, view: int) -> RunSelection:
    return RunSelection(tuple(experiment_ids), filter_string, view_type(view, "run_view_type"))


def rank_by(value: int) -> RankBy:
    if value not in _RANK_BY:
        raise _unknown("rank_by", value, "0-3")
    return _RANK_BY[value]


def maximize(goal: int) -> bool:
    if goal not in _MAXIMIZE:
        raise _unknown("goal", goal, "0-2")
    return _MAXIMIZE[goal]


def x_axis(value: int) -> XAxis:
    if value not in _X_AXIS:
        raise _unknown("x_axis", value, "0-2")
    return _X_AXIS[value]


def series_request(
    req: query_pb2.GetSampledMetricHistoryRequest | query_pb2.GetSampledMetricHistoriesRequest,
) -> SeriesRequest:
    return SeriesRequest(
        key=req.metric_key,
        max_points=req.max_points,
        x_axis=x_axis(req.x_axis),
        start=req.start if req.HasField("start") else None,
        end=req.end if req.HasField("end") else None,
        context=check_context_filter(req.context),
    )


def status_value(status: str) -> common_pb2.RunStatus:
    return status_to_proto(status)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _packed(field: int, column: np.ndarray, dtype: str) -> bytes:
    """A packed repeated fixed-width field in protobuf's wire format: tag, byte length,
    the little-endian numbers; an empty column is left out, as protobuf does."""
    if not len(column):
        return b""
    data = np.ascontiguousarray(column, dtype=dtype).tobytes()
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def history_columns(
    run_id: str, key: str, page: SeriesColumns
) -> query_pb2.GetMetricHistoryColumnsResponse:
    """The page as HistoryColumns, its columns written straight from the arrays (a packed
    field of fixed-width numbers is their little-endian bytes): no Python object per
    point on the way out."""
    columns = query_pb2.HistoryColumns
    body = (
        columns(run_id=run_id, metric_key=key).SerializeToString()
        + _packed(columns.STEPS_FIELD_NUMBER, page.steps, "<i8")
        + _packed(columns.TIMESTAMPS_FIELD_NUMBER, page.timestamps, "<i8")
        + _packed(columns.VALUES_FIELD_NUMBER, page.values, "<f8")
    )
    field = query_pb2.GetMetricHistoryColumnsResponse.COLUMNS_FIELD_NUMBER
    response = _varint(field << 3 | 2) + _varint(len(body)) + body
    answer = query_pb2.GetMetricHistoryColumnsResponse.FromString(response)
    answer.next_page_token = page.next_page_token
    return answer


def metric(m: MetricPoint) -> common_pb2.Metric:
    return common_pb2.Metric(key=m.key, value=m.value, timestamp=m.timestamp, step=m.step)


def run(r: Run) -> common_pb2.Run:
    i = r.info
    info = common_pb2.RunInfo(
        run_id=i.run_id,
        experiment_id=i.experiment_id,
        run_name=i.run_name,
        user_id=i.user_id,
        status=status_value(i.status),
        start_time=i.start_time,
        artifact_uri=i.artifact_uri,
        lifecycle_stage=i.lifecycle_stage,
    )
    if i.end_time is not None:
        info.end_time = i.end_time
    data = common_pb2.RunData(
        metrics=[metric(m) for m in r.metrics],
        params=[common_pb2.Param(key=k, value=v) for k, v in r.params.items()],
        tags=[common_pb2.Tag(key=k, value=v) for k, v in r.tags.items()],
    )
    inputs, outputs = run_io(r.io)
    return common_pb2.Run(info=info, data=data, inputs=inputs, outputs=outputs)


def experiment(e: Experiment) -> common_pb2.Experiment:
    return common_pb2.Experiment(
        experiment_id=e.experiment_id,
        name=e.name,
        artifact_location=e.artifact_location,
        lifecycle_stage=e.lifecycle_stage,
        creation_time=e.creation_time,
        last_update_time=e.last_update_time,
        tags=[common_pb2.Tag(key=k, value=v) for k, v in e.tags.items()],
        created_by=e.created_by,
    )


def series(s: Series) -> query_pb2.MetricSeries:
    return query_pb2.MetricSeries(
        run_id=s.run_id,
        metric_key=s.key,
        steps=s.steps,
        timestamps=s.timestamps,
        values=s.values,
        total_points=s.total_points,
        sampled=s.sampled,
    )


def step_aggregates(a: StepAggregates) -> query_pb2.StepAggregates:
    return query_pb2.StepAggregates(
        group_value=a.group_value or "",
        group_missing=a.grouped and a.group_value is None,
        steps=a.steps,
        run_counts=a.run_counts,
        mean=a.mean,
        min=a.min,
        max=a.max,
        percentiles=[
            query_pb2.PercentileSeries(percentile=p.percentile, values=p.values)
            for p in a.percentiles
        ],
    )


def status_counts(counts: dict[str, int]) -> query_pb2.CountRunsByStatusResponse:
    items = sorted(((status_value(s), n) for s, n in counts.items()), key=lambda x: x[0])
    merged: dict[common_pb2.RunStatus, int] = {}
    for status, n in items:
        merged[status] = merged.get(status, 0) + n
    return query_pb2.CountRunsByStatusResponse(
        counts=[query_pb2.StatusCount(status=s, count=n) for s, n in merged.items()],
        total=sum(merged.values()),
    )
