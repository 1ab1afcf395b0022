"""Point contexts: the rules (proto/contexts.py) and schema version 4 on the wire, both
directions of evolution against version 3."""

from __future__ import annotations

import numpy as np
import pytest

from runstream.proto import events as ev
from runstream.proto.codec import EventCodec, load_schema, schema_fingerprint
from runstream.proto.contexts import (
    MAX_CONTEXT_PAIRS,
    MAX_CONTEXT_VALUE_LENGTH,
    canonical,
    context_problems,
    from_canonical,
    merge,
)


def _event(payload: ev.Payload) -> ev.RunEvent:
    return ev.RunEvent("e" * 32, "r" * 32, "7", "p" * 32, 3, 1_700_000_000_000, payload)


def _points(
    contexts: tuple[ev.Context, ...] = (), index: list[int] | None = None
) -> ev.MetricsLogged:
    return ev.MetricsLogged(
        ("loss", "acc"),
        np.array([0, 1, 0], dtype=np.uint16),
        np.array([0.5, 0.9, float("nan")]),
        np.array([1, 1, 2], dtype=np.int64),
        np.array([10, 11, 12], dtype=np.int64),
        contexts,
        None if index is None else np.array(index, dtype=np.uint16),
    )


def test_rules_accept_a_good_context_sorted_with_ranks_as_decimal_strings() -> None:
    ctx, problems = context_problems({"node": "h1", "rank": 3, "local_rank": "03", "x": "y"})
    assert problems == []
    assert ctx == (("local_rank", "3"), ("node", "h1"), ("rank", "3"), ("x", "y"))
    assert from_canonical(canonical(ctx)) == ctx
    assert canonical(()) == "" and from_canonical("") == ()


@pytest.mark.parametrize(
    ("context", "field", "words"),
    [
        ({f"k{i}": "v" for i in range(MAX_CONTEXT_PAIRS + 1)}, "context", "at most 8"),
        ({"": "v"}, "context", "must not be empty"),
        ({"a" * 65: "v"}, "context", "at most 64"),
        ({"bad key": "v"}, "context", "characters outside"),
        ({"k": ""}, "context.k", "must not be empty"),
        ({"k": "v" * (MAX_CONTEXT_VALUE_LENGTH + 1)}, "context.k", "at most 256"),
        ({"k": 3}, "context.k", "must be a string, got int"),
        ({"k": "\ud800"}, "context.k", "lone surrogate"),
        ({"rank": -1}, "context.rank", "non-negative integer"),
        ({"rank": "1.5"}, "context.rank", "non-negative integer"),
        ({"rank": True}, "context.rank", "non-negative integer"),
        ({"rank": 1.0}, "context.rank", "non-negative integer"),
        ("rank=1", "context", "must be a mapping"),
    ],
)
def test_rules_refuse_bad_contexts_naming_the_field(
    context: object, field: str, words: str
) -> None:
    ctx, problems = context_problems(context)  # type: ignore[arg-type]
    assert ctx == ()
    assert problems and problems[0][0] == field and words in problems[0][1]


def test_merge_puts_the_call_context_on_top_of_the_process_context() -> None:
    base = (("node", "h"), ("rank", "1"))
    assert merge(base, (("device", "cuda:0"), ("rank", "2"))) == (
        ("device", "cuda:0"),
        ("node", "h"),
        ("rank", "2"),
    )
    assert merge(base, ()) is base and merge((), base) is base


def test_points_with_contexts_round_trip() -> None:
    codec = EventCodec()
    one = _points(((("rank", "3"),),))
    many = _points(((("rank", "0"),), (("node", "n"), ("rank", "1"))), [1, 0, 1])
    for payload in (one, many, _points()):
        decoded = codec.decode(codec.encode(_event(payload))).payload
        assert isinstance(decoded, ev.MetricsLogged)
        assert decoded.same_points(payload)
        assert decoded.contexts == payload.contexts
    decoded = codec.decode(codec.encode(_event(many))).payload
    assert isinstance(decoded, ev.MetricsLogged)
    table = decoded.context_table()
    assert [table[i] for i in decoded.context_codes().tolist()] == [
        (("node", "n"), ("rank", "1")),
        (("rank", "0"),),
        (("node", "n"), ("rank", "1")),
    ]


def test_points_written_before_contexts_read_with_the_empty_context() -> None:
    v3 = load_schema("run_event.v3.avsc")
    old_bytes = EventCodec(reader_schema=v3).encode(_event(_points()))
    assert old_bytes[2:10] == schema_fingerprint(v3) != EventCodec().fingerprint
    decoded = EventCodec().decode(old_bytes).payload
    assert isinstance(decoded, ev.MetricsLogged)
    assert decoded.contexts == () and decoded.context_index is None
    assert decoded.context_table() == ((),)
    assert decoded.context_codes().tolist() == [0, 0, 0]
    assert decoded.same_points(_points())


def test_a_version_3_reader_reads_points_with_contexts_without_them() -> None:
    v3 = load_schema("run_event.v3.avsc")
    with_contexts = _points(((("rank", "0"),), (("rank", "1"),)), [0, 1, 1])
    new_bytes = EventCodec().encode(_event(with_contexts))
    old_reader = EventCodec(reader_schema=v3, writer_schemas=[load_schema()])
    decoded = old_reader.decode(new_bytes).payload
    assert isinstance(decoded, ev.MetricsLogged)
    assert decoded.contexts == () and decoded.same_points(_points())


def test_a_context_index_out_of_range_or_missing_is_refused() -> None:
    codec = EventCodec()
    with pytest.raises(ev_errors()):
        codec.encode(_event(_points(((("rank", "0"),), (("rank", "1"),)))))
    bad = _points(((("rank", "0"),),), [0, 0, 5])
    with pytest.raises(Exception, match="context index out of range"):
        codec.decode(codec.encode(_event(bad)))


def ev_errors() -> type[Exception]:
    from runstream.proto.errors import EncodeError

    return EncodeError
