from runstream.proto.v1 import common_pb2 as _common_pb2
from runstream.proto.v1 import models_pb2 as _models_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class XAxis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    X_AXIS_UNSPECIFIED: _ClassVar[XAxis]
    X_AXIS_STEP: _ClassVar[XAxis]
    X_AXIS_TIMESTAMP: _ClassVar[XAxis]

class RankBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RANK_BY_UNSPECIFIED: _ClassVar[RankBy]
    RANK_BY_LATEST: _ClassVar[RankBy]
    RANK_BY_MIN: _ClassVar[RankBy]
    RANK_BY_MAX: _ClassVar[RankBy]

class Goal(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GOAL_UNSPECIFIED: _ClassVar[Goal]
    GOAL_MINIMIZE: _ClassVar[Goal]
    GOAL_MAXIMIZE: _ClassVar[Goal]
X_AXIS_UNSPECIFIED: XAxis
X_AXIS_STEP: XAxis
X_AXIS_TIMESTAMP: XAxis
RANK_BY_UNSPECIFIED: RankBy
RANK_BY_LATEST: RankBy
RANK_BY_MIN: RankBy
RANK_BY_MAX: RankBy
GOAL_UNSPECIFIED: Goal
GOAL_MINIMIZE: Goal
GOAL_MAXIMIZE: Goal

class ReadOptions(_message.Message):
    __slots__ = ("write_token", "wait_timeout_ms")
    WRITE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WAIT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    write_token: _common_pb2.WriteToken
    wait_timeout_ms: int
    def __init__(self, write_token: _Optional[_Union[_common_pb2.WriteToken, _Mapping]] = ..., wait_timeout_ms: _Optional[int] = ...) -> None: ...

class GetExperimentRequest(_message.Message):
    __slots__ = ("experiment_id", "read")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    read: ReadOptions
    def __init__(self, experiment_id: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class GetExperimentByNameRequest(_message.Message):
    __slots__ = ("name", "read")
    NAME_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    name: str
    read: ReadOptions
    def __init__(self, name: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class ExperimentResponse(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: _common_pb2.Experiment
    def __init__(self, experiment: _Optional[_Union[_common_pb2.Experiment, _Mapping]] = ...) -> None: ...

class SearchExperimentsRequest(_message.Message):
    __slots__ = ("filter", "max_results", "order_by", "page_token", "view_type", "read")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VIEW_TYPE_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    filter: str
    max_results: int
    order_by: _containers.RepeatedScalarFieldContainer[str]
    page_token: str
    view_type: _common_pb2.ViewType
    read: ReadOptions
    def __init__(self, filter: _Optional[str] = ..., max_results: _Optional[int] = ..., order_by: _Optional[_Iterable[str]] = ..., page_token: _Optional[str] = ..., view_type: _Optional[_Union[_common_pb2.ViewType, str]] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class SearchExperimentsResponse(_message.Message):
    __slots__ = ("experiments", "next_page_token")
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    experiments: _containers.RepeatedCompositeFieldContainer[_common_pb2.Experiment]
    next_page_token: str
    def __init__(self, experiments: _Optional[_Iterable[_Union[_common_pb2.Experiment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id", "read")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    read: ReadOptions
    def __init__(self, run_id: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _common_pb2.Run
    def __init__(self, run: _Optional[_Union[_common_pb2.Run, _Mapping]] = ...) -> None: ...

class SearchRunsRequest(_message.Message):
    __slots__ = ("experiment_ids", "filter", "run_view_type", "max_results", "order_by", "page_token", "read")
    EXPERIMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    RUN_VIEW_TYPE_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    experiment_ids: _containers.RepeatedScalarFieldContainer[str]
    filter: str
    run_view_type: _common_pb2.ViewType
    max_results: int
    order_by: _containers.RepeatedScalarFieldContainer[str]
    page_token: str
    read: ReadOptions
    def __init__(self, experiment_ids: _Optional[_Iterable[str]] = ..., filter: _Optional[str] = ..., run_view_type: _Optional[_Union[_common_pb2.ViewType, str]] = ..., max_results: _Optional[int] = ..., order_by: _Optional[_Iterable[str]] = ..., page_token: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class SearchRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Run]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[_common_pb2.Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetMetricHistoryRequest(_message.Message):
    __slots__ = ("run_id", "metric_key", "max_results", "page_token", "read", "context")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    metric_key: str
    max_results: int
    page_token: str
    read: ReadOptions
    context: _containers.ScalarMap[str, str]
    def __init__(self, run_id: _Optional[str] = ..., metric_key: _Optional[str] = ..., max_results: _Optional[int] = ..., page_token: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ..., context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GetMetricHistoryResponse(_message.Message):
    __slots__ = ("metrics", "next_page_token")
    METRICS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[_common_pb2.Metric]
    next_page_token: str
    def __init__(self, metrics: _Optional[_Iterable[_Union[_common_pb2.Metric, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetMetricHistoryColumnsResponse(_message.Message):
    __slots__ = ("columns", "next_page_token")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    columns: HistoryColumns
    next_page_token: str
    def __init__(self, columns: _Optional[_Union[HistoryColumns, _Mapping]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class HistoryColumns(_message.Message):
    __slots__ = ("run_id", "metric_key", "steps", "timestamps", "values")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    metric_key: str
    steps: _containers.RepeatedScalarFieldContainer[int]
    timestamps: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, run_id: _Optional[str] = ..., metric_key: _Optional[str] = ..., steps: _Optional[_Iterable[int]] = ..., timestamps: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class MetricSeries(_message.Message):
    __slots__ = ("run_id", "metric_key", "steps", "timestamps", "values", "total_points", "sampled")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_POINTS_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    metric_key: str
    steps: _containers.RepeatedScalarFieldContainer[int]
    timestamps: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    total_points: int
    sampled: bool
    def __init__(self, run_id: _Optional[str] = ..., metric_key: _Optional[str] = ..., steps: _Optional[_Iterable[int]] = ..., timestamps: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ..., total_points: _Optional[int] = ..., sampled: _Optional[bool] = ...) -> None: ...

class GetSampledMetricHistoryRequest(_message.Message):
    __slots__ = ("run_id", "metric_key", "max_points", "x_axis", "start", "end", "read", "context")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_POINTS_FIELD_NUMBER: _ClassVar[int]
    X_AXIS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    metric_key: str
    max_points: int
    x_axis: XAxis
    start: int
    end: int
    read: ReadOptions
    context: _containers.ScalarMap[str, str]
    def __init__(self, run_id: _Optional[str] = ..., metric_key: _Optional[str] = ..., max_points: _Optional[int] = ..., x_axis: _Optional[_Union[XAxis, str]] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ..., context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GetSampledMetricHistoryResponse(_message.Message):
    __slots__ = ("series",)
    SERIES_FIELD_NUMBER: _ClassVar[int]
    series: MetricSeries
    def __init__(self, series: _Optional[_Union[MetricSeries, _Mapping]] = ...) -> None: ...

class GetSampledMetricHistoriesRequest(_message.Message):
    __slots__ = ("run_ids", "metric_key", "max_points", "x_axis", "start", "end", "read", "context")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_POINTS_FIELD_NUMBER: _ClassVar[int]
    X_AXIS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    metric_key: str
    max_points: int
    x_axis: XAxis
    start: int
    end: int
    read: ReadOptions
    context: _containers.ScalarMap[str, str]
    def __init__(self, run_ids: _Optional[_Iterable[str]] = ..., metric_key: _Optional[str] = ..., max_points: _Optional[int] = ..., x_axis: _Optional[_Union[XAxis, str]] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ..., context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GetSampledMetricHistoriesResponse(_message.Message):
    __slots__ = ("series",)
    SERIES_FIELD_NUMBER: _ClassVar[int]
    series: _containers.RepeatedCompositeFieldContainer[MetricSeries]
    def __init__(self, series: _Optional[_Iterable[_Union[MetricSeries, _Mapping]]] = ...) -> None: ...

class GetMetricAggregatesRequest(_message.Message):
    __slots__ = ("experiment_ids", "filter", "run_view_type", "metric_key", "group_by", "percentiles", "start_step", "end_step", "max_points", "read", "run_id", "context")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXPERIMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    RUN_VIEW_TYPE_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    PERCENTILES_FIELD_NUMBER: _ClassVar[int]
    START_STEP_FIELD_NUMBER: _ClassVar[int]
    END_STEP_FIELD_NUMBER: _ClassVar[int]
    MAX_POINTS_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    experiment_ids: _containers.RepeatedScalarFieldContainer[str]
    filter: str
    run_view_type: _common_pb2.ViewType
    metric_key: str
    group_by: str
    percentiles: _containers.RepeatedScalarFieldContainer[float]
    start_step: int
    end_step: int
    max_points: int
    read: ReadOptions
    run_id: str
    context: _containers.ScalarMap[str, str]
    def __init__(self, experiment_ids: _Optional[_Iterable[str]] = ..., filter: _Optional[str] = ..., run_view_type: _Optional[_Union[_common_pb2.ViewType, str]] = ..., metric_key: _Optional[str] = ..., group_by: _Optional[str] = ..., percentiles: _Optional[_Iterable[float]] = ..., start_step: _Optional[int] = ..., end_step: _Optional[int] = ..., max_points: _Optional[int] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ..., run_id: _Optional[str] = ..., context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PercentileSeries(_message.Message):
    __slots__ = ("percentile", "values")
    PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    percentile: float
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, percentile: _Optional[float] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class StepAggregates(_message.Message):
    __slots__ = ("group_value", "group_missing", "steps", "run_counts", "mean", "min", "max", "percentiles")
    GROUP_VALUE_FIELD_NUMBER: _ClassVar[int]
    GROUP_MISSING_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    RUN_COUNTS_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    PERCENTILES_FIELD_NUMBER: _ClassVar[int]
    group_value: str
    group_missing: bool
    steps: _containers.RepeatedScalarFieldContainer[int]
    run_counts: _containers.RepeatedScalarFieldContainer[int]
    mean: _containers.RepeatedScalarFieldContainer[float]
    min: _containers.RepeatedScalarFieldContainer[float]
    max: _containers.RepeatedScalarFieldContainer[float]
    percentiles: _containers.RepeatedCompositeFieldContainer[PercentileSeries]
    def __init__(self, group_value: _Optional[str] = ..., group_missing: _Optional[bool] = ..., steps: _Optional[_Iterable[int]] = ..., run_counts: _Optional[_Iterable[int]] = ..., mean: _Optional[_Iterable[float]] = ..., min: _Optional[_Iterable[float]] = ..., max: _Optional[_Iterable[float]] = ..., percentiles: _Optional[_Iterable[_Union[PercentileSeries, _Mapping]]] = ...) -> None: ...

class GetMetricAggregatesResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[StepAggregates]
    def __init__(self, groups: _Optional[_Iterable[_Union[StepAggregates, _Mapping]]] = ...) -> None: ...

class GetLatestMetricsByContextRequest(_message.Message):
    __slots__ = ("run_id", "metric_keys", "context", "read")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    metric_keys: _containers.RepeatedScalarFieldContainer[str]
    context: _containers.ScalarMap[str, str]
    read: ReadOptions
    def __init__(self, run_id: _Optional[str] = ..., metric_keys: _Optional[_Iterable[str]] = ..., context: _Optional[_Mapping[str, str]] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class ContextMetric(_message.Message):
    __slots__ = ("key", "context", "step", "timestamp", "value", "min", "max", "count")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    key: str
    context: _containers.ScalarMap[str, str]
    step: int
    timestamp: int
    value: float
    min: float
    max: float
    count: int
    def __init__(self, key: _Optional[str] = ..., context: _Optional[_Mapping[str, str]] = ..., step: _Optional[int] = ..., timestamp: _Optional[int] = ..., value: _Optional[float] = ..., min: _Optional[float] = ..., max: _Optional[float] = ..., count: _Optional[int] = ...) -> None: ...

class GetLatestMetricsByContextResponse(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[ContextMetric]
    def __init__(self, metrics: _Optional[_Iterable[_Union[ContextMetric, _Mapping]]] = ...) -> None: ...

class GetBestRunsRequest(_message.Message):
    __slots__ = ("experiment_ids", "filter", "run_view_type", "metric_key", "rank_by", "goal", "max_results", "read")
    EXPERIMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    RUN_VIEW_TYPE_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    RANK_BY_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    experiment_ids: _containers.RepeatedScalarFieldContainer[str]
    filter: str
    run_view_type: _common_pb2.ViewType
    metric_key: str
    rank_by: RankBy
    goal: Goal
    max_results: int
    read: ReadOptions
    def __init__(self, experiment_ids: _Optional[_Iterable[str]] = ..., filter: _Optional[str] = ..., run_view_type: _Optional[_Union[_common_pb2.ViewType, str]] = ..., metric_key: _Optional[str] = ..., rank_by: _Optional[_Union[RankBy, str]] = ..., goal: _Optional[_Union[Goal, str]] = ..., max_results: _Optional[int] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class RankedRun(_message.Message):
    __slots__ = ("run", "value")
    RUN_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    run: _common_pb2.Run
    value: float
    def __init__(self, run: _Optional[_Union[_common_pb2.Run, _Mapping]] = ..., value: _Optional[float] = ...) -> None: ...

class GetBestRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[RankedRun]
    def __init__(self, runs: _Optional[_Iterable[_Union[RankedRun, _Mapping]]] = ...) -> None: ...

class CountRunsByStatusRequest(_message.Message):
    __slots__ = ("experiment_ids", "filter", "run_view_type", "read")
    EXPERIMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    RUN_VIEW_TYPE_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    experiment_ids: _containers.RepeatedScalarFieldContainer[str]
    filter: str
    run_view_type: _common_pb2.ViewType
    read: ReadOptions
    def __init__(self, experiment_ids: _Optional[_Iterable[str]] = ..., filter: _Optional[str] = ..., run_view_type: _Optional[_Union[_common_pb2.ViewType, str]] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class StatusCount(_message.Message):
    __slots__ = ("status", "count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.RunStatus
    count: int
    def __init__(self, status: _Optional[_Union[_common_pb2.RunStatus, str]] = ..., count: _Optional[int] = ...) -> None: ...

class CountRunsByStatusResponse(_message.Message):
    __slots__ = ("counts", "total")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[StatusCount]
    total: int
    def __init__(self, counts: _Optional[_Iterable[_Union[StatusCount, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class SearchDatasetsRequest(_message.Message):
    __slots__ = ("experiment_ids", "read")
    EXPERIMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    experiment_ids: _containers.RepeatedScalarFieldContainer[str]
    read: ReadOptions
    def __init__(self, experiment_ids: _Optional[_Iterable[str]] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class DatasetSummary(_message.Message):
    __slots__ = ("experiment_id", "name", "digest", "context")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    name: str
    digest: str
    context: str
    def __init__(self, experiment_id: _Optional[str] = ..., name: _Optional[str] = ..., digest: _Optional[str] = ..., context: _Optional[str] = ...) -> None: ...

class SearchDatasetsResponse(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetSummary]
    def __init__(self, datasets: _Optional[_Iterable[_Union[DatasetSummary, _Mapping]]] = ...) -> None: ...

class GetLoggedModelRequest(_message.Message):
    __slots__ = ("model_id", "allow_deleted", "read")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DELETED_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    allow_deleted: bool
    read: ReadOptions
    def __init__(self, model_id: _Optional[str] = ..., allow_deleted: _Optional[bool] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class LoggedModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: _models_pb2.LoggedModel
    def __init__(self, model: _Optional[_Union[_models_pb2.LoggedModel, _Mapping]] = ...) -> None: ...

class DatasetFilter(_message.Message):
    __slots__ = ("dataset_name", "dataset_digest")
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    DATASET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    dataset_name: str
    dataset_digest: str
    def __init__(self, dataset_name: _Optional[str] = ..., dataset_digest: _Optional[str] = ...) -> None: ...

class LoggedModelOrder(_message.Message):
    __slots__ = ("field_name", "ascending", "dataset_name", "dataset_digest")
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    ASCENDING_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    DATASET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    field_name: str
    ascending: bool
    dataset_name: str
    dataset_digest: str
    def __init__(self, field_name: _Optional[str] = ..., ascending: _Optional[bool] = ..., dataset_name: _Optional[str] = ..., dataset_digest: _Optional[str] = ...) -> None: ...

class SearchLoggedModelsRequest(_message.Message):
    __slots__ = ("experiment_ids", "filter", "datasets", "max_results", "order_by", "page_token", "read")
    EXPERIMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    experiment_ids: _containers.RepeatedScalarFieldContainer[str]
    filter: str
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetFilter]
    max_results: int
    order_by: _containers.RepeatedCompositeFieldContainer[LoggedModelOrder]
    page_token: str
    read: ReadOptions
    def __init__(self, experiment_ids: _Optional[_Iterable[str]] = ..., filter: _Optional[str] = ..., datasets: _Optional[_Iterable[_Union[DatasetFilter, _Mapping]]] = ..., max_results: _Optional[int] = ..., order_by: _Optional[_Iterable[_Union[LoggedModelOrder, _Mapping]]] = ..., page_token: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class SearchLoggedModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[_models_pb2.LoggedModel]
    next_page_token: str
    def __init__(self, models: _Optional[_Iterable[_Union[_models_pb2.LoggedModel, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetRegisteredModelRequest(_message.Message):
    __slots__ = ("name", "read")
    NAME_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    name: str
    read: ReadOptions
    def __init__(self, name: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class RegisteredModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: _models_pb2.RegisteredModel
    def __init__(self, model: _Optional[_Union[_models_pb2.RegisteredModel, _Mapping]] = ...) -> None: ...

class SearchRegisteredModelsRequest(_message.Message):
    __slots__ = ("filter", "max_results", "order_by", "page_token", "read")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    filter: str
    max_results: int
    order_by: _containers.RepeatedScalarFieldContainer[str]
    page_token: str
    read: ReadOptions
    def __init__(self, filter: _Optional[str] = ..., max_results: _Optional[int] = ..., order_by: _Optional[_Iterable[str]] = ..., page_token: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class SearchRegisteredModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[_models_pb2.RegisteredModel]
    next_page_token: str
    def __init__(self, models: _Optional[_Iterable[_Union[_models_pb2.RegisteredModel, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetModelVersionRequest(_message.Message):
    __slots__ = ("name", "version", "read")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    read: ReadOptions
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class GetModelVersionByAliasRequest(_message.Message):
    __slots__ = ("name", "alias", "read")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    name: str
    alias: str
    read: ReadOptions
    def __init__(self, name: _Optional[str] = ..., alias: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class ModelVersionResponse(_message.Message):
    __slots__ = ("model_version",)
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: _models_pb2.ModelVersion
    def __init__(self, model_version: _Optional[_Union[_models_pb2.ModelVersion, _Mapping]] = ...) -> None: ...

class GetLatestVersionsRequest(_message.Message):
    __slots__ = ("name", "stages", "read")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    name: str
    stages: _containers.RepeatedScalarFieldContainer[str]
    read: ReadOptions
    def __init__(self, name: _Optional[str] = ..., stages: _Optional[_Iterable[str]] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class GetLatestVersionsResponse(_message.Message):
    __slots__ = ("model_versions",)
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    model_versions: _containers.RepeatedCompositeFieldContainer[_models_pb2.ModelVersion]
    def __init__(self, model_versions: _Optional[_Iterable[_Union[_models_pb2.ModelVersion, _Mapping]]] = ...) -> None: ...

class SearchModelVersionsRequest(_message.Message):
    __slots__ = ("filter", "max_results", "order_by", "page_token", "read")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    filter: str
    max_results: int
    order_by: _containers.RepeatedScalarFieldContainer[str]
    page_token: str
    read: ReadOptions
    def __init__(self, filter: _Optional[str] = ..., max_results: _Optional[int] = ..., order_by: _Optional[_Iterable[str]] = ..., page_token: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class SearchModelVersionsResponse(_message.Message):
    __slots__ = ("model_versions", "next_page_token")
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model_versions: _containers.RepeatedCompositeFieldContainer[_models_pb2.ModelVersion]
    next_page_token: str
    def __init__(self, model_versions: _Optional[_Iterable[_Union[_models_pb2.ModelVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetWriteOutcomeRequest(_message.Message):
    __slots__ = ("event_id", "read")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    read: ReadOptions
    def __init__(self, event_id: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class GetWriteOutcomeResponse(_message.Message):
    __slots__ = ("error_code", "message", "name", "version", "registered_model", "model_version")
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    error_code: _common_pb2.ErrorCode
    message: str
    name: str
    version: int
    registered_model: _models_pb2.RegisteredModel
    model_version: _models_pb2.ModelVersion
    def __init__(self, error_code: _Optional[_Union[_common_pb2.ErrorCode, str]] = ..., message: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., registered_model: _Optional[_Union[_models_pb2.RegisteredModel, _Mapping]] = ..., model_version: _Optional[_Union[_models_pb2.ModelVersion, _Mapping]] = ...) -> None: ...

class TailRequest(_message.Message):
    __slots__ = ("run_id", "experiment_id", "after")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    experiment_id: str
    after: _common_pb2.WriteToken
    def __init__(self, run_id: _Optional[str] = ..., experiment_id: _Optional[str] = ..., after: _Optional[_Union[_common_pb2.WriteToken, _Mapping]] = ...) -> None: ...

class TailPoint(_message.Message):
    __slots__ = ("run_id", "key", "value", "step", "timestamp", "context")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    key: str
    value: float
    step: int
    timestamp: int
    context: _containers.ScalarMap[str, str]
    def __init__(self, run_id: _Optional[str] = ..., key: _Optional[str] = ..., value: _Optional[float] = ..., step: _Optional[int] = ..., timestamp: _Optional[int] = ..., context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class TailRunChange(_message.Message):
    __slots__ = ("run_id", "experiment_id", "kind", "status", "run_name", "start_time", "end_time", "params", "tags", "deleted_tags", "timestamp")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RUN_NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    DELETED_TAGS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    experiment_id: str
    kind: str
    status: str
    run_name: str
    start_time: int
    end_time: int
    params: _containers.ScalarMap[str, str]
    tags: _containers.ScalarMap[str, str]
    deleted_tags: _containers.RepeatedScalarFieldContainer[str]
    timestamp: int
    def __init__(self, run_id: _Optional[str] = ..., experiment_id: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., run_name: _Optional[str] = ..., start_time: _Optional[int] = ..., end_time: _Optional[int] = ..., params: _Optional[_Mapping[str, str]] = ..., tags: _Optional[_Mapping[str, str]] = ..., deleted_tags: _Optional[_Iterable[str]] = ..., timestamp: _Optional[int] = ...) -> None: ...

class TailMessage(_message.Message):
    __slots__ = ("points", "changes", "token")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[TailPoint]
    changes: _containers.RepeatedCompositeFieldContainer[TailRunChange]
    token: _common_pb2.WriteToken
    def __init__(self, points: _Optional[_Iterable[_Union[TailPoint, _Mapping]]] = ..., changes: _Optional[_Iterable[_Union[TailRunChange, _Mapping]]] = ..., token: _Optional[_Union[_common_pb2.WriteToken, _Mapping]] = ...) -> None: ...
