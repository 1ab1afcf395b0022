"""MLflow's search grammar: filters, order_by and group_by, for runs and experiments."""

from __future__ import annotations

import pytest

from runstream.query.errors import InvalidFilterError
from runstream.query.search_filter import (
    Condition,
    Entity,
    OrderKey,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_group_by,
    parse_run_filter,
    parse_run_order_by,
)

M, P, T, A, D = Entity.METRIC, Entity.PARAM, Entity.TAG, Entity.ATTRIBUTE, Entity.DATASET


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   ", []),
        ("metrics.acc > 0.5", [Condition(M, "acc", ">", 0.5)]),
        ("metric.acc>=1", [Condition(M, "acc", ">=", 1.0)]),
        ("metrics.`my key` < -1e3", [Condition(M, "my key", "<", -1000.0)]),
        ('metrics."my key" != .5', [Condition(M, "my key", "!=", 0.5)]),
        ("metrics.'my key' = 1.", [Condition(M, "my key", "=", 1.0)]),
        ("`metrics`.a.b <= 2", [Condition(M, "a.b", "<=", 2.0)]),
        ("metrics.1x = 1", [Condition(M, "1x", "=", 1.0)]),
        ("params.lr = '0.01'", [Condition(P, "lr", "=", "0.01")]),
        ('param.lr = "0.01"', [Condition(P, "lr", "=", "0.01")]),
        ("parameters.x != 'a b'", [Condition(P, "x", "!=", "a b")]),
        ("parameter.x LIKE '%a'", [Condition(P, "x", "LIKE", "%a")]),
        ("params.x ilike 'A%'", [Condition(P, "x", "ILIKE", "A%")]),
        ("params.x = 'it''s'", [Condition(P, "x", "=", "it''s")]),  # verbatim, as MLflow
        ('params.x = "it\'s"', [Condition(P, "x", "=", "it's")]),
        ("params.x IS NULL", [Condition(P, "x", "IS NULL", None)]),
        ("tags.x is not null", [Condition(T, "x", "IS NOT NULL", None)]),
        ("tag.`mlflow.runName` = 'r'", [Condition(T, "mlflow.runName", "=", "r")]),
        ("tags.mlflow.user = 'u'", [Condition(T, "mlflow.user", "=", "u")]),
        ("status = 'FINISHED'", [Condition(A, "status", "=", "FINISHED")]),
        ("attributes.run_name LIKE 'a%'", [Condition(A, "run_name", "LIKE", "a%")]),
        ("attr.user_id != 'u'", [Condition(A, "user_id", "!=", "u")]),
        ("run.artifact_uri ILIKE '%X'", [Condition(A, "artifact_uri", "ILIKE", "%X")]),
        ("`run name` = 'x'", [Condition(A, "run_name", "=", "x")]),
        ("\"Run Name\" = 'x'", [Condition(A, "run_name", "=", "x")]),
        ("created > 5", [Condition(A, "start_time", ">", 5)]),
        ("Created <= 5.5", [Condition(A, "start_time", "<=", 5.5)]),
        ("attributes.end_time = 7", [Condition(A, "end_time", "=", 7)]),
        ("run_id IN ('a', \"b\",)", [Condition(A, "run_id", "IN", ("a", "b"))]),
        ("attributes.run_id not in ('a\\'b')", [Condition(A, "run_id", "NOT IN", ("a'b",))]),
        ("datasets.name = 'd'", [Condition(D, "name", "=", "d")]),
        ("dataset.digest IN ('x')", [Condition(D, "digest", "IN", ("x",))]),
        (
            "metrics.a < 1 and params.b = 'x' AND tags.c LIKE 'y%'",
            [
                Condition(M, "a", "<", 1.0),
                Condition(P, "b", "=", "x"),
                Condition(T, "c", "LIKE", "y%"),
            ],
        ),
        (
            "params.x='a'AND params.y='b'",
            [Condition(P, "x", "=", "a"), Condition(P, "y", "=", "b")],
        ),
        ("metrics.x < 1e400", [Condition(M, "x", "<", float("inf"))]),
    ],
)
def test_run_filters(text: str, expected: list[Condition]) -> None:
    assert list(parse_run_filter(text)) == expected


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("metrics.x >", 12, "expected a value"),
        ("metrics.x 1", 11, "comparison operator"),
        ("metrics.x <> 1", 11, "use '!=' or '='"),
        ("metrics.x == 1", 11, "use '!=' or '='"),
        ("metrics.x > '1'", 13, "takes a number"),
        ("metrics.x LIKE 1", 11, "takes one of =, !=, <, <=, >, >="),
        ("metrics.x IS NULL", 11, "takes one of"),
        ("params.x > 'a'", 10, "takes one of =, !=, LIKE, ILIKE, IS NULL, IS NOT NULL"),
        ("params.x = 1", 12, "quoted string"),
        ("params.x = a", 12, "expected a value"),
        ("params.x IN ('a')", 10, "takes one of"),
        ("status IN ('a')", 11, "only run_id can be compared with a list"),
        ("run_id IN ()", 12, "non-empty list"),
        ("run_id IN (1)", 12, "quoted string in the list"),
        ("run_id = ('a')", 10, "only run_id"[:0] + "parenthesised list"),
        ("start_time > 'x'", 14, "takes a number"),
        ("lifecycle_stage = 'x'", 1, "expected an attribute"),
        ("METRICS.x > 1", 1, "expected an entity type"),
        ("foo.x > 1", 1, "expected an entity type"),
        ("datasets.foo = 'x'", 1, "expected a dataset key"),
        ("metrics.x > 1 or params.y = 'a'", 15, "expected AND"),
        ("metrics.x > 1 and", 18, "a comparison after AND"),
        ("and metrics.x > 1", 1, "expected an identifier"),
        ("metrics.x > 1 params.y = 'a'", 15, "expected AND"),
        ("metrics.x > 1;", 14, "AND"),
        ("(metrics.x > 1)", 1, "identifier"),
        ("metrics. > 1", 9, "a key after '.'"),
        ("metrics.a-b > 1", 10, "comparison operator"),
        ("params.x = 'a", 12, "expected a value"),
        ("params.x NOT LIKE 'a'", 14, "IN after NOT"),
        ("params.x IS 'a'", 13, "NULL or NOT NULL"),
        ("metrics.x > 12abc", 13, "expected a value"),
        ("metrics.x > 1 AND(params.y = 'a')", 18, "whitespace after AND"),
        ("tags.\"a b\".c = 'x'", 11, "whitespace or a comparison operator"),
    ],
)
def test_bad_run_filters_name_position_and_expectation(
    text: str, position: int, fragment: str
) -> None:
    with pytest.raises(InvalidFilterError) as info:
        parse_run_filter(text)
    message = str(info.value)
    assert f"position {position}" in message, message
    assert fragment in message, message
    assert info.value.position == position - 1


