"""The house rules, checked on the source tree (ast only: nothing is imported).

* producer, ingest, query and integrations import nothing of runstream but themselves and
  proto; proto imports nothing of runstream but itself; only infra composes the rooms.
* Only adapter modules import the clients of the outside world (kafka, clickhouse_connect,
  chdb, grpc): the set of such modules is pinned here, so a new one is a deliberate act.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
# runstream.<room> -> folder, from pyproject (the mapping the wheel uses)
FOLDERS: dict[str, Path] = {
    package: ROOT / folder for package, folder in CONFIG["package-dir"].items()
}
ROOMS = sorted(p.split(".")[1] for p in FOLDERS)

# What each room may import of runstream besides itself.
ALLOWED: dict[str, frozenset[str]] = {
    "proto": frozenset(),
    "producer": frozenset({"proto"}),
    "ingest": frozenset({"proto"}),
    "query": frozenset({"proto"}),
    "integrations": frozenset({"proto"}),
    "infra": frozenset(ROOMS),
}
OUTSIDE_CLIENTS = frozenset({"kafka", "clickhouse_connect", "chdb", "grpc"})


def _module_name(path: Path) -> str:
    for package, folder in FOLDERS.items():
        if folder in path.parents:
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            return ".".join((package, *parts))
    raise ValueError(f"{path} is in no runstream package")


def imports_of(source: str, module: str, is_package: bool) -> Iterator[str]:
    """Absolute names of everything ``source`` (the text of ``module``) imports."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def violations(source: str, module: str, is_package: bool) -> list[str]:
    """Imports of ``module`` that break the room rule."""
    room = module.split(".")[1]
    found = []
    for name in imports_of(source, module, is_package):
        parts = name.split(".")
        if parts[0] != "runstream" or len(parts) < 2:
            continue
        target = parts[1]
        if target != room and target not in ALLOWED[room]:
            found.append(f"{module} imports {name}")
    return sorted(set(found))


def _sources() -> Iterator[tuple[Path, str, bool]]:
    for folder in FOLDERS.values():
        for path in sorted(folder.rglob("*.py")):
            if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                continue
            yield path, _module_name(path), path.name == "__init__.py"


def test_every_room_has_a_rule() -> None:
    assert set(ROOMS) <= set(ALLOWED), "a room without an import rule"


def test_rooms_import_only_what_the_rules_allow() -> None:
    broken = [
        v
        for path, module, is_package in _sources()
        for v in violations(path.read_text(encoding="utf-8"), module, is_package)
    ]
    assert broken == []


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from runstream.query import QueryService", "runstream.producer.client", True),
        ("import runstream.ingest.worker", "runstream.query.service", True),
        ("from ...ingest import worker", "runstream.integrations.mlflow.store", True),
        ("from runstream.proto import events", "runstream.ingest.worker", False),
        ("from .commands import build", "runstream.producer.gateway.core", False),
        ("from ..commands import build", "runstream.producer.gateway.core", False),
        ("from runstream.producer import gateway", "runstream.infra.stack", False),
        ("from runstream.query import x", "runstream.proto.codec", True),
    ],
)
def test_the_rule_catches_a_room_reaching_into_another(
    source: str, module: str, expected: bool
) -> None:
    assert bool(violations(source, module, is_package=False)) == expected


# Modules that talk to the outside world through its client libraries.  Pinned: adding
# one is a deliberate act (and it should be an adapter: a port's implementation).
ADAPTERS: dict[str, frozenset[str]] = {
    "runstream.infra.kafka.probe": frozenset({"kafka"}),
    "runstream.ingest.clickhouse_sink": frozenset({"clickhouse_connect"}),
    "runstream.ingest.kafka_dead_letters": frozenset({"kafka"}),
    "runstream.ingest.kafka_source": frozenset({"kafka"}),
    "runstream.ingest.snapshot": frozenset({"clickhouse_connect"}),  # BACKUP / RESTORE
    "runstream.integrations.mlflow.rpc": frozenset({"grpc"}),
    "runstream.producer.gateway.directory": frozenset({"grpc"}),
    "runstream.producer.gateway.server": frozenset({"grpc"}),
    "runstream.producer.grpc_transport": frozenset({"grpc"}),
    "runstream.producer.kafka_transport": frozenset({"kafka"}),
    "runstream.proto.rpc.auth": frozenset({"grpc"}),
    "runstream.proto.rpc.channel": frozenset({"grpc"}),
    "runstream.proto.rpc.server": frozenset({"grpc"}),
    "runstream.proto.rpc.status": frozenset({"grpc"}),
    "runstream.query.clickhouse_store": frozenset({"clickhouse_connect"}),
    "runstream.query.grpc_server": frozenset({"grpc"}),
    "runstream.query.kafka_log_end": frozenset({"kafka"}),  # LogEndPort (read-your-writes)
    "runstream.query.kafka_records": frozenset({"kafka"}),  # RecordsPort (the live tail)
    "runstream.query.tail_client": frozenset({"grpc"}),  # runstream tail's stream
}


def _outside_imports() -> dict[str, frozenset[str]]:
    found: dict[str, frozenset[str]] = {}
    for path, module, is_package in _sources():
        names = {
            name.split(".")[0]
            for name in imports_of(path.read_text(encoding="utf-8"), module, is_package)
        }
        clients = frozenset(names & OUTSIDE_CLIENTS)
        if clients:
            found[module] = clients
    return found


def test_only_adapter_modules_import_outside_clients() -> None:
    assert _outside_imports() == ADAPTERS
