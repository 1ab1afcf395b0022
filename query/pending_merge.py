"""GetRun's latest metrics with the points ingest holds but has not applied yet.

See ``proto/pending.py`` for what is held and when it is safe to show; this is the merge of
its answer into a run read from the tables (or kept by the run cache).
"""

from __future__ import annotations

from dataclasses import replace

from runstream.proto.pending import PendingRun, later
from runstream.proto.vocabulary import ACTIVE

from .entities import MetricPoint, Run


def merge_pending(run: Run, pending: dict[str, tuple[int, int, float]]) -> Run:
    """``run`` with each metric's latest point replaced by a later pending one, and keys
    only pending added: ordered by key, as the tables' runs are once the points are
    applied."""
    if not pending:
        return run
    metrics = list(run.metrics)
    at = {m.key: i for i, m in enumerate(metrics)}
    changed = False
    for key, (step, ts, value) in pending.items():
        i = at.get(key)
        if i is None:
            metrics.append(MetricPoint(key, value, ts, step))
            changed = True
        elif later((step, ts, value), (metrics[i].step, metrics[i].timestamp, metrics[i].value)):
            metrics[i] = MetricPoint(key, value, ts, step)
            changed = True
    if not changed:
        return run
    return replace(run, metrics=tuple(sorted(metrics, key=lambda m: m.key)))


def with_pending(run: Run, pending: PendingRun) -> Run:
    """``run`` (read after ``pending`` was taken) with the pending points it may show: only
    an active run gets any (ingest refuses points of a deleted run)."""
    if not pending.entries or run.info.lifecycle_stage != ACTIVE:
        return run
    return merge_pending(run, pending.latest(run.info.experiment_id))
