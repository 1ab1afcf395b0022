"""MLflow's input rules, each with the field at fault named in the error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runstream.producer import validation as v
from runstream.producer.errors import ValidationError
from runstream.proto.v1 import common_pb2


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("", "must not be empty"),
        ("a" * 251, "at most 250"),
        ("a/../b", "'..'"),
        ("../a", "'..'"),
        ("/abs", "leading"),
        ("a//b", "repeated"),
        ("./a", "'.'"),
        (".", "'.'"),
        ("a/", "resolve"),
        ("semi;colon", "characters outside"),
        ("tab\tkey", "characters outside"),
        (5, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_bad_keys_are_refused_naming_the_field(key: object, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        v.check_key(key, "metrics[3].key")
    assert info.value.field == "metrics[3].key"
    assert words in str(info.value)
    assert info.value.error_code == common_pb2.INVALID_PARAMETER_VALUE


@pytest.mark.parametrize("key", ["loss", "a" * 250, "train/loss", "x.y-z_w", "a b", "ns:key", "é"])
def test_good_keys_pass(key: str) -> None:
    assert v.check_key(key) == key


@pytest.mark.parametrize(
    "value", [1.5, 2, -3, float("nan"), float("inf"), -math.inf, np.float32(2.5), np.int64(7)]
)
def test_numbers_nan_and_infinities_are_valid_metric_values(value: object) -> None:
    result = v.check_metric_value(value)
    assert isinstance(result, float)
    assert math.isnan(result) if value != value else result == float(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, np.bool_(False), "1.0", None, [1.0], 1 + 2j])
def test_non_numbers_are_refused_as_metric_values(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        v.check_metric_value(value, "value")
    assert info.value.field == "value"


def test_steps_and_timestamps_are_integers() -> None:
    assert v.check_step(-5) == -5
    assert v.check_step(np.int32(4)) == 4
    assert v.check_timestamp(0) == 0
    for bad in (1.5, "3", True, 2**63):
        with pytest.raises(ValidationError, match="step"):
            v.check_step(bad)
    with pytest.raises(ValidationError, match="must not be negative") as info:
        v.check_timestamp(-1)
    assert info.value.field == "timestamp"


def test_param_value_limit_is_6000_and_tag_value_limit_is_8000() -> None:
    ok = v.check_params([("p", "x" * 6000)])
    assert ok.keys == ("p",) and not ok.problems
    too_long = v.check_params([("p", "x" * 6001)])
    assert too_long.problems[0].field == "params[0].value"
    assert "6001" in too_long.problems[0].problem
    assert not v.check_tags([("t", "x" * 8000)]).problems
    assert v.check_tags([("t", "x" * 8001)]).problems[0].field == "tags[0].value"


def test_param_values_become_strings_and_duplicates_in_a_batch_are_refused() -> None:
    checked = v.check_params([("lr", 0.01), ("depth", 3), ("lr", 0.02)])
    assert checked.keys == ("lr", "depth")
    assert checked.values == ("0.01", "3")
    assert checked.problems[0].field == "params[2].key"
    assert "duplicate" in checked.problems[0].problem


def test_bad_items_are_refused_individually_and_good_ones_kept() -> None:
    checked = v.check_tags([("good", "1"), ("bad/../x", "2"), ("also.good", "3"), ("n", None)])
    assert checked.keys == ("good", "also.good")
    assert [p.field for p in checked.problems] == ["tags[1].key", "tags[3].value"]


def test_names_ids_and_statuses() -> None:
    assert v.check_experiment_name("x" * 500)
    with pytest.raises(ValidationError, match="500"):
        v.check_experiment_name("x" * 501)
    with pytest.raises(ValidationError) as info:
        v.check_experiment_name("  ")
    assert info.value.field == "name"
    with pytest.raises(ValidationError, match="at most 250"):
        v.check_run_name("r" * 251)
    assert v.check_id("0", "experiment_id") == "0"
    with pytest.raises(ValidationError) as info:
        v.check_id("../etc", "run_id")
    assert info.value.field == "run_id"
    assert v.check_status("FINISHED") == "FINISHED"
    with pytest.raises(ValidationError, match="RUNNING"):
        v.check_status("DONE")


def test_batch_limits_follow_mlflow_for_rows_and_ours_for_columns() -> None:
    v.check_batch_limits(800, 100, 100, v.MAX_COLUMN_POINTS_PER_BATCH)
    v.check_batch_limits(1000, 0, 0)
    for args, field in (
        ((1001, 0, 0), "metrics"),
        ((0, 101, 0), "params"),
        ((0, 0, 101), "tags"),
        ((0, 0, 0, v.MAX_COLUMN_POINTS_PER_BATCH + 1), "metric_columns"),
        ((900, 100, 100), "metrics, params and tags"),
    ):
        with pytest.raises(ValidationError) as info:
            v.check_batch_limits(*args)
        assert info.value.field == field


def test_columns_refuse_bad_keys_and_negative_timestamps_keep_the_rest() -> None:
    checked = v.check_columns(
        ("ok", "bad/../k"),
        np.array([0, 1, 0, 0], dtype=np.uint16),
        np.array([1.0, 2.0, math.nan, 4.0]),
        np.arange(4),
        np.array([10, 10, 10, -1]),
        field="metric_columns",
    )
    assert len(checked) == 2
    assert checked.refused == 2
    assert np.isnan(checked.values[1])
    fields = [p.field for p in checked.problems]
    assert fields == ["metric_columns.keys[1]", "metric_columns.timestamps[3]"]


def test_columns_shape_and_dtype_errors_refuse_everything() -> None:
    with pytest.raises(ValidationError) as info:
        v.check_columns(
            ("k",),
            np.zeros(3, np.uint16),
            np.zeros(3),
            np.zeros(2, np.int64),
            np.zeros(3, np.int64),
        )
    assert info.value.field == "metric_columns.steps"
    with pytest.raises(ValidationError) as info:
        v.check_columns(
            ("k",),
            np.zeros(2, np.uint16),
            np.array(["a", "b"]),
            np.zeros(2, np.int64),
            np.zeros(2, np.int64),
        )
    assert info.value.field == "metric_columns.values"
    with pytest.raises(ValidationError) as info:
        v.check_columns(
            ("k",), np.zeros(2, np.uint16), np.zeros(2), np.array([0.5, 1.0]), np.zeros(2, np.int64)
        )
    assert info.value.field == "metric_columns.steps"
    checked = v.check_columns(
        ("k",), np.array([0, 3]), np.zeros(2), np.zeros(2, np.int64), np.zeros(2, np.int64)
    )
    assert checked.problems[0].field == "metric_columns.key_index[1]"
    assert len(checked) == 1
