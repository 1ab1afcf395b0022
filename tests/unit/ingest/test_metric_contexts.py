"""Point contexts in a batch's columns: the ``context`` of every ``metrics`` row, and the
``latest_context_metrics`` summary per (run, key, context)."""

from __future__ import annotations

import numpy as np

from runstream.ingest.batch import DictColumn
from runstream.ingest.metric_columns import CONTEXT_LATEST_COLUMNS, MetricAccumulator
from runstream.proto import events as ev


def _event(values: list[float], contexts: tuple[ev.Context, ...], index: list[int] | None):
    n = len(values)
    return ev.MetricsLogged(
        ("loss",),
        np.zeros(n, dtype=np.uint16),
        np.asarray(values),
        np.arange(n, dtype=np.int64),
        np.full(n, 7, dtype=np.int64),
        contexts,
        None if index is None else np.asarray(index, dtype=np.uint16),
    )


def test_contexts_become_a_column_and_a_summary_per_context() -> None:
    acc = MetricAccumulator()
    r0, r1 = (("rank", "0"),), (("rank", "1"),)
    acc.add("run", "1", _event([1.0, 2.0, 3.0], (r0, r1), [0, 1, 0]))
    acc.add("run", "1", _event([5.0], (r1,), None))  # one context for every point
    acc.add("run", "1", _event([9.0], (), None))  # written before contexts: the empty one
    metrics, latest, by_context = acc.tables()
    column = metrics.data[metrics.columns.index("context")]
    assert isinstance(column, DictColumn)
    assert column.expand() == ['{"rank":"0"}', '{"rank":"1"}', '{"rank":"0"}', '{"rank":"1"}', ""]
    assert latest.rows == 1  # MLflow's one summary per (run, key)
    assert by_context.columns == CONTEXT_LATEST_COLUMNS
    rows = sorted(zip(*by_context.data, strict=True), key=lambda r: r[3])
    assert [(r[3], r[4], r[5], r[6], r[7]) for r in rows] == [
        ("", (0, 7, 9.0), 9.0, 9.0, 1),
        ('{"rank":"0"}', (2, 7, 3.0), 1.0, 3.0, 2),
        ('{"rank":"1"}', (1, 7, 2.0), 2.0, 5.0, 2),
    ]
