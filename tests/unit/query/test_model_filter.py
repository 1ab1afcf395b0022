"""The model half's search grammars (MLflow's registry and logged-model rules) and their SQL:
what is accepted, what is refused with a position, and that values never enter the text."""

from __future__ import annotations

import pytest

from runstream.query.errors import InvalidFilterError
from runstream.query.model_entities import DatasetFilter, LoggedModelOrder
from runstream.query.model_filter import (
    ModelCondition,
    ModelOrderKey,
    parse_logged_model_filter,
    parse_logged_model_order_by,
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
)
from runstream.query.model_sql import (
    logged_model_search,
    model_version_search,
    registered_model_search,
)


def test_registered_model_filters() -> None:
    assert parse_registered_model_filter("name LIKE 'ir%' AND tags.`team` = 'a'") == (
        ModelCondition("attribute", "name", "LIKE", "ir%"),
        ModelCondition("tag", "team", "=", "a"),
    )
    assert parse_registered_model_filter("name IN ('a', 'b')")[0].value == ("a", "b")
    for bad in (
        "version_number = 1",  # not a registered-model attribute
        "tags.t IS NULL",  # registry tags take = != LIKE ILIKE
        "tags.t IN ('a')",
        "name = 1",
        "run.name = 'x'",
    ):
        with pytest.raises(InvalidFilterError):
            parse_registered_model_filter(bad)


def test_model_version_filters() -> None:
    got = parse_model_version_filter(
        "name = 'm' AND version_number >= 2 AND run_id IN ('r1') AND source_path LIKE 's3://%'"
    )
    assert [(c.key, c.comparator, c.value) for c in got] == [
        ("name", "=", "m"),
        ("model_version", ">=", 2),
        ("run_id", "IN", ("r1",)),
        ("source", "LIKE", "s3://%"),
    ]
    assert parse_model_version_filter("version_number = '3'")[0].value == 3  # as MLflow
    for bad in ("version_number = 1.5", "source_path IN ('a')", "creation_timestamp > 1"):
        with pytest.raises(InvalidFilterError):
            parse_model_version_filter(bad)


def test_registry_orders_default_and_tie_breaks() -> None:
    assert parse_registered_model_order_by(["timestamp DESC"]) == (
        ModelOrderKey("last_updated_time", False),
        ModelOrderKey("name", True),
    )
    with pytest.raises(InvalidFilterError, match="duplicate"):
        parse_registered_model_order_by(["timestamp", "last_updated_timestamp"])
    with pytest.raises(InvalidFilterError):
        parse_registered_model_order_by(["creation_timestamp"])  # not in MLflow's SQL store
    assert [k.key for k in parse_model_version_order_by([])] == [
        "last_updated_time",
        "name",
        "model_version",
    ]
    with pytest.raises(InvalidFilterError, match="at most 1"):
        parse_model_version_order_by(["name", "version_number"], max_keys=1)


def test_logged_model_filters_and_orders() -> None:
    got = parse_logged_model_filter(
        "metrics.acc > 0.5 AND params.lr = '0.1' AND tags.t IN ('a') AND creation_time > 5"
        " AND attributes.status = 'READY'"
    )
    assert [(c.entity, c.key, c.value) for c in got] == [
        ("metric", "acc", 0.5),
        ("param", "lr", "0.1"),
        ("tag", "t", ("a",)),
        ("attribute", "creation_timestamp", 5.0),
        ("attribute", "status", "READY"),
    ]
    for bad in ("metric.acc > 1", "metrics.acc LIKE 'a'", "color = 'red'"):
        with pytest.raises(InvalidFilterError):
            parse_logged_model_filter(bad)
    order = parse_logged_model_order_by([LoggedModelOrder("metrics.acc", False, "iris")])
    assert order == (
        ModelOrderKey("metrics.acc", False, "iris"),
        ModelOrderKey("creation_timestamp", False),
        ModelOrderKey("model_id", True),
    )
    with pytest.raises(InvalidFilterError):
        parse_logged_model_order_by([LoggedModelOrder("params.lr")])
    with pytest.raises(InvalidFilterError):
        parse_logged_model_order_by([LoggedModelOrder("metrics.acc", True, None, "digest")])


def test_values_go_to_parameters_never_into_the_sql_text() -> None:
    evil = "x' OR 1=1 --"
    rm = registered_model_search(
        parse_registered_model_filter(f'name = "{evil}" AND tags.k LIKE "{evil}"'),
        parse_registered_model_order_by([]),
        10,
        None,
    )
    mv = model_version_search(
        parse_model_version_filter(f"run_id IN ('{evil.replace(chr(39), '')}')"),
        parse_model_version_order_by([]),
        10,
        None,
    )
    lm = logged_model_search(
        ["1"],
        parse_logged_model_filter(f'params.p = "{evil}" AND metrics.m > 1'),
        [DatasetFilter(evil, evil)],
        parse_logged_model_order_by([LoggedModelOrder("metrics.m", True, evil)]),
        10,
        None,
    )
    for page in (rm, mv, lm):
        assert "OR 1=1" not in page.sql.text
        assert any("OR 1=1" in str(v) for v in page.sql.params.values()) or page is mv
    # prompts are left out unless the filter asks for them
    assert "mlflow.prompt.is_prompt" not in rm.sql.text
    assert "NOT IN (SELECT name FROM registered_model_tags" in rm.sql.text
    prompts = registered_model_search(
        parse_registered_model_filter("tags.`mlflow.prompt.is_prompt` = 'true'"), (), 10, None
    )
    assert "NOT IN (SELECT name FROM registered_model_tags" not in prompts.sql.text
