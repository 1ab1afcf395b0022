"""Read-your-writes tokens per scope: a read waits for the writes about what it reads."""

from __future__ import annotations

from runstream.proto.tokens import ScopedTokens, WriteToken


def _t(**offsets: int) -> WriteToken:
    return WriteToken.of("events", {int(p[1:]): o for p, o in offsets.items()})


def test_a_read_waits_only_for_the_writes_about_its_scopes() -> None:
    tokens = ScopedTokens()
    tokens.observe(_t(p0=5), ["run:a", "runs-of:1"])
    tokens.observe(_t(p1=9), ["run:b", "runs-of:1"])
    assert tokens.for_scopes(["run:a"]).offset_map == {0: 5}
    assert tokens.for_scopes(["run:b"]).offset_map == {1: 9}
    assert tokens.for_scopes(["runs-of:1"]).offset_map == {0: 5, 1: 9}
    assert not tokens.for_scopes(["run:c"])  # nothing written about it: no wait
    assert tokens.current().offset_map == {0: 5, 1: 9}  # every write, for unscoped reads


def test_a_write_without_scope_joins_every_read() -> None:
    tokens = ScopedTokens()
    tokens.observe(_t(p0=5), ["run:a"])
    tokens.observe(_t(p2=3))
    assert tokens.for_scopes(["run:a"]).offset_map == {0: 5, 2: 3}
    assert tokens.for_scopes(["run:c"]).offset_map == {2: 3}
    assert tokens.for_scopes([]).offset_map == {2: 3}


def test_later_offsets_win_and_empty_tokens_are_ignored() -> None:
    tokens = ScopedTokens()
    tokens.observe(_t(p0=5), ["run:a"])
    tokens.observe(_t(p0=3), ["run:a"])
    tokens.observe(WriteToken(), ["run:a"])
    tokens.observe(None, ["run:a"])
    assert tokens.for_scopes(["run:a"]).offset_map == {0: 5}


def test_scopes_dropped_for_space_leave_their_offsets_to_the_floor() -> None:
    tokens = ScopedTokens(limit=2)
    tokens.observe(_t(p0=1), ["run:a"])
    tokens.observe(_t(p1=2), ["run:b"])
    tokens.observe(_t(p2=3), ["run:c"])  # run:a is dropped
    assert tokens.for_scopes(["run:a"]).offset_map == {0: 1}  # the floor: never less
    assert tokens.for_scopes(["run:c"]).offset_map == {2: 3}
    assert tokens.for_scopes(["run:zzz"]).offset_map == {0: 1}


def test_a_topic_change_starts_over() -> None:
    tokens = ScopedTokens()
    tokens.observe(_t(p0=5), ["run:a"])
    tokens.observe(WriteToken.of("other", {0: 1}), ["run:b"])
    assert tokens.for_scopes(["run:b"]) == WriteToken.of("other", {0: 1})
    assert not tokens.for_scopes(["run:a"])
