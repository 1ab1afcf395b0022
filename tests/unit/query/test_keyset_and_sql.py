"""Page tokens, keyset conditions and the shape of the compiled SQL."""

from __future__ import annotations

import math

import pytest

from runstream.query.entities import RankBy, ViewType
from runstream.query.errors import InvalidPageTokenError
from runstream.query.experiment_sql import ExperimentSearchCompiler
from runstream.query.keyset import (
    SortColumn,
    after_condition,
    decode_token,
    encode_token,
    fingerprint,
)
from runstream.query.run_sql import RunSearch, RunSearchCompiler, run_data_sql, run_page_sql
from runstream.query.search_filter import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from runstream.query.sql_text import Binder, like_pattern

COLUMNS = [
    SortColumn("s0", "UInt8", True),
    SortColumn("s1", "Float64", False),
    SortColumn("s2", "Int64", False),
    SortColumn("s3", "String", True),
]


def test_token_round_trip_is_exact() -> None:
    fp = fingerprint("runs", ["e"], "x")
    values = [1, 0.1 + 0.2, -(2**62), "run-ü"]
    token = encode_token(fp, COLUMNS, values)
    assert token.isascii() and "=" not in token
    assert decode_token(token, fp, COLUMNS) == values
    inf = encode_token(fp, COLUMNS, [0, math.inf, 0, ""])
    assert decode_token(inf, fp, COLUMNS)[1] == math.inf


@pytest.mark.parametrize("token", ["", "!!!", "e30", "WzEsMiwzXQ", "bm90IGpzb24"])
def test_garbage_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidPageTokenError):
        decode_token(token or "x", "fp", COLUMNS)


def test_token_of_another_query_is_refused() -> None:
    token = encode_token("aaaa", COLUMNS, [0, 1.0, 2, "r"])
    with pytest.raises(InvalidPageTokenError, match="another query"):
        decode_token(token, "bbbb", COLUMNS)
    with pytest.raises(InvalidPageTokenError):
        decode_token(token, "aaaa", COLUMNS[:2])


def test_after_condition_is_lexicographic_with_directions() -> None:
    b = Binder()
    text = after_condition(COLUMNS[:3], [0, 0.5, 7], b)
    assert text == (
        "((s0 > {p0:UInt8}) OR (s0 = {p1:UInt8} AND s1 < {p2:Float64}) OR "
        "(s0 = {p3:UInt8} AND s1 = {p4:Float64} AND s2 < {p5:Int64}))"
    )
    assert b.params == {"p0": 0, "p1": 0, "p2": 0.5, "p3": 0, "p4": 0.5, "p5": 7}


def test_like_patterns_keep_backslashes_literal() -> None:
    assert like_pattern("C:\\%") == "C:\\\\%"


def _compile(text: str, order: list[str], exps: tuple[str, ...] = ("e1",)) -> RunSearchCompiler:
    return RunSearchCompiler(
        RunSearch(exps, parse_run_filter(text), parse_run_order_by(order), ViewType.ACTIVE_ONLY)
    )


def test_plan_filters_on_key_prefixes_and_sorts_like_mlflow() -> None:
    c = _compile(
        "metrics.loss < 0.5 and params.lr = '0.01' and tags.t IS NULL", ["metrics.acc DESC"]
    )
    sql = c.search_sql(11, None)
    t = sql.text
    assert "FROM runs FINAL WHERE experiment_id IN {p0:Array(String)}" in t
    assert (
        "INNER JOIN (SELECT run_id FROM latest_metrics FINAL WHERE experiment_id IN "
        "{p0:Array(String)} AND key = {p2:String}"
    ) in t
    # params are write-once: a semi-join without FINAL, inside the runs subquery
    assert (
        "AND run_id IN (SELECT run_id FROM params WHERE experiment_id IN {p0:Array(String)} "
        "AND key = {p4:String} AND value = {p5:String})) AS r"
    ) in t
    assert "r.run_id NOT IN (SELECT run_id FROM tags FINAL" in t
    assert t.endswith("ORDER BY s0 ASC, s1 DESC, s2 DESC, s3 ASC LIMIT {p8:UInt32}")
    assert sql.params["p0"] == ["e1"] and sql.params["p3"] == 0.5
    assert [c.ch_type for c in c.columns] == ["UInt8", "Float64", "Int64", "String"]


def test_start_time_in_order_by_drops_the_default_tail() -> None:
    c = _compile("", ["start_time ASC"])
    assert [(col.expr, col.ascending) for col in c.columns] == [("s0", True), ("s1", True)]
    assert "r.start_time AS s0, r.run_id AS s1" in c.search_sql(1, None).text


def test_without_experiments_every_experiment_is_searched() -> None:
    sql = _compile("params.a = 'b'", [], ()).search_sql(3, None)
    assert "experiment_id IN" not in sql.text


def test_dataset_filters_are_semi_joins_on_the_runs_inputs() -> None:
    sql = _compile("datasets.name = 'x' AND datasets.context LIKE 'tr%'", []).search_sql(3, None)
    assert sql.text.count("r.run_id IN (SELECT run_id FROM run_inputs WHERE") == 2
    assert "mapContains(tags, 'mlflow.data.context')" in sql.text
    assert "'x'" not in sql.text and "x" in sql.params.values()


def test_other_statements_share_the_filter() -> None:
    c = _compile("params.a = 'b'", [])
    assert "GROUP BY r.status" in c.count_by_status_sql().text
    best = _compile("params.a = 'b'", []).best_runs_sql("loss", RankBy.MIN, False, 5)
    assert "SELECT run_id, min_value AS v FROM latest_metrics FINAL" in best.text
    assert "NOT isNaN(bv.v)" in best.text and "ASC, r.start_time DESC" in best.text


def test_run_data_statements() -> None:
    stmts = run_data_sql(["e"], ["a", "b"])
    assert set(stmts) == {"info", "params", "tags", "metrics"}
    assert stmts["info"].params == {"p0": ["e"], "p1": ["a", "b"]}
    by_id = run_data_sql([], ["a"])
    assert "experiment_id IN" not in by_id["tags"].text


def test_run_page_statements() -> None:
    stmts = run_page_sql(["e"], ["a", "b"])
    assert set(stmts) == {"info", "data"}
    for sql in stmts.values():  # the ids are bound once per statement, never spliced
        assert sql.params == {"p0": ["e"], "p1": ["a", "b"]}
        assert "'a'" not in sql.text
    data = stmts["data"].text
    assert data.count("UNION ALL") == 2
    # the same reads as the separate statements, projection-friendly (no FINAL)
    assert "FROM params WHERE" in data and "FROM tags WHERE" in data
    assert "FROM latest_metrics WHERE" in data and "FINAL" not in data
    assert "(SELECT count() FROM run_inputs) > 0" in stmts["info"].text
    assert "(SELECT count() FROM run_model_links) > 0" in stmts["info"].text
    assert "experiment_id IN" not in run_page_sql([], ["a"])["data"].text


def test_experiment_search_sql() -> None:
    c = ExperimentSearchCompiler(
        parse_experiment_filter("name LIKE 'a%' and tags.t IS NULL"),
        parse_experiment_order_by([]),
        ViewType.ALL,
    )
    sql = c.search_sql(4, [5, "x"])
    assert "experiment_id NOT IN (SELECT experiment_id FROM experiment_tags FINAL" in sql.text
    assert "ORDER BY e.creation_time DESC, e.experiment_id ASC" in sql.text
    assert sql.params["p0"] == ["active", "deleted"]
