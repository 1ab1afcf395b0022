"""The UI's chart views (``get_metric_history_bulk_interval`` and ``..._from_steps``) on
runstream, compared with MLflow's SQLite store on the same series.

Where MLflow's answer is fixed (the range holds no more points than asked for, or the
points at given steps), both answers must be identical.  Where it samples, both keep
MLflow's promises (at most ``max_results`` per run, the range's first and last step, only
logged points, in order), and runstream's M4 also keeps the series' spike.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

pytestmark = pytest.mark.integration

POINTS = 3_000
SPIKE_AT = 1_111  # the index of the spike
SPIKE = 1e6


def _series(seed: int) -> list[tuple[int, int, float]]:
    """(step, timestamp, value): steps with gaps, some steps twice, one spike."""
    points = []
    for i in range(POINTS):
        step = i * 3 + (i % 7 == 0)
        value = SPIKE if i == SPIKE_AT else math.sin(i / 50.0) + seed
        points.append((step, 1_000 + i, value))
        if i % 500 == 0:  # a second value at the same step
            points.append((step, 2_000_000 + i, value + 0.5))
    return points


def _log(uri: str, name: str) -> tuple[Any, list[str], dict[str, list[tuple[int, int, float]]]]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment(name)
    run_ids, series = [], {}
    for seed in range(2):
        run_id = client.create_run(exp, run_name=f"r{seed}").info.run_id
        points = _series(seed)
        for at in range(0, len(points), 1000):
            batch = [Metric("loss", v, t, s) for s, t, v in points[at : at + 1000]]
            client.log_batch(run_id, metrics=batch)
        run_ids.append(run_id)
        series[run_id] = sorted(points)
    client.log_metric(run_ids[0], "short", 1.0, step=5, timestamp=7)
    return client._tracking_client.store, run_ids, series


@pytest.fixture(scope="module")
def stores(runstream_uri: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    name = f"charts-{uuid.uuid4().hex[:8]}"
    sqlite_uri = f"sqlite:///{tmp_path_factory.mktemp('charts') / 'reference.db'}"
    rs_store, rs_runs, series = _log(runstream_uri, name)
    ml_store, ml_runs, _ = _log(sqlite_uri, name)
    return {
        "rs": (rs_store, rs_runs),
        "ml": (ml_store, ml_runs),
        "series": series,
        "rs_runs": rs_runs,
    }


def _answer(store: Any, runs: list[str], *args: Any) -> list[tuple[int, int, int, float]]:
    """(run index, step, timestamp, value) of a bulk-interval answer."""
    found = store.get_metric_history_bulk_interval(runs, *args)
    index = {r: i for i, r in enumerate(runs)}
    return [(index[m.run_id], m.step, m.timestamp, m.value) for m in found]


@pytest.mark.parametrize(
    ("key", "max_results", "start", "end"),
    [
        ("loss", 5_000, None, None),  # the whole series fits: every point
        ("loss", 200, 300, 700),  # a range that fits
        ("loss", 1, 0, 50),  # only the last point
        ("loss", 2, 0, 50),  # first and last
        ("short", 320, None, None),
        ("missing", 320, None, None),
    ],
)
def test_unsampled_answers_are_mlflows(
    stores: dict[str, Any], key: str, max_results: int, start: int | None, end: int | None
) -> None:
    expected = _answer(*stores["ml"], key, max_results, start, end)
    actual = _answer(*stores["rs"], key, max_results, start, end)
    assert actual == expected


@pytest.mark.parametrize(
    ("max_results", "start", "end"),
    [(320, None, None), (100, 600, 6_000), (7, None, None), (3, 0, 50)],
)
def test_sampled_answers_keep_mlflows_promises(
    stores: dict[str, Any], max_results: int, start: int | None, end: int | None
) -> None:
    expected = _answer(*stores["ml"], "loss", max_results, start, end)
    actual = _answer(*stores["rs"], "loss", max_results, start, end)
    for run in (0, 1):
        want = [p[1:] for p in expected if p[0] == run]
        got = [p[1:] for p in actual if p[0] == run]
        logged = stores["series"][stores["rs_runs"][run]]
        in_range = [p for p in logged if start is None or start <= p[0] <= end]  # type: ignore[operator]
        assert 0 < len(got) <= max_results
        assert got == sorted(got)
        assert set(got) <= set(in_range)
        assert got[0][0] == want[0][0] == in_range[0][0]  # the first step
        assert got[-1][0] == want[-1][0] == in_range[-1][0]  # the last step
        if max_results >= 8 and start is None:
            assert any(v == SPIKE for _, _, v in got)  # M4 keeps the spike
    assert [p[0] for p in actual] == sorted(p[0] for p in actual)  # runs in request order


def test_runs_in_request_order_and_unknown_runs_answer_nothing(stores: dict[str, Any]) -> None:
    rs_store, rs_runs = stores["rs"]
    ml_store, _ = stores["ml"]
    unknown = uuid.uuid4().hex
    for store in (rs_store, ml_store):
        assert store.get_metric_history_bulk_interval([unknown], "loss", 10, None, None) == []
    got = rs_store.get_metric_history_bulk_interval(
        [rs_runs[1], rs_runs[0]], "loss", 10, None, None
    )
    order = [m.run_id for m in got]
    assert 0 < order.count(rs_runs[1]) <= 10
    assert order == sorted(order, key=[rs_runs[1], rs_runs[0]].index)
    with pytest.raises(Exception, match="together"):
        rs_store.get_metric_history_bulk_interval(rs_runs, "loss", 10, 5, None)


@pytest.mark.parametrize(
    "steps", [[0, 3, 1_500, 1_503, 8_997], [], [10**9], list(range(0, 9_000, 7))]
)
def test_points_at_given_steps_are_mlflows(stores: dict[str, Any], steps: list[int]) -> None:
    answers = []
    for store, runs in (stores["rs"], stores["ml"]):
        found = store.get_metric_history_bulk_interval_from_steps(runs[0], "loss", steps, 500)
        answers.append([(m.step, m.timestamp, m.value) for m in found])
    assert answers[0] == answers[1]