@pytest.mark.parametrize(
    ("clauses", "expected"),
    [
        (["metrics.x"], [OrderKey(M, "x", True)]),
        (["metrics.x DESC"], [OrderKey(M, "x", False)]),
        (["metrics.`a b` asc"], [OrderKey(M, "a b", True)]),
        (['params."a b" desc'], [OrderKey(P, "a b", False)]),
        (["tags.`mlflow.runName`"], [OrderKey(T, "mlflow.runName", True)]),
        (["start_time"], [OrderKey(A, "start_time", True)]),
        (["created DESC"], [OrderKey(A, "start_time", False)]),
        (
            ["attributes.run_name", "metric.x\tDESC"],
            [OrderKey(A, "run_name", True), OrderKey(M, "x", False)],
        ),
    ],
)
def test_run_order_by(clauses: list[str], expected: list[OrderKey]) -> None:
    assert list(parse_run_order_by(clauses)) == expected


@pytest.mark.parametrize(
    "clause",
    [
        " metrics.x",
        "metrics.x ",
        "metrics.x DESC extra",
        "metrics.x descending",
        "metrics.x,metrics.y",
        "timestamp",
        "datasets.name",
        "`Run name`",
        "experiment_id",
        "metrics.x NULLS LAST",
        "",
    ],
)
def test_bad_order_by(clause: str) -> None:
    with pytest.raises(InvalidFilterError, match="position"):
        parse_run_order_by([clause])


def test_duplicate_order_keys_are_refused_after_aliases() -> None:
    with pytest.raises(InvalidFilterError, match="duplicate"):
        parse_run_order_by(["start_time", "created DESC"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'x'", [Condition(A, "name", "=", "x")]),
        ("attribute.name ILIKE '%x'", [Condition(A, "name", "ILIKE", "%x")]),
        ("experiment_id IN ('1', '2')", [Condition(A, "experiment_id", "IN", ("1", "2"))]),
        (
            "creation_time > 5 and tags.a = 'b'",
            [Condition(A, "creation_time", ">", 5), Condition(T, "a", "=", "b")],
        ),
        ("tag.`a b` IS NULL", [Condition(T, "a b", "IS NULL", None)]),
    ],
)
def test_experiment_filters(text: str, expected: list[Condition]) -> None:
    assert list(parse_experiment_filter(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "attributes.name = 'x'",
        "params.a = 'x'",
        "name IN ('a')",
        "creation_time > 1.5",
        "creation_time = '5'",
        "name > 'a'",
        "tags.a IN ('b')",
    ],
)
def test_bad_experiment_filters(text: str) -> None:
    with pytest.raises(InvalidFilterError):
        parse_experiment_filter(text)


def test_experiment_order_defaults_and_tie_break() -> None:
    assert parse_experiment_order_by([]) == (
        OrderKey(A, "creation_time", False),
        OrderKey(A, "experiment_id", True),
    )
    assert parse_experiment_order_by(["name"]) == (
        OrderKey(A, "name", True),
        OrderKey(A, "experiment_id", False),
    )
    with pytest.raises(InvalidFilterError):
        parse_experiment_order_by(["tags.x"])


def test_group_by() -> None:
    assert parse_group_by("params.lr") == (P, "lr")
    assert parse_group_by("tags.`a b`") == (T, "a b")
    for bad in ("metrics.x", "status", "params.x DESC"):
        with pytest.raises(InvalidFilterError):
            parse_group_by(bad)
