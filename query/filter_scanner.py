"""The syntax of MLflow's search strings: filters (comparisons joined by AND) and order_by
clauses, as position-carrying raw terms.

This module knows the shapes (identifiers with optional quoting, comparators, numbers,
quoted strings, parenthesised string lists), not their meaning: ``search_filter`` checks
which entity, key, comparator and value go together.  Quoting follows MLflow's search
utilities: a quoted key or value is taken verbatim between its quotes (no unescaping), and
only string lists are read as Python literals (MLflow evaluates them with
``ast.literal_eval``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Literal

from .errors import InvalidFilterError

ValueKind = Literal["number", "string", "list", "none"]

_WS = re.compile(r"\s+")
_WORD = re.compile(r"[^\W\d]\w*")
_BARE_KEY = re.compile(r"\w+(?:\.\w+)*")
_BACKTICK = re.compile(r"`(?:``|[^`])*`")
_SINGLE = re.compile(r"'(?:''|\\'|[^'])*'")
_DOUBLE = re.compile(r'"(?:""|\\"|[^"])*"')
# sqlparse's number shapes (which MLflow's grammar inherits); a letter may not follow.
_NUMBER = re.compile(r"-?(?>\d+(?:\.\d+)?[eE]-?\d+|\d+\.\d*|\.\d+|\d+)(?![^\W\d])")
_INTEGER = re.compile(r"-?\d+")
_DIRECTION = re.compile(r"(?i)(ASC|DESC)(?!\w)")
_SYMBOL_OPS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">")
_KEYWORD = re.compile(r"(?i)(LIKE|ILIKE|IN|NOT|IS|AND|NULL)(?!\w)")

COMPARATORS = (
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "LIKE",
    "ILIKE",
    "IN",
    "NOT IN",
    "IS NULL",
    "IS NOT NULL",
)


@dataclass(frozen=True, slots=True)
class RawIdentifier:
    """``entity.key`` as written: ``entity`` is None for a bare key (an attribute)."""

    entity: str | None
    key: str
    position: int


@dataclass(frozen=True, slots=True)
class RawValue:
    kind: ValueKind
    text: str  # the literal as written (numbers) or the text between the quotes
    items: tuple[str, ...]  # for lists
    position: int
    is_integer: bool = False


@dataclass(frozen=True, slots=True)
class RawComparison:
    identifier: RawIdentifier
    comparator: str  # canonical upper case, one of COMPARATORS
    comparator_position: int
    value: RawValue


def _describe(text: str, pos: int) -> str:
    if pos >= len(text):
        return "end of input"
    snippet = text[pos : pos + 12]
    return repr(snippet + ("..." if len(text) > pos + 12 else ""))


class _Scanner:
    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.pos = 0
        self.what = what

    def fail(self, expected: str, pos: int | None = None) -> InvalidFilterError:
        at = self.pos if pos is None else pos
        return InvalidFilterError(
            f"Invalid {self.what} at position {at + 1}: expected {expected}, "
            f"found {_describe(self.text, at)}",
            position=at,
        )

    def skip_ws(self) -> bool:
        m = _WS.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return True
        return False

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        m = pattern.match(self.text, self.pos)
        if m:
            self.pos = m.end()
        return m

    def keyword(self) -> tuple[str, int] | None:
        m = _KEYWORD.match(self.text, self.pos)
        if not m:
            return None
        self.pos = m.end()
        return m.group(1).upper(), m.start()

    def identifier(self) -> RawIdentifier:
        start = self.pos
        quoted_head = False
        if m := self.take(_BACKTICK):
            head = m.group(0)[1:-1]
            quoted_head = True
        elif m := self.take(_DOUBLE):
            # A double-quoted bare key such as "run name" (an attribute, never an entity).
            return RawIdentifier(None, m.group(0)[1:-1], start)
        elif m := self.take(_WORD):
            head = m.group(0)
        else:
            raise self.fail(
                "an identifier such as metrics.<key>, params.<key>, tags.<key> or an attribute"
            )
        if self.text.startswith(".", self.pos):
            self.pos += 1
            key_start = self.pos
            if m := (self.take(_BACKTICK) or self.take(_DOUBLE) or self.take(_SINGLE)):
                key = m.group(0)[1:-1]
            elif m := self.take(_BARE_KEY):
                key = m.group(0)
            else:
                raise self.fail(
                    "a key after '.' (quote keys with spaces or symbols "
                    "in backticks or double quotes)",
                    key_start,
                )
            return RawIdentifier(head, key, start)
        if not quoted_head and _KEYWORD.fullmatch(head):
            raise self.fail("an identifier", start)
        return RawIdentifier(None, head, start)

    def ensure_boundary(self) -> None:
        """After an identifier, only whitespace or an operator may follow."""
        if not self.at_end() and (self.text[self.pos].isalnum() or self.text[self.pos] in "_.`'\""):
            raise self.fail("whitespace or a comparison operator")


def _comparator(sc: _Scanner) -> tuple[str, int]:
    start = sc.pos
    for op in _SYMBOL_OPS:
        if sc.text.startswith(op, sc.pos):
            if op in ("<>", "=="):
                raise sc.fail("a comparison operator (use '!=' or '=')")
            sc.pos += len(op)
            return op, start
    kw = sc.keyword()
    expected = "a comparison operator (" + ", ".join(COMPARATORS) + ")"
    if kw is None:
        raise sc.fail(expected)
    word, _ = kw
    if word in ("LIKE", "ILIKE", "IN"):
        return word, start
    if word == "NOT":
        sc.skip_ws()
        at = sc.pos
        nxt = sc.keyword()
        if nxt is None or nxt[0] != "IN":
            raise sc.fail("IN after NOT (NOT LIKE is not part of the grammar)", at)
        return "NOT IN", start
    if word == "IS":
        sc.skip_ws()
        nxt = sc.keyword()
        if nxt is not None and nxt[0] == "NOT":
            sc.skip_ws()
            at = sc.pos
            nxt = sc.keyword()
            if nxt is None or nxt[0] != "NULL":
                raise sc.fail("NULL after IS NOT", at)
            return "IS NOT NULL", start
        if nxt is None or nxt[0] != "NULL":
            raise sc.fail("NULL or NOT NULL after IS", nxt[1] if nxt else None)
        return "IS NULL", start
    raise sc.fail(expected, start)


def _string_list(sc: _Scanner) -> RawValue:
    start = sc.pos
    sc.pos += 1  # (
    items: list[str] = []
    while True:
        sc.skip_ws()
        if sc.text.startswith(")", sc.pos) and items:
            sc.pos += 1
            return RawValue("list", sc.text[start : sc.pos], tuple(items), start)
        item_start = sc.pos
        m = sc.take(_SINGLE) or sc.take(_DOUBLE)
        if m is None:
            if sc.text.startswith(")", sc.pos):
                raise sc.fail("a non-empty list of quoted strings")
            raise sc.fail("a quoted string in the list")
        try:
            item = ast.literal_eval(m.group(0))
            if isinstance(item, str):
                item.encode("utf-8")  # an escape such as \ud800 makes no valid text
        except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
            raise sc.fail("a well-formed quoted string", item_start) from exc
        if not isinstance(item, str):  # pragma: no cover - the regexes only admit strings
            raise sc.fail("a quoted string", item_start)
        items.append(item)
        sc.skip_ws()
        if sc.text.startswith(",", sc.pos):
            sc.pos += 1
            continue
        if sc.text.startswith(")", sc.pos):
            continue
        raise sc.fail("',' or ')' in the list")


def _value(sc: _Scanner) -> RawValue:
    start = sc.pos
    if m := sc.take(_SINGLE) or sc.take(_DOUBLE):
        return RawValue("string", m.group(0)[1:-1], (), start)
    if sc.text.startswith("(", sc.pos):
        return _string_list(sc)
    if m := sc.take(_NUMBER):
        text = m.group(0)
        return RawValue("number", text, (), start, is_integer=bool(_INTEGER.fullmatch(text)))
    raise sc.fail("a value: a number, a quoted string or a parenthesised list of strings")


def _comparison(sc: _Scanner) -> RawComparison:
    ident = sc.identifier()
    sc.ensure_boundary()
    sc.skip_ws()
    comparator, cpos = _comparator(sc)
    if comparator in ("IS NULL", "IS NOT NULL"):
        return RawComparison(ident, comparator, cpos, RawValue("none", "", (), sc.pos))
    sc.skip_ws()
    return RawComparison(ident, comparator, cpos, _value(sc))


def scan_filter(
    text: str, what: str = "filter", max_terms: int | None = None
) -> list[RawComparison]:
    """Comparisons joined by AND; an empty or blank string is no comparison at all.  More
    than ``max_terms`` comparisons are refused (each one costs the query a join)."""
    if not text or not text.strip():
        return []
    sc = _Scanner(text, what)
    sc.skip_ws()
    terms = [_comparison(sc)]
    while True:
        if max_terms is not None and len(terms) > max_terms:
            raise InvalidFilterError(
                f"Invalid {what}: more than {max_terms} comparisons (the limit of this "
                "service); split the search or narrow it with fewer, stronger conditions",
                position=sc.pos,
            )
        had_ws = sc.skip_ws()
        if sc.at_end():
            return terms
        here = sc.pos
        kw = sc.keyword()
        if kw is None or kw[0] != "AND":
            raise sc.fail(
                "AND or the end of the filter"
                if had_ws
                else "whitespace, AND or the end of the filter",
                here,
            )
        if not sc.skip_ws() and not sc.at_end() and sc.text[sc.pos] not in '`"':
            raise sc.fail("whitespace after AND")
        if sc.at_end():
            raise sc.fail("a comparison after AND")
        terms.append(_comparison(sc))


@dataclass(frozen=True, slots=True)
class RawOrderBy:
    identifier: RawIdentifier
    ascending: bool


def scan_order_by(text: str) -> RawOrderBy:
    """``<identifier> [ASC|DESC]`` (no leading or trailing whitespace, as in MLflow)."""
    sc = _Scanner(text, "order_by clause")
    if not text or text[0].isspace():
        raise sc.fail("an identifier at the start of the order_by clause")
    ident = sc.identifier()
    if sc.at_end():
        return RawOrderBy(ident, True)
    if not sc.skip_ws():
        raise sc.fail("whitespace and then ASC or DESC")
    m = sc.take(_DIRECTION)
    if m is None:
        raise sc.fail("ASC or DESC")
    if not sc.at_end():
        raise sc.fail("the end of the order_by clause")
    return RawOrderBy(ident, m.group(1).upper() == "ASC")
