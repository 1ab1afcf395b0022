"""Run reads against real chDB: keyset pages under concurrent inserts, aggregates checked
against numpy, best N, counts, deleted runs and replayed rows."""

from __future__ import annotations

import random

import numpy as np
import pytest

from runstream.query import (
    InvalidRequestError,
    QueryService,
    RankBy,
    RunSelection,
    ViewType,
)
from tests.integration.query.rows import Writer


def test_pages_stay_correct_while_runs_arrive(service: QueryService, writer: Writer) -> None:
    rng = random.Random(5)
    for i in range(40):
        rid = f"run{i:03d}"
        writer.run(rid, "e", start_time=rng.randint(0, 10))
        writer.metrics("e", rid, [("acc", rng.random(), 0, 0)])
    sel = RunSelection(("e",))
    order = ["metrics.acc DESC"]
    before = [r.info.run_id for r in service.search_runs(sel, order, 1000).items]
    seen: list[str] = []
    token, added = "", 0
    while True:
        page = service.search_runs(sel, order, 7, token)
        seen += [r.info.run_id for r in page.items]
        # runs arrive between pages, some sorting before the cursor, some after
        for value in (0.999999, 0.000001):
            rid = f"new{added:03d}"
            writer.run(rid, "e", start_time=5)
            writer.metrics("e", rid, [("acc", value, 0, 0)])
            added += 1
        token = page.next_page_token
        if not token:
            break
    originals = [r for r in seen if r.startswith("run")]
    assert originals == before  # nothing skipped, repeated or reordered
    assert len(seen) == len(set(seen))
    late = [r for r in seen if r.startswith("new")]
    assert late and all(r in {f"new{i:03d}" for i in range(1, added, 2)} for r in late)


def test_view_types_and_deleted_runs(service: QueryService, writer: Writer) -> None:
    writer.run("a", "e", start_time=1)
    writer.run("b", "e", start_time=2)
    writer.run("b", "e", lifecycle_stage="deleted", deleted_time=5)
    writer.run("c", "e", start_time=3)
    writer.run("c", "e", lifecycle_stage="deleted")
    writer.run("c", "e", lifecycle_stage="active")  # restored

    def ids(view: ViewType) -> list[str]:
        return [r.info.run_id for r in service.search_runs(RunSelection(("e",), "", view)).items]

    assert ids(ViewType.ACTIVE_ONLY) == ["c", "a"]
    assert ids(ViewType.DELETED_ONLY) == ["b"]
    assert ids(ViewType.ALL) == ["c", "b", "a"]
    assert service.get_run("b").info.lifecycle_stage == "deleted"


def test_replayed_rows_do_not_duplicate(service: QueryService, writer: Writer) -> None:
    writer.run("a", "e", start_time=1, run_name="x")
    for _ in range(3):
        writer.params("e", "a", {"p": "1"})
        writer.tags("e", "a", {"t": "1"})
        writer.metrics("e", "a", [("m", 2.0, 1, 1), ("m", 1.0, 0, 0)])
    run = service.get_run("a")
    assert run.params == {"p": "1"} and run.tags == {"t": "1"}
    assert [(m.key, m.value, m.step) for m in run.metrics] == [("m", 2.0, 1)]
    assert [
        r.info.run_id
        for r in service.search_runs(
            RunSelection(("e",), "params.p = '1' and metrics.m = 2 and tags.t = '1'")
        ).items
    ] == ["a"]
    history = service.metric_history("a", "m")
    assert [(p.step, p.value) for p in history.items] == [(0, 1.0), (1, 2.0)]


def test_datasets_and_model_links_found_once_their_tables_fill(
    service: QueryService, writer: Writer
) -> None:
    """GetRun and a search page skip the datasets and model-link statements while those
    tables are empty; the first rows written afterwards are read by the next call."""
    writer.run("a", "e", start_time=2)
    writer.run("b", "e", start_time=1)
    assert service.get_run("a").io.datasets == ()
    assert all(r.io.model_outputs == () for r in service.search_runs(RunSelection(("e",))).items)
    writer.client.insert(
        "run_inputs",
        [["e", "a", "iris", "d1", "code", "{}", None, None, {"mlflow.data.context": "train"}, 7]],
        column_names=[
            "experiment_id", "run_id", "dataset_name", "dataset_digest", "source_type",
            "source", "dataset_schema", "dataset_profile", "tags", "version",
        ],
    )  # fmt: skip
    got = service.get_run("a").io
    assert [(d.name, d.digest, d.tags) for d in got.datasets] == [
        ("iris", "d1", {"mlflow.data.context": "train"})
    ]
    assert got.model_outputs == ()
    writer.client.insert(
        "run_model_links",
        [["e", "b", "output", "m-1", 3, 8]],
        column_names=["experiment_id", "run_id", "direction", "model_id", "step", "version"],
    )
    page = {r.info.run_id: r.io for r in service.search_runs(RunSelection(("e",))).items}
    assert [d.name for d in page["a"].datasets] == ["iris"]
    assert page["b"].model_outputs == (("m-1", 3),) and page["b"].datasets == ()
    assert service.get_run("b").io.model_outputs == (("m-1", 3),)


