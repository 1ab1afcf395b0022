"""The side-by-side benchmark's arithmetic and report: ratios, percentiles, the table, the
document merge and the call-timing rules.  Nothing here measures anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import compare, report
from bench.__main__ import command_line, generated_markdown
from bench.compare import Options, Results, Timing, time_calls
from bench.report import (
    BEGIN,
    END,
    MLFLOW_SERVER,
    MLFLOW_SQLITE,
    RUNSTREAM,
    Cell,
    Row,
    SearchPoint,
    advantage,
    format_ratio,
    format_value,
    merge_document,
    percentile,
)


# -- statistics and ratios ----------------------------------------------------------------
def test_percentile_interpolates_between_ranks() -> None:
    samples = [4.0, 1.0, 3.0, 2.0, 5.0]
    assert percentile(samples, 50) == 3.0
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 100) == 5.0
    assert percentile(samples, 25) == 2.0
    assert percentile([1.0, 2.0], 99) == pytest.approx(1.99)
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)


def test_median_of_even_count_averages_the_middle() -> None:
    assert report.median([1.0, 2.0, 3.0, 10.0]) == 2.5


@pytest.mark.parametrize(
    ("rs", "ml", "better", "expected"),
    [
        (500_000.0, 10_000.0, "higher", 50.0),  # throughput: runstream / MLflow
        (10.0, 200.0, "lower", 20.0),  # latency: MLflow / runstream
        (800.0, 40.0, "lower", 0.05),  # MLflow ahead: below 1
        (5_000.0, 10_000.0, "higher", 0.5),
    ],
)
def test_advantage_is_how_many_times_runstream_is_ahead(
    rs: float, ml: float, better: report.Better, expected: float
) -> None:
    assert advantage(rs, ml, better) == pytest.approx(expected)


def test_advantage_is_undefined_without_both_values_or_with_a_zero() -> None:
    assert advantage(None, 1.0, "lower") is None
    assert advantage(1.0, None, "higher") is None
    assert advantage(0.0, 5.0, "lower") is None
    assert advantage(5.0, 0.0, "higher") is None


def test_row_ratio_uses_the_named_mlflow_variant() -> None:
    cells = {RUNSTREAM: Cell(10.0), MLFLOW_SQLITE: Cell(300.0), MLFLOW_SERVER: Cell(50.0)}
    row = Row("3", "search", "ms", "lower", cells)
    assert row.ratio(MLFLOW_SQLITE) == pytest.approx(30.0)
    assert row.ratio(MLFLOW_SERVER) == pytest.approx(5.0)
    missing = Row("3", "search", "ms", "lower",
                  {RUNSTREAM: Cell(10.0), MLFLOW_SQLITE: Cell.missing("not finished")})  # fmt: skip
    assert missing.ratio(MLFLOW_SQLITE) is None
    assert missing.ratio(MLFLOW_SERVER) is None


# -- formatting ---------------------------------------------------------------------------
def test_format_ratio() -> None:
    assert format_ratio(None) == "—"
    assert format_ratio(1234.4) == "1,234×"
    assert format_ratio(48.6) == "49×"
    assert format_ratio(3.14) == "3.1×"
    assert format_ratio(0.0712) == "0.07×"


def test_format_value_by_unit() -> None:
    assert format_value(512_345.6, "points/s") == "512,346"
    assert format_value(1234.5, "ms") == "1,234"
    assert format_value(56.78, "ms") == "56.8"
    assert format_value(3.456, "ms") == "3.46"
    assert format_value(880.4, "MB") == "880"
    assert format_value(None, "ms") == "—"


def test_table_has_one_line_per_row_with_both_ratios() -> None:
    rows = [
        Row("1", "throughput", "points/s", "higher",
            {RUNSTREAM: Cell(500_000.0, 3), MLFLOW_SQLITE: Cell(10_000.0, 3),
             MLFLOW_SERVER: Cell(5_000.0, 3)}),
        Row("3", "search 100k", "ms", "lower",
            {RUNSTREAM: Cell(50.0, 30), MLFLOW_SQLITE: Cell.missing("not finished"),
             MLFLOW_SERVER: Cell(5_000.0, 4)}),
    ]  # fmt: skip
    lines = report.table(rows)
    assert len(lines) == 2 + len(rows)
    assert "| 50× |" in lines[2] and "| 100× |" in lines[2]
    assert "500,000 (n=3)" in lines[2]
    assert "not finished" in lines[3] and "| — |" in lines[3] and "| 100× |" in lines[3]


def test_shortfalls_lists_each_variant_under_the_target() -> None:
    rows = [
        Row("2", "freshness p50", "ms", "lower",
            {RUNSTREAM: Cell(800.0), MLFLOW_SQLITE: Cell(30.0), MLFLOW_SERVER: Cell(80.0)}),
        Row("1", "throughput", "points/s", "higher",
            {RUNSTREAM: Cell(500_000.0), MLFLOW_SQLITE: Cell(10_000.0),
             MLFLOW_SERVER: Cell(5_000.0)}),
    ]  # fmt: skip
    short = report.shortfalls(rows)
    assert short == [
        "2. freshness p50: 0.04× against MLflow SQLite store, 0.10× against mlflow server (SQLite)"
    ]


# -- the document -------------------------------------------------------------------------
def test_merge_creates_a_document_with_a_handwritten_section() -> None:
    doc = merge_document(None, "TABLE", "Title")
    assert doc.startswith("# Title\n")
    assert f"{BEGIN}\nTABLE\n{END}" in doc
    assert "## Where the time goes" in doc


def test_merge_replaces_only_the_generated_block() -> None:
    before = f"# T\n\nintro by hand\n\n{BEGIN}\nold figures\n{END}\n\n## Analysis\nkept\n"
    after = merge_document(before, "new figures", "T")
    assert "old figures" not in after
    assert "new figures" in after
    assert after.startswith("# T\n\nintro by hand\n")
    assert after.endswith("## Analysis\nkept\n")
    assert merge_document(after, "new figures", "T") == after


def test_merge_keeps_a_document_without_markers_below_the_block() -> None:
    doc = merge_document("some notes by hand\n", "figures", "T")
    assert doc.index(END) < doc.index("some notes by hand")


def test_write_document_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "benchmarks.md"
    report.write_document(path, "first", "T")
    path.write_text(path.read_text() + "\nmy analysis\n")
    report.write_document(path, "second", "T")
    text = path.read_text()
    assert "second" in text and "first" not in text and "my analysis" in text


# -- the command and the generated text ---------------------------------------------------
def test_command_line_names_only_flags_that_differ_and_no_absolute_paths() -> None:
    assert command_line(Options(), Path("docs/benchmarks.md")) == "python -m bench"
    o = Options(sizes=(1000, 10000), time_limit=60.0, repeats=5)
    line = command_line(o, Path("/somewhere/out.md"))
    assert line == "python -m bench --runs-sizes 1000,10000 --repeats 5 --time-limit 60"
    assert command_line(Options(), Path("out/b.md")).endswith("--out out/b.md")


def test_generated_markdown_holds_the_table_facts_and_shortfalls() -> None:
    results = Results(Options(), seconds=300.0)
    results.facts = {"cores": "2", "date": "2026-01-01 00:00 UTC"}
    results.rows = [
        Row("2", "freshness p50", "ms", "lower",
            {RUNSTREAM: Cell(800.0, 300), MLFLOW_SQLITE: Cell(30.0, 300),
             MLFLOW_SERVER: Cell(80.0, 300)}),
    ]  # fmt: skip
    results.checks = ["a check"]
    text = generated_markdown(results, "python -m bench", "benchmarks/search_latency.png")
    assert "| cores | 2 |" in text
    assert "800 (n=300)" in text
    assert "- a check" in text
    assert "less than 20× ahead" in text
    assert "benchmarks/search_latency.png" in text


# -- timing rules (a fake clock: nothing here depends on real time) -----------------------
class FakeClock:
    def __init__(self, step_s: float) -> None:
        self.now = 0.0
        self.step_s = step_s

    def __call__(self) -> float:
        return self.now

    def call(self) -> None:  # the function being timed: it "takes" step_s
        self.now += self.step_s


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock(0.5)
    monkeypatch.setattr(compare.time, "perf_counter", fake)
    monkeypatch.setattr(compare.time, "monotonic", fake)
    return fake


def test_time_calls_stops_at_the_call_count(clock: FakeClock) -> None:
    timing = time_calls(clock.call, calls=3, limit_s=100)
    assert timing.finished
    assert timing.samples_ms == [500.0, 500.0, 500.0]


def test_time_calls_stops_when_the_time_limit_is_spent(clock: FakeClock) -> None:
    timing = time_calls(clock.call, calls=100, limit_s=2.0)
    assert timing.finished
    assert 1 <= len(timing.samples_ms) <= 5


def test_time_calls_marks_a_warmup_over_the_limit_as_not_finished(clock: FakeClock) -> None:
    clock.step_s = 30.0
    timing = time_calls(clock.call, calls=10, limit_s=20.0)
    assert not timing.finished and timing.samples_ms == []
    cell = timing.cell(50, 20.0)
    assert cell.value is None and "not finished" in cell.note and "30.0 s" in cell.note


def test_timing_cell_reports_median_and_p99() -> None:
    timing = Timing([1.0, 2.0, 3.0, 100.0], warmup_ms=5.0, finished=True)
    assert timing.cell(50, 10).value == 2.5
    assert timing.cell(99, 10).value == pytest.approx(percentile([1.0, 2.0, 3.0, 100.0], 99))
    assert timing.cell(50, 10).n == 4


# -- the plot -----------------------------------------------------------------------------
def test_plot_search_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    points = [
        SearchPoint(RUNSTREAM, 1000, 5.0, 9.0),
        SearchPoint(RUNSTREAM, 10000, 6.0, 11.0),
        SearchPoint(MLFLOW_SQLITE, 1000, 30.0, 60.0),
        SearchPoint(MLFLOW_SQLITE, 10000, None, None, 25_000.0),  # not finished
        SearchPoint(MLFLOW_SQLITE, 100000, None, None),  # not run
        SearchPoint(MLFLOW_SERVER, 1000, 50.0, 90.0),
    ]
    path = tmp_path / "search_latency.png"
    report.plot_search(points, path, "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
