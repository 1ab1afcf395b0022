"""The two commands' work: ``import mlflow`` (an MLflow store into runstream) and
``export mlflow`` (runstream into an MLflow store)."""

from __future__ import annotations

import sys
from typing import IO

from .copier import Copier
from .registry import RegistryCopier
from .report import Summary
from .source import Source


def import_mlflow(
    source_uri: str,
    runstream_uri: str,
    experiments: list[str] | None = None,
    dry_run: bool = False,
    out: IO[str] | None = None,
) -> Summary:
    """Copy the MLflow store at ``source_uri`` into runstream; the registry too unless
    ``experiments`` names a subset."""
    from ..registry_store import RunstreamRegistryStore
    from .runstream_target import RunstreamTarget

    out = out or sys.stdout
    summary = Summary(dry_run=dry_run, out=out)
    source = Source(source_uri)
    target = RunstreamTarget(runstream_uri)
    Copier(source, target, summary, mark_imports=True, dry_run=dry_run).run(experiments)
    if source.registry is not None and not experiments:
        RegistryCopier(
            source.registry, RunstreamRegistryStore(runstream_uri), summary, dry_run
        ).run()
        if not dry_run:
            target.settle()
    _print(summary, "imported", out)
    return summary


def export_mlflow(
    runstream_uri: str,
    target_uri: str,
    experiments: list[str] | None = None,
    dry_run: bool = False,
    out: IO[str] | None = None,
) -> Summary:
    """Copy runstream (at ``runstream_uri``) into the MLflow store at ``target_uri``."""
    from mlflow.tracking import MlflowClient

    from .mlflow_target import MlflowTarget

    out = out or sys.stdout
    summary = Summary(dry_run=dry_run, out=out)
    source = Source(runstream_uri)
    target = MlflowTarget(target_uri)
    Copier(source, target, summary, mark_imports=False, dry_run=dry_run).run(experiments)
    if source.registry is not None and not experiments:
        registry = MlflowClient(tracking_uri=target_uri, registry_uri=target_uri)
        RegistryCopier(
            source.registry, registry._get_registry_client().store, summary, dry_run
        ).run()
    _print(summary, "exported", out)
    return summary


def _print(summary: Summary, verb: str, out: IO[str]) -> None:
    print("experiment ids (source -> target):", file=out)
    for source_id, target_id in sorted(summary.experiment_ids.items()):
        print(f"  {source_id} -> {target_id or '(not created: dry run)'}", file=out)
    if summary.model_ids:
        print("logged model ids (source -> target, where the target drew new ones):", file=out)
        for source_id, target_id in sorted(summary.model_ids.items()):
            print(f"  {source_id} -> {target_id}", file=out)
    print(f"{verb}{' (dry run: nothing written)' if summary.dry_run else ''}:", file=out)
    for line in summary.lines():
        print(f"  {line}", file=out)
