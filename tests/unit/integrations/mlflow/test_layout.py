"""How the MLflow plugin is put together: MLflow finds it through entry points in any import
order, importing its entry points costs neither MLflow nor grpc, it depends on
``runstream.proto`` only, only its RPC module imports grpc, and the words it shares with
the other processes (statuses, stages) are MLflow's own."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

from mlflow.entities import LifecycleStage, RunStatus  # noqa: E402

from runstream.proto import vocabulary  # noqa: E402

PLUGIN = Path(__file__).resolve().parents[4] / "integrations" / "mlflow"
PACKAGE = "runstream.integrations.mlflow"


def _modules() -> list[Path]:
    found = sorted(PLUGIN.rglob("*.py"))
    assert PLUGIN / "rpc.py" in found  # the walk found the plugin
    return found


def _imports(path: Path) -> set[str]:
    """Absolute module names ``path`` imports (relative imports resolved in the plugin)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = list(path.relative_to(PLUGIN).with_suffix("").parts)
    package = [*PACKAGE.split("."), *parts[:-1]]  # the package ``path`` is in (or is)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return names


def test_the_plugin_depends_on_runstream_proto_only() -> None:
    reached = {
        (path.name, name)
        for path in _modules()
        for name in _imports(path)
        if name.startswith("runstream.")
        and not name.startswith(("runstream.proto", f"{PACKAGE}."))
        and name != PACKAGE
    }
    assert reached == set()


def test_only_the_rpc_module_imports_grpc() -> None:
    importers = sorted(
        str(path.relative_to(PLUGIN))
        for path in _modules()
        if any(name == "grpc" or name.startswith("grpc.") for name in _imports(path))
    )
    assert importers == ["rpc.py"]


def test_the_shared_words_are_mlflows() -> None:
    mlflow_statuses = {RunStatus.to_string(s) for s in RunStatus.all_status()}
    assert set(vocabulary.RUN_STATUSES) == mlflow_statuses
    assert (vocabulary.ACTIVE, vocabulary.DELETED) == (
        LifecycleStage.ACTIVE,
        LifecycleStage.DELETED,
    )
    assert set(vocabulary.LIFECYCLE_STAGES) == set(LifecycleStage.view_type_to_stages())


# ----------------------------------------------------------- in a fresh interpreter


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/"
    )


@pytest.mark.parametrize(
    "module", ["runstream.integrations", PACKAGE, f"{PACKAGE}.entry_points", f"{PACKAGE}.tracking"]
)
def test_importing_the_entry_points_imports_neither_mlflow_nor_grpc(module: str) -> None:
    done = _run(
        f"import sys, {module}\n"
        "assert 'mlflow' not in sys.modules, 'mlflow imported'\n"
        "assert 'grpc' not in sys.modules, 'grpc imported'\n"
        "print('ok')\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


_REGISTRATION_CHECK = textwrap.dedent(
    """
    import warnings
    warnings.simplefilter("error")
    {first}
    from mlflow import MlflowClient
    from mlflow.tracking._tracking_service.utils import _get_store
    from mlflow.tracking._model_registry.utils import _get_store as _get_registry_store
    from runstream.integrations.mlflow.entry_points import RunstreamRegistryStore, RunstreamStore
    for scheme in ("runstream", "runstream+tls"):
        store = _get_store(scheme + "://127.0.0.1:9")
        assert isinstance(store, RunstreamStore), type(store)
        registry = _get_registry_store(scheme + "://127.0.0.1:9")
        assert isinstance(registry, RunstreamRegistryStore), type(registry)
        MlflowClient(tracking_uri=scheme + "://127.0.0.1:9")
    print("ok")
    """
)


@pytest.mark.parametrize(
    "first",
    [
        "import mlflow",
        f"import {PACKAGE}.entry_points",
        f"from {PACKAGE}.entry_points import RunstreamStore",
        f"import {PACKAGE}.tracking.store",
        f"import {PACKAGE}.registry_store",
        f"import {PACKAGE}.convert",
    ],
)
def test_entry_points_register_the_scheme_in_any_import_order(first: str) -> None:
    done = _run(_REGISTRATION_CHECK.format(first=first))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
