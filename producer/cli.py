"""``runstream spool`` (inspect or resend a spool directory).  Every flag falls back to its
environment variable.  ``runstream gateway`` is the gateway's own (``gateway/cli.py``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    spool = subparsers.add_parser(
        "spool",
        help="inspect or resend a producer spool directory",
        description="Events a producer could not publish wait in its spool directory. "
        "'status' lists them; 'drain' resends those whose producer is gone.",
    )
    spool_sub = spool.add_subparsers(dest="spool_command", metavar="ACTION", required=True)
    for name, helptext in (("status", "list spooled segments"), ("drain", "resend them")):
        action = spool_sub.add_parser(name, help=helptext)
        action.add_argument("--spool-dir", help="spool directory (RUNSTREAM_SPOOL_DIR)")
        action.add_argument("--uri", help="destination (RUNSTREAM_URI)")
        action.add_argument(
            "--timeout", type=float, default=60.0, help="seconds to keep trying (drain; default 60)"
        )
        action.set_defaults(func=_run_spool)


def _run_spool(args: argparse.Namespace) -> int:
    from .settings import ProducerSettings
    from .spool import SEGMENT_SUFFIX, Spool

    settings = ProducerSettings.from_env(uri=args.uri, spool_dir=args.spool_dir)
    if not settings.spool_dir:
        print("no spool directory: pass --spool-dir or set RUNSTREAM_SPOOL_DIR")
        return 2
    root = Path(settings.spool_dir)
    folders = Spool.orphans(root)
    if args.spool_command == "status":
        for folder in folders:
            segments = sorted(folder.glob("*" + SEGMENT_SUFFIX))
            size = sum(s.stat().st_size for s in segments)
            print(f"{folder.name}: {len(segments)} segment(s), {size} bytes")
        print(f"{len(folders)} producer folder(s) with spooled events in {root}")
        return 0
    return _drain(settings, args.timeout)


def _drain(settings: Any, timeout: float) -> int:
    import time

    from .client import RunstreamClient
    from .spool import Spool

    root = Path(settings.spool_dir)
    client = RunstreamClient(settings=settings)
    deadline = time.monotonic() + timeout
    try:
        while Spool.orphans(root, own=root / client.producer_id):
            if time.monotonic() > deadline:
                print(f"events remain in {root}: is the broker at {settings.uri} up?")
                return 1
            time.sleep(0.5)
    finally:
        client.close()
    print(f"spool {root} drained to {settings.uri}")
    return 0
