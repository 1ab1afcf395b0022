"""The tracking store's runs: create, get, update, delete, restore; params, metrics and
tags (``log_batch`` and its single-value forms); run search.  Metric histories are
:mod:`.history`'s.

MLflow's checks come first (``mlflow.utils.validation``, ``SearchUtils``), then the state
checks MLflow's SQL store makes (run active, params never changed) against what this store
last read or wrote (:class:`~.core.RunState`), so logging to one's own run needs no read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunInputs, RunTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from mlflow.utils.name_utils import _generate_random_name
from mlflow.utils.search_utils import SearchUtils
from mlflow.utils.validation import (
    _validate_batch_log_data,
    _validate_batch_log_limits,
    _validate_metric,
    _validate_param,
    _validate_param_keys_unique,
    _validate_run_id,
    _validate_tag,
)

from runstream.proto.v1 import common_pb2, query_pb2, write_pb2
from runstream.proto.vocabulary import ACTIVE, DEFAULT_EXPERIMENT_ID, DELETED

from .. import convert
from ..rpc import run_search_scopes, run_write_scopes
from .core import ALL_PAGE_SIZE, EXPERIMENT_STATE_SECONDS, StoreCore


class RunMethods(StoreCore):
    """MLflow's run, logging and run-search calls."""

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag] | None,
        run_name: str | None,
    ) -> Run:
        experiment_id = str(experiment_id or DEFAULT_EXPERIMENT_ID)
        # As read within the last seconds (unless this store changed it since): a run's
        # creation is one write, no read, while a client creates runs in a row.
        experiment = self._experiment_pb(experiment_id, EXPERIMENT_STATE_SECONDS)
        self._check_experiment_is_active(experiment)
        tag_list = list(tags or [])
        run_name_tag = next((t.value for t in tag_list if t.key == MLFLOW_RUN_NAME), None)
        if run_name and run_name_tag and run_name != run_name_tag:
            raise MlflowException(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{run_name}', mlflow.runName='{run_name_tag}').",
                INVALID_PARAMETER_VALUE,
            )
        run_name = run_name or run_name_tag or _generate_random_name()
        if not run_name_tag:
            tag_list.append(RunTag(MLFLOW_RUN_NAME, run_name))
        parent = next((t.value for t in tag_list if t.key == MLFLOW_PARENT_RUN_ID), "")
        start = int(start_time) if start_time is not None else int(time.time() * 1000)
        run_id = uuid.uuid4().hex
        response = self._rpc.create_run(
            write_pb2.CreateRunRequest(
                experiment_id=experiment_id,
                run_name=run_name,
                user_id=user_id or "",
                start_time=start,
                tags=convert.tags_to_proto(tag_list),
                parent_run_id=parent,
                run_id=run_id,
            ),
            run_write_scopes(run_id, experiment_id),
        )
        info_pb = response.run
        location = "" if info_pb.artifact_uri else self._experiment_location(experiment_id)
        info = convert.run_info_from_proto(info_pb, location)
        # What the gateway echoes may be partial: fill in what this call defined.
        info = RunInfo(
            run_id=info.run_id,
            experiment_id=info.experiment_id or experiment_id,
            user_id=info.user_id or (user_id or ""),
            status=info.status,
            start_time=info.start_time or start,
            end_time=info.end_time,
            lifecycle_stage=ACTIVE,
            artifact_uri=info.artifact_uri,
            run_name=info.run_name or run_name,
        )
        self._remember(info, {})
        if len({t.key for t in tag_list}) == len(tag_list):
            # Answered as created until anything may touch it (see .created).
            created = common_pb2.Run(data=common_pb2.RunData(tags=convert.tags_to_proto(tag_list)))
            created.info.CopyFrom(info_pb)
            created.info.experiment_id = info.experiment_id
            created.info.user_id = info.user_id
            created.info.start_time = info.start_time
            created.info.run_name = info.run_name
            created.info.lifecycle_stage = ACTIVE
            self._created.add(created)
        return Run(info, RunData(tags=tag_list), RunInputs(dataset_inputs=[]))

    def get_run(self, run_id: str) -> Run:
        created = self._created.get(run_id)
        if created is None:
            return self._read_run(run_id)
        # The read side first, without waiting: once ingest has applied the creation its
        # answer is the run as it is now, writes made through other processes included
        # (mlflow server runs several workers, each with a store of its own).  Only while
        # the creation is not applied yet is the run answered as created.
        try:
            response = self._rpc.get_run(query_pb2.GetRunRequest(run_id=run_id), wait=False)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            return convert.run_from_proto(created, self._run_location(created.info))
        return self._to_run(response.run)

    def update_run_info(
        self, run_id: str, run_status: int | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        state = self._run_state(run_id)
        self._check_run_is_active(run_id, state)
        request = write_pb2.UpdateRunRequest(
            run_id=run_id, status=convert.run_status_to_proto(run_status)
        )
        if end_time is not None:
            request.end_time = int(end_time)
        if run_name:
            request.run_name = run_name
        scope = run_write_scopes(run_id, str(state.info.experiment_id))
        self._rpc.update_run(request, scope)
        if run_name:
            # The run name is also the mlflow.runName tag, as in MLflow's stores.
            self._rpc.log_batch(
                write_pb2.LogBatchRequest(
                    run_id=run_id, tags=[common_pb2.Tag(key=MLFLOW_RUN_NAME, value=run_name)]
                ),
                scope,
            )
        return self._update_info(
            run_id,
            status=convert.run_status_name(request.status) if run_status is not None else None,
            end_time=int(end_time) if end_time is not None else None,
            run_name=run_name or None,
        )

    def delete_run(self, run_id: str) -> None:
        state = self._run_state(run_id)  # an unknown run is an error, as in MLflow's stores
        scope = run_write_scopes(run_id, str(state.info.experiment_id))
        self._rpc.delete_run(write_pb2.RunRef(run_id=run_id), scope)
        self._update_info(run_id, lifecycle_stage=DELETED)

    def restore_run(self, run_id: str) -> None:
        state = self._run_state(run_id)
        scope = run_write_scopes(run_id, str(state.info.experiment_id))
        self._rpc.restore_run(write_pb2.RunRef(run_id=run_id), scope)
        self._update_info(run_id, lifecycle_stage=ACTIVE)

    # --------------------------------------------------- params, metrics, tags

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        _validate_run_id(run_id)
        metrics, params, tags = _validate_batch_log_data(
            list(metrics or []), list(params or []), list(tags or [])
        )
        _validate_batch_log_limits(metrics, params, tags)
        _validate_param_keys_unique(params)
        self._send_batch(run_id, metrics, params, tags)

    def log_metric(self, run_id: str, metric: Metric) -> None:
        _validate_metric(metric.key, metric.value, metric.timestamp, metric.step)
        self._send_batch(run_id, [metric], [], [])

    def log_param(self, run_id: str, param: Param) -> None:
        param = _validate_param(param.key, param.value)
        self._send_batch(run_id, [], [param], [])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        tag = _validate_tag(tag.key, tag.value)
        self._send_batch(run_id, [], [], [tag])

    def _send_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        state = self._run_state(run_id, need_params=bool(params))
        self._check_run_is_active(run_id, state)
        new_params: list[Param] = []
        if params:
            conflicts = [
                {"key": p.key, "old_value": state.params[p.key], "new_value": p.value}
                for p in params
                if p.key in state.params and state.params[p.key] != p.value
            ]
            if conflicts:
                if len(params) == 1:
                    p, old = params[0], state.params[params[0].key]
                    raise MlflowException(
                        f"Changing param values is not allowed. Param with key='{p.key}' was"
                        f" already logged with value='{old}' for run ID='{run_id}'. Attempted"
                        f" logging new value '{p.value}'.",
                        INVALID_PARAMETER_VALUE,
                    )
                raise MlflowException(
                    "Changing param values is not allowed. Params were already"
                    f" logged='{conflicts}' for run ID='{run_id}'.",
                    INVALID_PARAMETER_VALUE,
                )
            new_params = [p for p in params if p.key not in state.params]
        # Identical points collapse, as in MLflow's stores.
        unique_metrics = list(dict.fromkeys(metrics))
        if not (unique_metrics or new_params or tags):
            return
        scope = run_write_scopes(run_id, str(state.info.experiment_id))
        self._rpc.log_batch(
            write_pb2.LogBatchRequest(
                run_id=run_id,
                metrics=convert.metrics_to_proto(unique_metrics),
                params=convert.params_to_proto(new_params),
                tags=convert.tags_to_proto(tags),
            ),
            scope,
        )
        self._log_model_metrics(run_id, state, unique_metrics)
        with self._lock:
            for p in new_params:
                state.params[p.key] = p.value
        name = next((t.value for t in reversed(tags) if t.key == MLFLOW_RUN_NAME), None)
        if name:
            # Setting the mlflow.runName tag renames the run, as in MLflow's stores.
            self._rpc.update_run(write_pb2.UpdateRunRequest(run_id=run_id, run_name=name), scope)
            self._update_info(run_id, run_name=name)

    def delete_tag(self, run_id: str, key: str) -> None:
        run = self._read_run(run_id)
        state = self._run_state(run_id)
        self._check_run_is_active(run_id, state)
        if key not in run.data.tags:
            raise MlflowException(
                f"No tag with name: {key} in run with id {run_id}",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        self._rpc.delete_tag(
            write_pb2.DeleteTagRequest(run_id=run_id, key=key),
            run_write_scopes(run_id, str(state.info.experiment_id)),
        )

    # ------------------------------------------------------------------- search

    def _search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        run_view_type: int,
        max_results: int | None,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        self._validate_max_results(max_results, allow_null=True)
        SearchUtils.parse_search_filter(filter_string)
        for clause in order_by or ():
            SearchUtils.parse_order_by_for_search_runs(clause)
        runs: list[Run] = []
        token = page_token or ""
        while True:
            response = self._rpc.search_runs(
                query_pb2.SearchRunsRequest(
                    experiment_ids=[str(e) for e in experiment_ids],
                    filter=filter_string or "",
                    run_view_type=convert.view_type_to_proto(run_view_type),
                    max_results=max_results if max_results is not None else ALL_PAGE_SIZE,
                    order_by=list(order_by or ()),
                    page_token=token,
                ),
                run_search_scopes([str(e) for e in experiment_ids]),
            )
            runs.extend(self._to_run(r) for r in response.runs)
            token = response.next_page_token
            if max_results is not None or not token:
                break
        return runs, token or None
