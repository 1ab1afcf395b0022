"""Client mistakes that used to escape as internal errors or wrong answers, caught where
they enter: page tokens of any shape, numbers beyond the columns' range, filters and
order_by lists past the limits, unknown enum values, and errors that echo whole inputs.
(What ClickHouse does with such input is tested against real chDB in
tests/integration/query/test_hostile_requests.py.)"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runstream.query import grpc_codec as codec
from runstream.query.errors import (
    InvalidFilterError,
    InvalidPageTokenError,
    InvalidRequestError,
    NotFoundError,
    clip,
)
from runstream.query.keyset import SortColumn, decode_token, encode_token, fingerprint
from runstream.query.search_filter import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)

COLUMNS = [
    SortColumn("s0", "UInt8", True),
    SortColumn("s1", "Float64", False),
    SortColumn("s2", "Int64", False),
    SortColumn("s3", "String", True),
]
FP = fingerprint("runs", ["e"], "x")


def _token(body: object) -> str:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _raw_token(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        _raw_token("[" * 2000 + "]" * 2000),  # RecursionError in json
        _raw_token("[1," * 3000 + "0" + "]" * 3000),
        _token([1, FP, [300, "0x1p0", 1, "r"]]),  # UInt8 out of range
        _token([1, FP, [-1, "0x1p0", 1, "r"]]),
        _token([1, FP, [0, "0x1p0", 2**63, "r"]]),  # Int64 out of range
        _token([1, FP, [0, "0x1p0", -(2**63) - 1, "r"]]),
        _token([1, FP, [0, "0x1p99999", 1, "r"]]),  # OverflowError in float.fromhex
        _token([1, FP, [0, "nan", 1, "r"]]),
        _token([1, FP, [True, "0x1p0", 1, "r"]]),
        _token([1, FP, [0, 1.5, 1, "r"]]),
        _raw_token('[1,"' + FP + '",[0,"0x1p0",1,"\\ud800"]]'),  # lone surrogate
        _raw_token("[1," + "9" * 5000 + ",[]]"),  # int past Python's digit limit
        _token({"a": 1, "b": 2, "c": 3}),
        _token("abc"),
        _token([True, FP, [0, "0x1p0", 1, "r"]]),
        _token([1, [FP], [0, "0x1p0", 1, "r"]]),
        _token([1, FP, [0, "0x1p0", 1, "r"], 4]),
        _token(None),
        "é" * 10,
        "A" * 300_000,  # longer than any token this server issues
    ],
)
def test_hostile_page_tokens_are_invalid_page_tokens(token: str) -> None:
    with pytest.raises(InvalidPageTokenError) as info:
        decode_token(token, FP, COLUMNS)
    assert len(str(info.value)) < 200


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: _raw(b))))
def test_any_string_decodes_or_is_an_invalid_page_token(token: str) -> None:
    try:
        values = decode_token(token, FP, COLUMNS)
    except InvalidPageTokenError:
        return
    assert encode_token(FP, COLUMNS, values)  # what decodes is a well-formed sort key


def _raw(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    [
        "start_time > 99999999999999999999999999",
        "attributes.end_time < -9223372036854775809",
        "start_time = 9223372036854775808",
        "created > " + "9" * 5000,
    ],
)
def test_integers_beyond_int64_are_refused(text: str) -> None:
    with pytest.raises(InvalidFilterError, match="takes a number between") as info:
        parse_run_filter(text)
    assert len(str(info.value)) < 300


def test_integers_at_the_int64_bounds_and_huge_floats_are_accepted() -> None:
    (low,) = parse_run_filter("start_time > -9223372036854775808")
    (high,) = parse_run_filter("start_time < 0009223372036854775807")
    assert (low.value, high.value) == (-(2**63), 2**63 - 1)
    (metric,) = parse_run_filter("metrics.x > " + "9" * 5000)  # a double: +inf
    assert metric.value == float("inf")
    (as_float,) = parse_run_filter("start_time > 1e300")
    assert as_float.value == 1e300
    with pytest.raises(InvalidFilterError, match="between"):
        parse_experiment_filter("creation_time > 99999999999999999999")


def test_filters_and_order_by_past_the_limits_are_refused() -> None:
    three = "metrics.a < 1 and metrics.b < 2 and metrics.c < 3"
    assert len(parse_run_filter(three, max_clauses=3)) == 3
    with pytest.raises(InvalidFilterError, match="more than 2 comparisons"):
        parse_run_filter(three, max_clauses=2)
    with pytest.raises(InvalidFilterError, match="more than 2 comparisons"):
        parse_experiment_filter("name = 'a' and name = 'b' and name = 'c'", max_clauses=2)
    huge = " and ".join(f"metrics.m{i} < {i}" for i in range(100_000))
    with pytest.raises(InvalidFilterError, match="more than 20"):
        parse_run_filter(huge, max_clauses=20)
    assert len(parse_run_order_by(["metrics.a", "params.b"], max_keys=2)) == 2
    with pytest.raises(InvalidFilterError, match="at most 2"):
        parse_run_order_by(["metrics.a", "params.b", "tags.c"], max_keys=2)
    with pytest.raises(InvalidFilterError, match="at most 2"):
        parse_experiment_order_by(["name"] * 3, max_keys=2)


def test_a_list_item_that_is_no_valid_text_is_refused() -> None:
    with pytest.raises(InvalidFilterError, match="well-formed quoted string"):
        parse_run_filter("run_id IN ('\\ud800')")


def test_errors_echo_a_bounded_part_of_the_input() -> None:
    key = "k" * 1_000_000
    with pytest.raises(InvalidFilterError) as info:
        parse_run_filter(f"attributes.{key} = 'x'")
    assert len(str(info.value)) < 1000 and "(1000000 characters)" in str(info.value)
    with pytest.raises(InvalidFilterError) as info:
        parse_run_order_by(["metrics.a", "metrics.a", "x" * 100_000])
    assert len(str(info.value)) < 3000
    assert len(str(NotFoundError("x" * 10_000_000))) < 3000
    assert clip("short") == "short"


@pytest.mark.parametrize(
    ("convert", "value"),
    [
        (codec.view_type, 4),
        (codec.view_type, -1),
        (codec.rank_by, 4),
        (codec.maximize, 3),
        (codec.x_axis, 3),
        (codec.x_axis, 2**31 - 1),
    ],
)
def test_unknown_enum_values_are_invalid_arguments(convert: object, value: int) -> None:
    with pytest.raises(InvalidRequestError, match="has no value"):
        convert(value)  # type: ignore[operator]


def test_an_unknown_run_view_type_is_named() -> None:
    with pytest.raises(InvalidRequestError, match="run_view_type"):
        codec.selection([], "", 9)
