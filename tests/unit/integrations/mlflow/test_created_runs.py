"""What ends the answer from a run's creation (``tracking/created.py``): writes by scope,
age, the bound.  The answer's equality with the read side's is tested on the real stack
(``tests/integration/integrations/mlflow/test_created_runs.py``)."""

from __future__ import annotations

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

from runstream.integrations.mlflow.rpc import (  # noqa: E402
    EXPERIMENTS,
    experiment_scope,
    experiment_write_scopes,
    run_write_scopes,
)
from runstream.integrations.mlflow.tracking.created import CreatedRuns  # noqa: E402
from runstream.proto.v1 import common_pb2  # noqa: E402


def _run(run_id: str, experiment_id: str = "1") -> common_pb2.Run:
    return common_pb2.Run(info=common_pb2.RunInfo(run_id=run_id, experiment_id=experiment_id))


def test_a_write_forgets_exactly_the_runs_it_may_touch() -> None:
    created = CreatedRuns()
    for run_id, exp in (("a", "1"), ("b", "1"), ("c", "2")):
        created.add(_run(run_id, exp))
    created.writing(run_write_scopes("a", "1"))  # a write to run a (and the runs of 1)
    assert created.get("a") is None and created.get("b") is not None
    created.writing((experiment_scope("2"), EXPERIMENTS))  # an experiment tag: no run
    assert created.get("c") is not None
    created.writing(experiment_write_scopes("1"))  # e.g. experiment 1 deleted: its runs
    assert created.get("b") is None and created.get("c") is not None
    created.writing(())  # a write that names no scope may touch anything
    assert len(created) == 0


def test_the_answer_is_a_copy_and_ends_with_age_and_the_bound() -> None:
    now = [0.0]
    created = CreatedRuns(limit=2, max_age_s=10.0, clock=lambda: now[0])
    created.add(_run("a"))
    answer = created.get("a")
    assert answer is not None
    answer.info.status = common_pb2.RunStatus.Value("FINISHED")
    again = created.get("a")
    assert again is not None and again.info.status != answer.info.status
    created.add(_run("b"))
    created.add(_run("c"))  # past the bound: the oldest goes
    assert created.get("a") is None and created.get("b") is not None
    now[0] = 10.5
    assert created.get("b") is None and len(created) == 1
    created.forget("c")
    assert len(created) == 0


def test_the_client_tells_a_writes_scope_before_it_is_sent_whatever_its_outcome() -> None:
    from mlflow.exceptions import MlflowException

    from runstream.integrations.mlflow.rpc import RunstreamRpc
    from runstream.integrations.mlflow.settings import ClientSettings
    from runstream.proto.v1 import write_pb2

    settings = ClientSettings.from_uri("runstream://127.0.0.1:1", {"RUNSTREAM_MLFLOW_TIMEOUT": "1"})
    client = RunstreamRpc(settings)  # nothing listens there: every call fails
    told: list[tuple[str, ...]] = []
    client.before_write = lambda scope: told.append(tuple(scope))
    try:
        with pytest.raises(MlflowException):
            client.log_batch(write_pb2.LogBatchRequest(run_id="a"), run_write_scopes("a", "1"))
        with pytest.raises(MlflowException):
            client.log_inputs(write_pb2.LogInputsRequest(run_id="a"))
    finally:
        client.close()
    assert told == [run_write_scopes("a", "1"), ()]
