"""The copier's decisions, against a fake target (the ``Target`` port) and a fake source:
what is new is written once, what is held is not, odd items are reported and the rest
goes on; the point columns a runstream target sends."""

from __future__ import annotations

import io
import math
import struct
from collections import Counter
from typing import Any, cast

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

from mlflow.entities import (  # noqa: E402
    Experiment,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from mlflow.exceptions import MlflowException  # noqa: E402

from runstream.integrations.mlflow.moving.copier import Copier, public_uri  # noqa: E402
from runstream.integrations.mlflow.moving.report import Summary  # noqa: E402
from runstream.integrations.mlflow.moving.runstream_target import metric_columns  # noqa: E402
from runstream.integrations.mlflow.moving.source import Source  # noqa: E402
from runstream.integrations.mlflow.moving.target import (  # noqa: E402
    SQL_INFINITY,
    Points,
    Tally,
    missing,
    point_key,
    tally,
)


def _run(run_id: str, params: dict[str, str], points: list[tuple[float, int]], **info: Any) -> Run:
    data = RunData(
        metrics=[Metric("loss", v, s, s) for v, s in points[-1:]],
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag("mlflow.runName", run_id)],
    )
    fields = {"status": "FINISHED", "end_time": 9, "lifecycle_stage": "active"} | info
    return Run(
        RunInfo(run_id, "1", "u", fields["status"], 1, fields["end_time"],
                fields["lifecycle_stage"], run_name=run_id),
        data, RunInputs([]),
    )  # fmt: skip


class FakeSource:
    uri = "sqlite:///x.db"

    def __init__(self, runs: list[Run], histories: dict[str, list[tuple[float, int]]]) -> None:
        self._runs = runs
        self._histories = histories

    def experiments(self) -> list[Experiment]:
        return [Experiment("1", "e", "s3://b/e", "active", tags=[])]

    def runs(self, experiment_id: str) -> list[Run]:
        return self._runs

    def orphan_runs(self, known: set[str]) -> list[tuple[str, str]]:
        return [("orphan", "77")]

    def logged_models(self, experiment_id: str) -> list[Any]:
        return []  # the logged models' copy is tested on the real stack

    def model_inputs(self, run_id: str) -> list[str]:
        return []

    def run_points(self, run_id: str, keys: list[str], points: Points) -> dict[str, int]:
        found = 0
        for value, step in self._histories[run_id]:
            if abs(value) == SQL_INFINITY:
                value, found = math.copysign(math.inf, value), found + 1
            points.add("loss", value, step, step)
        return {"loss": found}


