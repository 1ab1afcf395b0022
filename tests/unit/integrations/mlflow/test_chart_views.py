"""The chart view's thinning is MLflow's own choice of evenly spaced points."""

from __future__ import annotations

import pytest

pytest.importorskip("mlflow", reason="the MLflow plugin's tests need the mlflow extra")

from mlflow.store.tracking.abstract_store import AbstractStore  # noqa: E402

from runstream.integrations.mlflow.tracking.history import evenly_spaced  # noqa: E402


@pytest.mark.parametrize("total", [0, 1, 2, 3, 4, 7, 10, 320, 321, 1000, 4099])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 10, 320, 2500])
def test_evenly_spaced_is_mlflows(total: int, count: int) -> None:
    chosen = evenly_spaced(total, count)
    assert chosen == AbstractStore._evenly_spaced_indices(total, count)
    assert len(chosen) <= count
    if total:
        assert chosen[-1] == total - 1
        assert count == 1 or chosen[0] == 0
