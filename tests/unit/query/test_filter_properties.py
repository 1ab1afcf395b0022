"""Property tests: the parser fails only with InvalidFilterError, and the compiled SQL's
text is drawn from a fixed vocabulary plus placeholders, whatever the user wrote."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from runstream.query.entities import ViewType
from runstream.query.errors import InvalidFilterError
from runstream.query.experiment_sql import ExperimentSearchCompiler
from runstream.query.run_sql import RunSearch, RunSearchCompiler
from runstream.query.search_filter import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)

GRAMMAR_ALPHABET = (
    "metricsparamtgbuteds.`\"'()=<>!, andorANDINNOTISNULLLIKEilike0123456789eE-+_%\\\t\n"
)
texts = st.one_of(st.text(), st.text(alphabet=GRAMMAR_ALPHABET, max_size=60))


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_random_filters_fail_only_with_invalid_filter_error(text: str) -> None:
    for parse in (parse_run_filter, parse_experiment_filter):
        try:
            parse(text)
        except InvalidFilterError as exc:
            assert "position" in str(exc) or "duplicate" in str(exc)


@settings(max_examples=500)
@given(texts)
def test_random_order_by_fails_only_with_invalid_filter_error(text: str) -> None:
    for parse in (parse_run_order_by, parse_experiment_order_by):
        with contextlib.suppress(InvalidFilterError):
            parse([text])


# -- valid filters with arbitrary keys and values ------------------------------------
free_text = st.text(min_size=0, max_size=12)
key_text = st.text(min_size=1, max_size=12).filter(lambda s: "`" not in s)
# in MLflow's grammar a backslash before the closing quote escapes it
value_text = free_text.filter(lambda s: "'" not in s and not s.endswith("\\"))
# list items are read as Python literals (as MLflow does): no backslashes or line breaks
list_item = value_text.filter(lambda s: not set(s) & set("\\\r\n\x00"))
number = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
).filter(lambda s: "inf" not in s and "nan" not in s and "+" not in s)


@st.composite
def comparison(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(["metric", "param", "tag", "attr_s", "attr_n", "run_id_list", "null"])
    )
    key = "`" + draw(key_text) + "`"
    if kind == "metric":
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        return f"metrics.{key} {op} {draw(number)}"
    if kind in ("param", "tag"):
        op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE"]))
        return f"{kind}s.{key} {op} '{draw(value_text)}'"
    if kind == "null":
        entity = draw(st.sampled_from(["params", "tags"]))
        return f"{entity}.{key} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    if kind == "attr_s":
        attr = draw(st.sampled_from(["run_id", "run_name", "user_id", "status", "artifact_uri"]))
        op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE"]))
        return f"attributes.{attr} {op} '{draw(value_text)}'"
    if kind == "attr_n":
        attr = draw(st.sampled_from(["start_time", "end_time", "created"]))
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        return f"{attr} {op} {draw(st.integers(-(10**12), 10**12))}"
    items = draw(st.lists(list_item, min_size=1, max_size=4))
    op = draw(st.sampled_from(["IN", "NOT IN"]))
    return f"run_id {op} (" + ", ".join(f"'{i}'" for i in items) + ")"


filters = st.lists(comparison(), min_size=1, max_size=4).map(" and ".join)
order_clause = st.one_of(
    st.builds(
        lambda e, k, d: f"{e}.`{k}`{d}",
        st.sampled_from(["metrics", "params", "tags"]),
        key_text,
        st.sampled_from(["", " ASC", " DESC"]),
    ),
    st.builds(
        lambda a, d: f"{a}{d}",
        st.sampled_from(["start_time", "end_time", "run_name", "status", "run_id"]),
        st.sampled_from(["", " DESC"]),
    ),
)

_PLACEHOLDER = re.compile(r"\{p\d+:(?:String|Float64|Int64|UInt8|UInt32|Array\(String\))\}")
_TOKEN = re.compile(r"\s+|\d+\.\d*e\d+|\d+\.?|[A-Za-z_][A-Za-z_0-9]*|''|<=|>=|!=|[(),.=<>*-]")
VOCABULARY = frozenset(
    [
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "AS",
        "ON",
        "INNER",
        "LEFT",
        "JOIN",
        "FINAL",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "LIMIT",
        "GROUP",
        "LIKE",
        "r",
        "runs",
        "params",
        "tags",
        "latest_metrics",
        "run_id",
        "experiment_id",
        "start_time",
        "end_time",
        "run_name",
        "user_id",
        "status",
        "artifact_uri",
        "lifecycle_stage",
        "key",
        "value",
        "latest",
        "v",
        "tupleElement",
        "isNaN",
        "least",
        "greatest",
        "toNullable",
        "multiIf",
        "isNull",
        "if",
        "ifNull",
        "assumeNotNull",
        "lower",
        "count",
        "experiments",
        "experiment_tags",
        "name",
        "artifact_location",
        "creation_time",
        "last_update_time",
        "created_by",
        "e",
    ]
)
_ALIAS = re.compile(r"^[sfo]\d+$")


def _check_vocabulary(text: str) -> None:
    stripped = _PLACEHOLDER.sub(" ", text)
    pos = 0
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        assert m, f"unexpected SQL text at {stripped[pos : pos + 30]!r}"
        tok = m.group(0)
        pos = m.end()
        if tok[0].isalpha() or tok[0] == "_":
            assert tok in VOCABULARY or _ALIAS.match(tok), tok


def _all_param_strings(params: dict[str, object]) -> list[str]:
    out: list[str] = []
    for v in params.values():
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            out += [x for x in v if isinstance(x, str)]
    return out


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(filters, st.lists(order_clause, max_size=3, unique=True), st.sampled_from(list(ViewType)))
def test_compiled_sql_is_fixed_vocabulary_plus_placeholders(
    text: str, order: list[str], view: ViewType
) -> None:
    try:
        order_keys = parse_run_order_by(order)
    except InvalidFilterError:
        assume(False)
        return
    conditions = parse_run_filter(text)
    c = RunSearchCompiler(RunSearch(("exp",), conditions, order_keys, view))
    sql = c.search_sql(10, None)
    _check_vocabulary(sql.text)
    strings = _all_param_strings(sql.params)
    for cond in conditions:
        if cond.entity.value != "attribute":
            assert cond.key in strings
        if isinstance(cond.value, str):
            assert cond.value in strings or cond.value.replace("\\", "\\\\") in strings
    # every placeholder has its parameter, and every parameter is used
    names = set(re.findall(r"\{(p\d+):", sql.text))
    assert names == set(sql.params)


@settings(max_examples=200)
@given(st.data())
def test_values_never_change_the_sql_text(data: st.DataObject) -> None:
    """Same shape, other keys and values: byte-identical SQL text."""
    shape = data.draw(
        st.lists(
            st.sampled_from(
                [
                    "metrics.`{k}` < {n}",
                    "params.`{k}` = '{v}'",
                    "tags.`{k}` LIKE '{v}'",
                    "attributes.run_id IN ('{i}', '{i}')",
                    "params.`{k}` IS NULL",
                    "status != '{v}'",
                ]
            ),
            min_size=1,
            max_size=4,
        )
    )

    def fill() -> str:
        return " and ".join(
            s.format(
                k=data.draw(key_text),
                v=data.draw(value_text),
                n=data.draw(number),
                i=data.draw(list_item),
            )
            for s in shape
        )

    texts_ = set()
    for _ in range(2):
        c = RunSearchCompiler(
            RunSearch(
                ("e",),
                parse_run_filter(fill()),
                parse_run_order_by(["metrics.`x` DESC"]),
                ViewType.ACTIVE_ONLY,
            )
        )
        texts_.add(c.search_sql(5, None).text)
    assert len(texts_) == 1


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(
            st.builds(lambda v: f"name LIKE '{v}'", value_text),
            st.builds(lambda k, v: f"tags.`{k}` = '{v}'", key_text, value_text),
            st.builds(lambda n: f"creation_time > {n}", st.integers(0, 10**13)),
            st.builds(lambda v: f"experiment_id IN ('{v}')", list_item),
        ),
        min_size=1,
        max_size=3,
    ).map(" and ".join)
)
def test_experiment_sql_vocabulary(text: str) -> None:
    c = ExperimentSearchCompiler(
        parse_experiment_filter(text), parse_experiment_order_by([]), ViewType.ALL
    )
    _check_vocabulary(c.search_sql(3, None).text)


# -- the same parse as MLflow's own parser, where MLflow is installed -----------------
bare_key = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: (
        s
        not in {
            "in",
            "as",
            "and",
            "or",
            "not",
            "is",
            "like",
            "null",
            "from",
            "case",
            "using",
            "values",
            "end",
            "if",
            "ilike",
            "rlike",
        }
    )
)
safe_value = st.text(alphabet="abcXYZ019 %_-.:/", max_size=8)


@st.composite
def mlflow_comparison(draw: st.DrawFn) -> str:
    entity = draw(
        st.sampled_from(
            ["metrics", "metric", "params", "param", "tags", "tag", "attributes", "attr", "run"]
        )
    )
    quoted = draw(st.booleans())
    k = draw(bare_key)
    key = f"`{k} x`" if quoted else k
    if entity.startswith("metric"):
        return f"{entity}.{key} {draw(st.sampled_from(['<', '>=', '=', '!=']))} {draw(number)}"
    if entity.startswith(("param", "tag")):
        op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "like"]))
        quote = draw(st.sampled_from(["'", '"']))
        return f"{entity}.{key} {op} {quote}{draw(safe_value)}{quote}"
    attr = draw(st.sampled_from(["status", "user_id", "run_name", "start_time", "end_time"]))
    if attr.endswith("time"):
        # within Int64, the columns' range (beyond it runstream refuses; MLflow's parser
        # accepts and its SQL store fails when binding)
        t = draw(st.integers(min_value=-(2**63), max_value=2**63 - 1))
        return f"{entity}.{attr} {draw(st.sampled_from(['<', '>', '=']))} {t}"
    return f"{entity}.{attr} {draw(st.sampled_from(['=', '!=', 'LIKE']))} '{draw(safe_value)}'"


@settings(max_examples=300, deadline=None)
@given(st.lists(mlflow_comparison(), min_size=1, max_size=3).map(" AND ".join))
def test_same_parse_as_mlflow(text: str) -> None:
    search_utils = pytest.importorskip("mlflow.utils.search_utils")
    theirs = search_utils.SearchUtils.parse_search_filter(text)
    ours = parse_run_filter(text)
    aliases = {"created": "start_time", "Created": "start_time"}
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs, strict=True):
        assert o.comparator == t["comparator"].upper()
        assert o.key == aliases.get(t["key"], t["key"])
        expected = float(t["value"]) if t["type"] == "metric" else t["value"]
        assert o.value == expected