class FakeTarget:
    """Holds what was written, the way a store would."""

    label = "fake"
    parallel = 2

    def __init__(self) -> None:
        self.experiments: dict[str, Experiment] = {}
        self.runs: dict[str, Run] = {}
        self.points: dict[str, Counter[tuple[int, int, str]]] = {}
        self.calls: list[str] = []
        self.histories_read = 0

    def experiment_by_name(self, name: str) -> Experiment | None:
        return self.experiments.get(name)

    def create_experiment(self, name: str, location: str, tags: dict[str, str]) -> str:
        self.calls.append("create_experiment")
        self.experiments[name] = Experiment("99", name, location, "active", tags=[])
        self.experiments[name]._tags = dict(tags)
        return "99"

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.calls.append("set_experiment_tag")

    def set_experiment_deleted(self, experiment_id: str, deleted: bool) -> None:
        self.calls.append("set_experiment_deleted")

    def runs_of(self, experiment_id: str) -> dict[str, Run]:
        return dict(self.runs)

    def create_run(self, experiment_id: str, run: Run) -> None:
        self.calls.append("create_run")
        self.runs[run.info.run_id] = _run(run.info.run_id, {}, [], status="RUNNING", end_time=None)

    def _replace(self, run_id: str, params: dict[str, str], tags: dict[str, str]) -> None:
        held = self.runs[run_id]
        data = RunData(
            metrics=[Metric("loss", 0, 0, 0)] if run_id in self.points else [],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        self.runs[run_id] = Run(held.info, data, RunInputs([]))

    def log(self, experiment_id: str, run_id: str, params: Any, tags: Any, points: Points) -> None:
        self.calls.append("log")
        held = self.runs[run_id].data
        self._replace(
            run_id,
            {**held.params, **{p.key: p.value for p in params}},
            {**held.tags, **{t.key: t.value for t in tags}},
        )
        if len(points):
            self._log_points(run_id, points)

    def history(self, run_id: str, key: str) -> Counter[tuple[int, int, str]]:
        self.histories_read += 1
        return Counter(self.points.get(run_id, Counter()))

    def tallies(self, run_id: str) -> dict[str, Tally]:
        held = self.points.get(run_id, Counter())
        latest = max((s, t) for s, t, _ in held.elements())
        return {"loss": (sum(held.values()), *latest)}

    def _log_points(self, run_id: str, points: Points) -> None:
        held = self.points.setdefault(run_id, Counter())
        columns = (points.values["loss"], points.steps["loss"], points.timestamps["loss"])
        for v, s, t in zip(*columns, strict=True):
            held[point_key(v, s, t)] += 1
        self._replace(run_id, self.runs[run_id].data.params, self.runs[run_id].data.tags)

    def log_inputs(self, experiment_id: str, run_id: str, inputs: Any) -> None:
        self.calls.append("log_inputs")

    def update_run(self, experiment_id: str, run_id: str, status: str, end: Any, name: str) -> None:
        self.calls.append("update_run")
        held = self.runs[run_id]
        info = RunInfo(run_id, "99", "u", status, 1, end, held.info.lifecycle_stage, run_name=name)
        self.runs[run_id] = Run(info, held.data, RunInputs([]))

    def set_run_deleted(self, experiment_id: str, run_id: str, deleted: bool) -> None:
        self.calls.append("set_run_deleted")

    def settle(self) -> None:
        pass


def _copy(source: FakeSource, target: FakeTarget) -> Summary:
    summary = Summary(out=io.StringIO())
    Copier(cast(Source, source), target, summary, mark_imports=True).run()
    return summary


def test_a_second_copy_writes_nothing_and_a_grown_source_only_its_new_points() -> None:
    history = [(1.0 / (s + 1), s) for s in range(50)] + [(SQL_INFINITY, 50)]
    runs = [_run("a", {"lr": "0.1", "long": "x" * 7000}, history)]
    source = FakeSource(runs, {"a": list(history)})
    target = FakeTarget()
    first = _copy(source, target)
    assert first.written["run"] == 1 and first.written["metric point"] == 51
    assert target.points["a"][point_key(math.inf, 50, 50)] == 1  # +-1.797e308 became inf
    outcomes = sorted((p.kind, p.outcome) for p in first.problems)
    assert outcomes == [("metric", "converted"), ("param", "truncated"), ("run", "skipped")]
    assert "orphan" in {p.item for p in first.problems}

    target.calls.clear()
    again = _copy(source, target)
    assert dict(again.written) == {}
    assert target.calls == []
    assert again.present["metric point"] == 51 and again.present["param"] == 2
    assert target.histories_read == 0  # the counts agreed: no history was read

    source._histories["a"] += [(7.0, 51), (7.0, 51)]  # the same point twice: both count
    grown = _copy(source, target)
    assert grown.written["metric point"] == 2 and target.calls == ["log"]
    assert target.histories_read == 1  # the key whose count differed, compared in full


class RefusingTarget(FakeTarget):
    """Refuses to create one run; records each write with its run."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused
        self.writes: list[tuple[str, str]] = []

    def create_run(self, experiment_id: str, run: Run) -> None:
        self.writes.append(("create_run", run.info.run_id))
        if run.info.run_id == self.refused:
            raise MlflowException("refused by the target")
        super().create_run(experiment_id, run)

    def log(self, experiment_id: str, run_id: str, params: Any, tags: Any, points: Points) -> None:
        self.writes.append(("log", run_id))
        super().log(experiment_id, run_id, params, tags, points)

    def update_run(self, experiment_id: str, run_id: str, status: str, end: Any, name: str) -> None:
        self.writes.append(("update_run", run_id))
        super().update_run(experiment_id, run_id, status, end, name)


def _steps(writes: list[tuple[str, str]], sizes: list[int]) -> list[Counter[str]]:
    out, at = [], 0
    for n in sizes:
        out.append(Counter(kind for kind, _ in writes[at : at + n]))
        at += n
    assert at == len(writes)
    return out


def test_runs_are_written_in_groups_step_by_step_and_a_refused_run_stops_alone() -> None:
    ids = [f"r{i}" for i in range(5)]
    history = [(0.5, 0), (0.25, 1)]
    source = FakeSource([_run(r, {"lr": r}, history) for r in ids], {r: history for r in ids})
    target = RefusingTarget(refused="r1")
    target.parallel = 3  # groups of three runs: r0-r2, then r3-r4
    summary = _copy(source, target)
    # a group's runs are created, then logged and updated (the name tag agrees with the
    # name: update and log in one step), then the next group
    assert _steps(target.writes, [3, 4, 2, 4]) == [
        Counter(create_run=3),
        Counter(log=2, update_run=2),
        Counter(create_run=2),
        Counter(log=2, update_run=2),
    ]
    assert sorted(r for _, r in target.writes[:3]) == ["r0", "r1", "r2"]
    # the refused run: nothing after its create; the others complete
    assert [k for k, r in target.writes if r == "r1"] == ["create_run"]
    assert sorted(target.runs) == ["r0", "r2", "r3", "r4"]
    assert all(target.points[r][point_key(0.25, 1, 1)] == 1 for r in target.runs)
    assert all(target.runs[r].info.status == "FINISHED" for r in target.runs)
    refused = [p for p in summary.problems if p.item == "r1"]
    assert len(refused) == 1 and "refused by the target" in refused[0].reason
    assert summary.written["run"] == 5  # planned (and counted) before the target refused


def test_an_update_that_renames_the_run_goes_after_the_tags_it_overrides() -> None:
    history = [(0.5, 0)]
    run = _run("a", {}, history)
    run.data._tags["mlflow.runName"] = "old name"  # the tag disagrees with the run's name
    target = RefusingTarget(refused="")
    _copy(FakeSource([run], {"a": history}), target)
    assert [kind for kind, _ in target.writes] == ["create_run", "log", "update_run"]


def test_a_tally_is_the_count_and_the_largest_step_and_timestamp() -> None:
    assert tally([3, 5, 5, 1], [30, 40, 45, 99]) == (4, 5, 45)
    assert tally([], []) == (0, 0, 0)


def test_missing_is_a_multiset_difference_where_nan_equals_nan() -> None:
    held = Counter([point_key(math.nan, 1, 1), point_key(2.0, 2, 2)])
    values, steps, _ = missing([math.nan, 2.0, 2.0, 3.0], [1, 2, 2, 3], [1, 2, 2, 3], held)
    assert steps == [2, 3] and values == [2.0, 3.0]
    assert point_key(-SQL_INFINITY, 0, 0) == point_key(-math.inf, 0, 0)


def test_metric_columns_are_packed_little_endian() -> None:
    points = Points()
    points.extend("a", [1.5, 2.5], [0, 1], [10, 11])
    points.extend("b", [math.inf], [7], [12])
    cols = metric_columns(points, ["a", "b"])
    assert list(cols.keys) == ["a", "b"]
    assert struct.unpack("<3H", cols.key_index) == (0, 0, 1)
    assert struct.unpack("<3d", cols.values) == (1.5, 2.5, math.inf)
    assert struct.unpack("<3q", cols.steps) == (0, 1, 7)
    assert struct.unpack("<3q", cols.timestamps) == (10, 11, 12)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("postgresql://ana:secret@db:5432/mlflow", "postgresql://db:5432/mlflow"),
        ("sqlite:///tmp/mlflow.db", "sqlite:///tmp/mlflow.db"),
        ("http://mlflow:5000", "http://mlflow:5000"),
    ],
)
def test_the_source_uri_is_recorded_without_credentials(uri: str, shown: str) -> None:
    assert public_uri(uri) == shown