def test_max_results_limits(service: QueryService, writer: Writer) -> None:
    writer.run("a", "e", start_time=1)
    for bad in (-1, 50_001):
        with pytest.raises(InvalidRequestError):
            service.search_runs(RunSelection(), [], bad)
    assert len(service.search_runs(RunSelection(), [], 50_000).items) == 1


def test_aggregates_match_numpy(service: QueryService, writer: Writer) -> None:
    rng = np.random.default_rng(3)
    values: dict[str, dict[int, list[float]]] = {"adam": {}, "sgd": {}, "": {}}
    for i in range(30):
        rid = f"r{i}"
        opt = ["adam", "sgd", ""][i % 3]
        writer.run(rid, "e", start_time=i, status="FINISHED" if i % 4 else "FAILED")
        if opt:
            writer.params("e", rid, {"opt": opt})
        pts = []
        for step in range(0, 20, 1 + i % 2):
            v = float(rng.normal())
            pts.append(("loss", v - 10, step, 100))  # overwritten: same step, later time
            pts.append(("loss", v, step, 200))
            values[opt].setdefault(step, []).append(v)
        writer.metrics("e", rid, pts)
    groups = service.metric_aggregates(RunSelection(("e",)), "loss", "params.opt", [10, 50, 95])
    assert [(g.group_value, g.grouped) for g in groups] == [
        ("adam", True),
        ("sgd", True),
        (None, True),
    ]
    for g in groups:
        per_step = values[g.group_value or ""]
        assert g.steps == sorted(per_step)
        for j, step in enumerate(g.steps):
            vs = np.array(per_step[step])
            assert g.run_counts[j] == len(vs)
            assert g.mean[j] == pytest.approx(vs.mean())
            assert (g.min[j], g.max[j]) == (vs.min(), vs.max())
            for series, q in zip(g.percentiles, (10, 50, 95), strict=True):
                assert series.values[j] == pytest.approx(np.percentile(vs, q))
    bucketed = service.metric_aggregates(
        RunSelection(("e",), "params.opt = 'adam'"), "loss", "", [], max_points=5
    )
    (single,) = bucketed
    assert single.steps == [0, 4, 8, 12, 16] and not single.grouped
    flat = [v for step in range(0, 4) for v in values["adam"].get(step, [])]
    assert single.mean[0] == pytest.approx(np.mean(flat))
    with pytest.raises(InvalidRequestError):
        service.metric_aggregates(RunSelection(), "loss", "", [101])


def test_best_runs_and_counts(service: QueryService, writer: Writer) -> None:
    for i, (lo, last) in enumerate([(0.1, 0.5), (0.3, 0.2), (0.05, float("nan")), (0.2, 0.9)]):
        rid = f"r{i}"
        writer.run(rid, "e", start_time=i, status=["RUNNING", "FINISHED"][i % 2])
        writer.metrics("e", rid, [("loss", 1.0, 0, 0), ("loss", lo, 1, 1), ("loss", last, 2, 2)])
    sel = RunSelection(("e",))

    def best(rank: RankBy, maximize: bool, n: int = 10) -> list[tuple[str, float]]:
        return [
            (r.run.info.run_id, r.value) for r in service.best_runs(sel, "loss", rank, maximize, n)
        ]

    assert best(RankBy.LATEST, False) == [("r1", 0.2), ("r0", 0.5), ("r3", 0.9)]
    assert best(RankBy.MIN, False, 2) == [("r2", 0.05), ("r0", 0.1)]
    assert best(RankBy.MAX, True, 1) == [("r3", 1.0)]
    assert service.count_runs_by_status(sel) == {"RUNNING": 2, "FINISHED": 2}
    assert service.count_runs_by_status(RunSelection(("e",), "metrics.loss > 0.3")) == {
        "RUNNING": 1,
        "FINISHED": 1,
    }
