"""How MLflow finds the plugin: through entry points, in any import order, for both schemes;
importing the entry points costs neither MLflow nor grpc; and the words the plugin shares
with the other processes (statuses, stages) are MLflow's own.

(That the plugin imports only ``runstream.proto``, and grpc only in ``rpc.py``, is the house
rule checked in tests/unit/test_layout.py.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

from mlflow.entities import LifecycleStage, RunStatus  # noqa: E402

from runstream.proto import vocabulary  # noqa: E402

PACKAGE = "runstream.integrations.mlflow"


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
