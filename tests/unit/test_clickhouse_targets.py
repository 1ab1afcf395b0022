"""The HTTP path (``--clickhouse http://host:8123``) runs every statement the chDB path runs.

Both paths are one clickhouse-connect client API (``get_client(dsn=...)`` returns an HTTP
client or a chDB-backed one; ``query``, ``command``, ``insert`` and ``insert_arrow`` are
shared): a statement can differ between them only where runstream itself looks at the
DSN's scheme.  No ClickHouse server runs in the tests, so this pins, on the source
(ast only), every place that does: a new one must be added here on purpose, with its
reason, and checked against a server.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tests.unit.test_layout import _sources

# (module, function) that branch on the scheme, and why none of them changes a statement.
SCHEME_BRANCHES: dict[tuple[str, str], str] = {
    ("runstream.ingest.settings", "ClickHouseTarget.__post_init__"): "validates the DSN",
    ("runstream.ingest.settings", "ClickHouseTarget.embedded"): "a property, no statement",
    ("runstream.query.clickhouse_store", "_connect"): "HTTP clients skip the session id "
    "(concurrent queries on one client); same SQL",
}
CLIENT_FACTORY = "get_client"


def _scheme_tests(tree: ast.AST) -> Iterator[str]:
    """Qualified names of the functions holding a test of a DSN against 'chdb...' or
    'http...' (``x.startswith("chdb:")``, ``x == "http"``, ``"chdb" in x``)."""

    def visit(node: ast.AST, where: list[str]) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield from visit(child, [*where, child.name])
                continue
            tested = None
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
                if child.func.attr in ("startswith", "endswith"):
                    tested = child.args
            elif isinstance(child, ast.Compare):
                tested = [child.left, *child.comparators]
            if tested:
                texts = [
                    c.value
                    for a in tested
                    for c in ast.walk(a)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                ]
                if any(t.startswith(("chdb", "http")) for t in texts):
                    yield ".".join(where)
            yield from visit(child, where)

    yield from visit(tree, [])


def test_only_pinned_places_look_at_the_clickhouse_scheme() -> None:
    found = {
        (module, where)
        for path, module, _ in _sources()
        if module.split(".")[1] in ("ingest", "query")
        for where in _scheme_tests(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert found == set(SCHEME_BRANCHES)


def test_adapters_open_clients_from_the_dsn_alone() -> None:
    """Every client of ingest and query comes from ``get_client(dsn=<the target's DSN>)``,
    with no option that would make a statement differ (only ``database`` and the session
    id)."""
    calls = []
    for path, module, _ in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == CLIENT_FACTORY
            ):
                calls.append((module, sorted(k.arg or "**" for k in node.keywords)))
    assert calls, "no client factory call found"
    assert {m for m, _ in calls} == {
        "runstream.ingest.clickhouse_sink",
        "runstream.query.clickhouse_store",
        # embedded chDB only: it refuses a server DSN before opening a client, and its one
        # extra option (the engine's backups.allowed_path) exists only for chDB
        "runstream.ingest.snapshot",
    }
    for module, keywords in calls:
        assert set(keywords) <= {"dsn", "database", "**"}, (module, keywords)
        assert "dsn" in keywords or "**" in keywords, module
