"""The tracking store's experiments: create, get, search, rename, delete, restore, tag.

MLflow's checks come first (``mlflow.utils.validation``, ``SearchExperimentsUtils``), then
the state checks MLflow's SQL store makes, against a read that carries the write token.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlflow.entities import Experiment, ExperimentTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    BAD_REQUEST,
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.utils.search_utils import SearchExperimentsUtils
from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local
from mlflow.utils.validation import (
    _validate_experiment_artifact_location_length,
    _validate_experiment_name,
    _validate_experiment_tag,
)

from runstream.proto.v1 import query_pb2, write_pb2
from runstream.proto.vocabulary import ACTIVE, DELETED, experiment_id_for_name

from .. import convert
from ..rpc import EXPERIMENTS, experiment_write_scopes, run_write_scopes
from .core import StoreCore

# How many ids derived from one name are tried before giving up (see _free_experiment_id).
_MAX_ID_ATTEMPTS = 100


class ExperimentMethods(StoreCore):
    """MLflow's experiment calls."""

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] | None = None,
    ) -> str:
        _validate_experiment_name(name)
        if artifact_location:
            artifact_location = resolve_uri_if_local(artifact_location)
            _validate_experiment_artifact_location_length(artifact_location)
        for tag in tags or ():
            _validate_experiment_tag(tag.key, tag.value)
        if self.get_experiment_by_name(name) is not None:
            raise MlflowException(
                f"Experiment(name={name}) already exists.", RESOURCE_ALREADY_EXISTS
            )
        experiment_id = self._free_experiment_id(name)
        if not artifact_location:
            artifact_location = append_to_uri_path(self.artifact_root_uri, experiment_id)
        response = self._rpc.create_experiment(
            write_pb2.CreateExperimentRequest(
                name=name,
                artifact_location=artifact_location,
                tags=convert.tags_to_proto(tags or ()),
                experiment_id=experiment_id,
            ),
            experiment_write_scopes(experiment_id),
        )
        return str(response.experiment_id)

    def _free_experiment_id(self, name: str) -> str:
        """The id runstream derives from ``name``, unless an experiment renamed away from
        ``name`` holds it: then the next free id derived from ``name`` and a counter.  Both
        are deterministic, so concurrent creators of one name still agree."""
        candidate = experiment_id_for_name(name)
        for attempt in range(1, _MAX_ID_ATTEMPTS):
            try:
                self._experiment_pb(candidate)
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return candidate
                raise
            candidate = experiment_id_for_name(f"{name}\n{attempt}")
        raise MlflowException(f"no free experiment id for {name!r}", INVALID_STATE)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._to_experiment(self._experiment_pb(str(experiment_id)))

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        self._ensure_default_experiment()
        try:
            response = self._rpc.get_experiment_by_name(
                query_pb2.GetExperimentByNameRequest(name=experiment_name), (EXPERIMENTS,)
            )
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return self._to_experiment(response.experiment)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        self._validate_max_results(max_results)
        SearchExperimentsUtils.parse_search_filter(filter_string)
        for clause in order_by or ():
            SearchExperimentsUtils.parse_order_by_for_search_experiments(clause)
        self._ensure_default_experiment()
        response = self._rpc.search_experiments(
            query_pb2.SearchExperimentsRequest(
                filter=filter_string or "",
                max_results=max_results,
                order_by=list(order_by or ()),
                page_token=page_token or "",
                view_type=convert.view_type_to_proto(view_type),
            ),
            (EXPERIMENTS,),
        )
        experiments = [self._to_experiment(e) for e in response.experiments]
        return PagedList(experiments, response.next_page_token or None)

    def delete_experiment(self, experiment_id: str) -> None:
        experiment = self._experiment_pb(experiment_id)
        if experiment.lifecycle_stage == DELETED:
            raise MlflowException(
                f"No Experiment with id={experiment_id} exists", RESOURCE_DOES_NOT_EXIST
            )
        # As in MLflow, deleting an experiment deletes its runs.
        exp_id = str(experiment_id)
        for run_id in self._run_ids_of(exp_id, ViewType.ACTIVE_ONLY):
            self._rpc.delete_run(write_pb2.RunRef(run_id=run_id), run_write_scopes(run_id, exp_id))
        self._rpc.delete_experiment(
            write_pb2.ExperimentRef(experiment_id=exp_id), experiment_write_scopes(exp_id)
        )
        self._forget_runs_of(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        experiment = self._experiment_pb(experiment_id)
        if experiment.lifecycle_stage != DELETED:
            raise MlflowException(
                f"No Experiment with id={experiment_id} exists", RESOURCE_DOES_NOT_EXIST
            )
        exp_id = str(experiment_id)
        self._rpc.restore_experiment(
            write_pb2.ExperimentRef(experiment_id=exp_id), experiment_write_scopes(exp_id)
        )
        # As in MLflow, restoring an experiment restores all its runs.
        for run_id in self._run_ids_of(exp_id, ViewType.DELETED_ONLY):
            self._rpc.restore_run(write_pb2.RunRef(run_id=run_id), run_write_scopes(run_id, exp_id))
        self._forget_runs_of(str(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        _validate_experiment_name(new_name)
        experiment = self._experiment_pb(experiment_id)
        if experiment.lifecycle_stage != ACTIVE:
            raise MlflowException("Cannot rename a non-active experiment.", INVALID_STATE)
        if experiment.name == new_name:
            return
        other = self.get_experiment_by_name(new_name)
        if other is not None:
            # MLflow's SQL store answers BAD_REQUEST here (its unique-name constraint).
            raise MlflowException(
                f"Cannot rename experiment {experiment_id} to '{new_name}': "
                f"Experiment(name={new_name}) already exists.",
                BAD_REQUEST,
            )
        self._rpc.rename_experiment(
            write_pb2.RenameExperimentRequest(experiment_id=str(experiment_id), new_name=new_name),
            experiment_write_scopes(str(experiment_id)),
        )

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        _validate_experiment_tag(tag.key, tag.value)
        experiment = self._experiment_pb(experiment_id)
        self._check_experiment_is_active(experiment)
        self._rpc.set_experiment_tag(
            write_pb2.SetExperimentTagRequest(
                experiment_id=str(experiment_id), key=tag.key, value=str(tag.value)
            ),
            experiment_write_scopes(str(experiment_id)),
        )
