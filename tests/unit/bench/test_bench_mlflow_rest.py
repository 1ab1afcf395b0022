"""Figure 6's bookkeeping: a server that fails leaves its cells missing, with the error; the
run's checks say the load average the figure ran at."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

requests = pytest.importorskip("requests")

from bench import bench_mlflow_rest  # noqa: E402
from bench.report import Cell, Row  # noqa: E402


def test_a_failing_server_leaves_every_figure_missing_with_the_error() -> None:
    def fails() -> dict[str, Cell]:
        raise requests.HTTPError("504 Server Error: Gateway Timeout")

    figures = bench_mlflow_rest._or_failed(fails)
    for name in ("create", "get", "anything"):
        assert figures[name].value is None
        assert "504" in figures[name].note


def test_figures_of_a_working_server_pass_through() -> None:
    cell = Cell(12.5, 10)
    assert bench_mlflow_rest._or_failed(lambda: {"create": cell}) == {"create": cell}


def test_the_checks_say_the_load_the_figure_ran_at(monkeypatch: pytest.MonkeyPatch) -> None:
    row = Row("6", "MLflow REST: create-run p50", "ms", "lower", {})
    seen: list[tuple[Any, ...]] = []

    def measure(*args: Any) -> list[Row]:
        seen.append(args)
        return [row]

    monkeypatch.setattr(bench_mlflow_rest, "measure", measure)
    options = SimpleNamespace(full_points=1_000, sampled_points=10_000, calls=3, time_limit=1.0)
    run = SimpleNamespace(o=options, stack=None, logs=None, artifacts=None, rs_address="",
                          ml_url="", main_db=None, results=SimpleNamespace(checks=[]))  # fmt: skip
    assert bench_mlflow_rest.measure_run(run) == [row]
    assert len(seen) == 1
    (check,) = run.results.checks
    assert re.fullmatch(
        r"MLflow REST figure \(6\): load average \(1 min\) (\d+\.\d|unknown) at its start, "
        r"(\d+\.\d|unknown) at its end",
        check,
    )
