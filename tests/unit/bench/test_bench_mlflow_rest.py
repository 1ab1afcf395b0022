"""Figure 6's bookkeeping: a server that fails leaves its cells missing, with the error."""

from __future__ import annotations

import pytest

requests = pytest.importorskip("requests")

from bench import bench_mlflow_rest  # noqa: E402
from bench.report import Cell  # noqa: E402


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
