"""Every method of MLflow's two abstract stores has an answer on runstream's stores: the
plugin implements it, keeps MLflow's default on purpose (a named list), or answers
``MlflowNotImplementedException`` — never a bare ``NotImplementedError``.

Enumerated from the installed MLflow, so a release that adds a method cannot open a gap
silently: the new method either falls in the NOT_IMPLEMENTED group (and shows up in the
printed list of this test) or fails here.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

from mlflow.exceptions import MlflowException, MlflowNotImplementedException  # noqa: E402
from mlflow.store.model_registry.abstract_store import (  # noqa: E402
    AbstractStore as AbstractRegistryStore,
)
from mlflow.store.tracking.abstract_store import (  # noqa: E402
    AbstractStore as AbstractTrackingStore,
)

from runstream.integrations.mlflow.entry_points import (  # noqa: E402
    RunstreamRegistryStore,
    RunstreamStore,
)
from runstream.integrations.mlflow.registry_store import (  # noqa: E402
    INHERITED as REGISTRY_INHERITED,
)
from runstream.integrations.mlflow.tracking.store import (  # noqa: E402
    INHERITED as TRACKING_INHERITED,
)

URI = "runstream://127.0.0.1:9"  # never called: every answer below is local


def _methods(abstract: type) -> list[str]:
    return [
        name
        for name, _ in inspect.getmembers(abstract, inspect.isfunction)
        if not name.startswith("__") and name not in ("_evenly_spaced_indices",)
    ]


def _owner(store: type, name: str) -> str:
    for klass in store.__mro__:
        if name in vars(klass):
            return klass.__module__
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("store", "abstract", "inherited"),
    [
        (RunstreamStore, AbstractTrackingStore, TRACKING_INHERITED),
        (RunstreamRegistryStore, AbstractRegistryStore, REGISTRY_INHERITED),
    ],
    ids=["tracking", "registry"],
)
def test_every_abstract_method_is_answered(
    store: type, abstract: type, inherited: frozenset[str]
) -> None:
    ours, kept, refused = [], [], []
    for name in _methods(abstract):
        member = inspect.getattr_static(store, name)
        if getattr(member, "runstream_unsupported", False):
            refused.append(name)
        elif _owner(store, name).startswith("runstream."):
            ours.append(name)
        elif name in inherited:
            kept.append(name)
        elif name.startswith("_"):
            continue  # private helpers of MLflow's that no public default needs from us
        else:
            raise AssertionError(f"{abstract.__module__}.{name}: no answer on {store.__name__}")
    assert set(inherited) <= set(kept) | set(ours), "an inherited name that MLflow no longer has"
    print(
        f"\n{store.__name__}: {len(ours)} implemented, {len(kept)} MLflow defaults kept, "
        f"{len(refused)} NOT_IMPLEMENTED: {', '.join(sorted(refused))}"
    )
    # the store can be built (no abstract method left) and every refusal is MLflow's
    instance: Any = store(URI) if store is RunstreamStore else store(URI, URI)
    for name in refused:
        with pytest.raises(MlflowException) as exc:
            getattr(instance, name)()
        assert isinstance(exc.value, MlflowNotImplementedException), name
        assert exc.value.error_code == "NOT_IMPLEMENTED", name


def test_the_model_half_is_implemented_not_refused() -> None:
    for name in (
        "create_logged_model",
        "search_logged_models",
        "finalize_logged_model",
        "log_inputs",
        "log_outputs",
        "delete_experiment_tag",
        "record_logged_model",
        "_search_datasets",
    ):
        assert _owner(RunstreamStore, name).startswith("runstream.integrations.mlflow"), name
    for name in (
        "create_registered_model",
        "create_model_version",
        "search_model_versions",
        "transition_model_version_stage",
        "get_model_version_by_alias",
        "get_model_version_download_uri",
    ):
        assert (
            _owner(RunstreamRegistryStore, name) == "runstream.integrations.mlflow.registry_store"
        )
