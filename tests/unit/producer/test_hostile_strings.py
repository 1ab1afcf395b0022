"""Strings that cannot be stored, and inputs too big to echo, refused at the call by name.

Issue 11, item 3 (a lone surrogate is not valid UTF-8: it used to pass validation and
break the encoding of a whole sender cycle) and the "smaller" items (a 1 MB id came back
whole in the error; a list as a metric key raised TypeError)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from runstream.producer import RunstreamClient, commands
from runstream.producer.errors import ValidationError
from runstream.producer.settings import ProducerSettings
from runstream.proto.errors import MAX_ECHO_CHARS
from tests.unit.producer.fakes import FakeTransport

BAD = "a\ud800b"  # a lone surrogate: a Python str, but not UTF-8
SETTINGS = ProducerSettings(uri="kafka://fake:9092", linger_ms=5, flush_timeout_s=5)


@pytest.fixture
def client() -> Iterator[tuple[RunstreamClient, FakeTransport]]:
    fake = FakeTransport()
    c = RunstreamClient(settings=SETTINGS, transport=fake)
    yield c, fake
    c.close()


Call = Callable[[RunstreamClient, str], object]

CALLS: dict[str, tuple[Call, str]] = {
    "log_param value": (lambda c, r: c.log_param(r, "p", BAD), "value"),
    "log_param key": (lambda c, r: c.log_param(r, BAD, "v"), "key"),
    "log_params value": (lambda c, r: c.log_params(r, {"p": BAD}), "params['p'].value"),
    "set_tag value": (lambda c, r: c.set_tag(r, "t", BAD), "value"),
    "set_tags value": (lambda c, r: c.set_tags(r, {"t": BAD}), "tags['t'].value"),
    "delete_tag key": (lambda c, r: c.delete_tag(r, BAD), "key"),
    "log_metric key": (lambda c, r: c.log_metric(r, BAD, 1.0), "key"),
    "log_metrics key": (lambda c, r: c.log_metrics(r, {BAD: 1.0}), "metrics"),
    "log_metric_columns key": (
        lambda c, r: c.log_metric_columns(r, BAD, np.ones(3)),
        "columns.keys[0]",
    ),
    "create_run name": (lambda c, r: c.create_run("1", run_name=BAD), "run_name"),
    "create_run tag": (lambda c, r: c.create_run("1", tags={"t": BAD}), "tags[0].value"),
    "create_run user": (lambda c, r: c.create_run("1", user_id=BAD), "user_id"),
    "update_run name": (lambda c, r: c.update_run(r, name=BAD), "run_name"),
    "create_experiment name": (lambda c, r: c.create_experiment(BAD), "name"),
    "create_experiment location": (
        lambda c, r: c.create_experiment("e", artifact_location=BAD),
        "artifact_location",
    ),
    "create_experiment tag": (
        lambda c, r: c.create_experiment("e", tags={"t": BAD}),
        "tags[0].value",
    ),
    "rename_experiment": (lambda c, r: c.rename_experiment("1", BAD), "new_name"),
    "set_experiment_tag": (lambda c, r: c.set_experiment_tag("1", "t", BAD), "value"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_lone_surrogate_is_refused_at_the_call_naming_the_field(
    client: tuple[RunstreamClient, FakeTransport], name: str
) -> None:
    c, fake = client
    run = c.create_run("1")
    c.log_metric(run.run_id, "loss", 1.0)
    call, field = CALLS[name]
    with pytest.raises(ValidationError) as info:
        call(c, run.run_id)
    assert info.value.field.startswith(field), info.value.field
    assert "not valid UTF-8" in str(info.value)
    c.flush()  # nothing else is affected: the run and its point are published
    assert [type(e.payload).__name__ for e in fake.events] == ["RunCreated", "MetricsLogged"]


def test_the_builders_refuse_what_the_gateway_would_be_sent() -> None:
    """The gateway builds writes with the same builders: one validation module."""
    params = commands.log_params([("p", "ok"), ("q", BAD)])
    assert [p.field for p in params.problems] == ["params[1].value"]
    assert params.payload is not None and params.payload.keys == ("p",)
    assert commands.set_tags([("t", BAD)]).problems[0].field == "tags[0].value"
    with pytest.raises(ValidationError, match="not valid UTF-8"):
        commands.update_run("r1", run_name=BAD)


def test_a_list_as_metric_key_is_a_validation_error_naming_the_key(
    client: tuple[RunstreamClient, FakeTransport],
) -> None:
    c, _ = client
    run = c.create_run("1")
    for key in (["loss"], {"a": 1}, None, 3):
        with pytest.raises(ValidationError) as info:
            c.log_metric(run.run_id, key, 1.0)  # type: ignore[arg-type]
        assert info.value.field == "key"
        assert "must be a string" in str(info.value)


def test_errors_echo_at_most_a_bounded_part_of_the_input(
    client: tuple[RunstreamClient, FakeTransport],
) -> None:
    c, _ = client
    huge = "x" * 1_000_000
    cases: list[Callable[[], object]] = [
        lambda: c.log_metric(huge + ";", "k", 1.0),  # run id
        lambda: c.create_run("1", run_id="-" + huge),
        lambda: c.create_experiment("e", experiment_id="-" + huge),
        lambda: c.log_param(c.create_run("1").run_id, huge + ";", "v"),
        lambda: c.create_run("1", tags={"t;" + huge: "v"}),
        lambda: c.log_metrics(c.create_run("1").run_id, {"k;" + huge: 1.0}),
    ]
    for case in cases:
        with pytest.raises(ValidationError) as info:
            case()
        text = str(info.value)
        assert len(text) < 4 * MAX_ECHO_CHARS, len(text)
        assert re.search(r"100000\d characters", text), text[:300]  # says the length


def test_params_of_a_dict_that_conflict_name_the_key_and_echo_little(
    client: tuple[RunstreamClient, FakeTransport],
) -> None:
    c, _ = client
    run = c.create_run("1")
    c.log_param(run.run_id, "p", "a" * 5000)
    with pytest.raises(ValidationError) as info:
        c.log_params(run.run_id, {"p": "b" * 5000, "q": "1"})
    assert info.value.field == "params['p'].value"
    assert info.value.accepted == 1
    assert len(str(info.value)) < 4 * MAX_ECHO_CHARS
