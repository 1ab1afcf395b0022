"""A run this store just created is answered as created (``tracking/created.py``) while
nothing may have touched it: that answer must be exactly what the read side answers once
ingest applied the creation, and anything that may touch the run must end it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

pytestmark = pytest.mark.integration


def _store(uri: str) -> Any:
    from runstream.integrations.mlflow.entry_points import RunstreamStore

    return RunstreamStore(uri)


def _same(a: Any, b: Any) -> None:
    assert a.to_dictionary() == b.to_dictionary()
    assert a.info == b.info or a.info.to_proto() == b.info.to_proto()
    assert a.data.tags == b.data.tags and a.data.params == b.data.params
    assert a.data.metrics == b.data.metrics
    assert a.inputs.to_proto() == b.inputs.to_proto()
    assert a.outputs.to_proto() == b.outputs.to_proto()


def _as_created(store: Any, kept: Any) -> Any:
    from runstream.integrations.mlflow import convert

    return convert.run_from_proto(kept, store._run_location(kept.info))


def test_a_created_run_is_answered_exactly_as_the_read_side_answers_it(
    runstream_uri: str,
) -> None:
    from mlflow.entities import RunTag
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME, MLFLOW_USER

    store = _store(runstream_uri)
    exp = store.create_experiment(f"created-{uuid.uuid4().hex[:8]}")
    parent = store.create_run(exp, "u", None, [], "parent").info.run_id
    shapes = [
        ("", None, [], None),
        ("alice", 1_700_000_000_123, [RunTag("a", "1"), RunTag("b", "")], "named"),
        ("bob", None, [RunTag(MLFLOW_RUN_NAME, "by-tag"), RunTag(MLFLOW_USER, "x")], None),
        ("c", 5, [RunTag(MLFLOW_PARENT_RUN_ID, parent), RunTag("k", "v" * 500)], "child"),
    ]
    for user, start, tags, name in shapes:
        created = store.create_run(exp, user, start, tags, name)
        run_id = created.info.run_id
        kept = store._created.get(run_id)  # what get_run answers while ingest lacks the run
        assert kept is not None
        local = _as_created(store, kept)
        read = store._read_run(run_id)  # waits for ingest to apply the creation
        assert store._created.get(run_id) is None  # a read of the run ends it
        _same(local, read)
        # and a store that never saw the creation reads the same
        _same(local, _store(runstream_uri).get_run(run_id))


def test_anything_that_may_touch_the_run_ends_the_answer_from_its_creation(
    runstream_uri: str,
) -> None:
    from mlflow.entities import Metric, RunStatus

    store = _store(runstream_uri)
    exp = store.create_experiment(f"touched-{uuid.uuid4().hex[:8]}")
    logged = store.create_run(exp, "u", None, [], "logged").info.run_id
    store.log_metric(logged, Metric("m", 1.5, 1, 0))
    assert store.get_run(logged).data.metrics == {"m": 1.5}
    ended = store.create_run(exp, "u", None, [], "ended").info.run_id
    store.update_run_info(ended, RunStatus.FINISHED, 10, None)
    assert store.get_run(ended).info.status == "FINISHED"
    deleted = store.create_run(exp, "u", None, [], "deleted").info.run_id
    store.delete_experiment(exp)  # deletes its runs: no run scope is named for it
    assert store.get_run(deleted).info.lifecycle_stage == "deleted"
    searched = store.create_run(store.create_experiment(f"s-{uuid.uuid4().hex[:8]}"), "u",
                                None, [], "searched")  # fmt: skip
    found = store.search_runs([searched.info.experiment_id], None, 1)
    assert [r.info.run_id for r in found] == [searched.info.run_id]
    assert store._created.get(searched.info.run_id) is None


def test_another_process_writes_are_seen_once_the_read_side_has_the_run(
    runstream_uri: str,
) -> None:
    """``mlflow server`` runs several workers, each with a store of its own: a run created
    through one and logged to through another is read back through the first with what
    the second wrote, as soon as it is applied (the read side is asked before the
    creation is answered)."""
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException

    first, second = _store(runstream_uri), _store(runstream_uri)
    exp = first.create_experiment(f"workers-{uuid.uuid4().hex[:8]}")
    run_id = first.create_run(exp, "u", None, [], "shared").info.run_id
    # The second store knows nothing of the creation (no token): it finds the run once
    # ingest applied it (see docs/mlflow.md on several workers).
    deadline = time.monotonic() + 60
    while True:
        try:
            second.get_run(run_id)
            break
        except MlflowException:
            assert time.monotonic() < deadline, "the creation was not applied in 60 s"
            time.sleep(0.05)
    second.log_param(run_id, Param("lr", "0.1"))
    assert second.get_run(run_id).data.params == {"lr": "0.1"}  # waits for its own write
    assert first._created.get(run_id) is not None  # the first store still holds the creation
    assert first.get_run(run_id).data.params == {"lr": "0.1"}
    assert first._created.get(run_id) is None
