"""``runstream import mlflow`` and ``runstream export mlflow`` (MLflow is imported only
when one of them runs, so ``runstream --help`` stays fast)."""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_RUNSTREAM_URI = "runstream://127.0.0.1:50051"


def register(subparsers: Any) -> None:
    for verb, helptext in (
        ("import", "copy another tracking store into runstream"),
        ("export", "copy runstream into another tracking store"),
    ):
        parser = subparsers.add_parser(verb, help=helptext, description=helptext)
        kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
        if verb == "import":
            mlflow = kinds.add_parser(
                "mlflow",
                help="an MLflow store (any tracking URI MLflow reads) into runstream",
                description="Copy experiments, runs, params, tags, every metric point, "
                "datasets, logged models and the model registry of an MLflow store into "
                "runstream, through its write path; run and logged-model ids are kept, "
                "experiment ids mapped (printed, and kept as tags); artifacts stay where "
                "they are (their URIs are kept). Running it again sends only what is new.",
            )
            mlflow.add_argument(
                "--from",
                dest="source",
                required=True,
                metavar="URI",
                help="MLflow tracking URI: sqlite:///..., postgresql://..., "
                "http(s)://an mlflow server, file:./mlruns",
            )
            mlflow.add_argument(
                "--to",
                dest="target",
                default=DEFAULT_RUNSTREAM_URI,
                metavar="URI",
                help=f"runstream (default {DEFAULT_RUNSTREAM_URI})",
            )
        else:
            mlflow = kinds.add_parser(
                "mlflow",
                help="runstream into an MLflow store",
                description="Copy runstream's experiments, runs, params, tags, metric "
                "histories, datasets, logged models and model registry into an MLflow "
                "store (run and logged-model ids kept in SQL stores). Running it again "
                "sends only what is new.",
            )
            mlflow.add_argument(
                "--to",
                dest="target",
                required=True,
                metavar="URI",
                help="MLflow tracking URI: sqlite:///..., postgresql://...",
            )
            mlflow.add_argument(
                "--from",
                dest="source",
                default=DEFAULT_RUNSTREAM_URI,
                metavar="URI",
                help=f"runstream (default {DEFAULT_RUNSTREAM_URI})",
            )
        mlflow.add_argument(
            "--experiment",
            action="append",
            metavar="NAME",
            help="copy only this experiment, its runs and logged models (repeatable; the "
            "registry is then left out)",
        )
        mlflow.add_argument(
            "--dry-run", action="store_true", help="count what would be written, write nothing"
        )
        mlflow.epilog = (
            "Prints the experiment id mapping and a summary (written / already there per "
            "kind); an item of the source that was skipped or changed on the way is printed "
            "with its reason, and a skipped one makes the command exit 1."
        )
        mlflow.set_defaults(func=_run, verb=verb)


def _run(args: argparse.Namespace) -> int:
    from .moves import export_mlflow, import_mlflow

    move = import_mlflow if args.verb == "import" else export_mlflow
    summary = move(args.source, args.target, args.experiment, args.dry_run)
    return 1 if any(p.outcome == "skipped" for p in summary.problems) else 0
