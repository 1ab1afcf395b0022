"""``runstream tail``: follow a run (or an experiment) live, through the query service's
``Tail`` stream.  Heavy imports (grpc, rich) happen in the handler."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runstream.proto.endpoints import ChannelOptions
from runstream.proto.errors import InvalidTokenError
from runstream.proto.settings import Env
from runstream.proto.tokens import WriteToken

DEFAULT_SERVER = "127.0.0.1:50051"


def register(subparsers: Any) -> None:
    env = Env()
    p = subparsers.add_parser(
        "tail",
        help="follow a run (or an experiment) live: latest value per key and context",
        description=(
            "Follow a run live through the query service's Tail stream: its metric points and run"
            " changes (status, params, tags) as ingest applies them. In a terminal, a table of "
            "the latest value per key (and per context: rank, node, ... when points carry one), "
            "refreshed in place, starting from the run as it stands (its latest value per key, "
            "marked 'at start' until a new point comes); with --plain, or when stdout is not a "
            "terminal, one JSON line per point and per run change. Starts from now (or right "
            "after --after); when the server cuts a slow reader off, resumes from the last token "
            "by itself. On exit it prints the token to resume with (--after). Needs a query "
            "service with Kafka (runstream up has it)."
        ),
    )
    p.add_argument("run_id", nargs="?", default="", metavar="RUN_ID", help="the run to follow")
    p.add_argument(
        "--experiment", default="", metavar="ID", help="follow every run of this experiment"
    )
    p.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help=f"the query service: host:port, grpc://host:port or grpcs://host:port "
        f"(default {DEFAULT_SERVER}, where runstream up listens)",
    )
    p.add_argument(
        "--token",
        default=env.optional("RUNSTREAM_TOKEN"),
        help="bearer token, when the server has auth on [RUNSTREAM_TOKEN]",
    )
    p.add_argument(
        "--tls-ca",
        default=env.optional("RUNSTREAM_TLS_CA"),
        help="PEM file of the CA to check the server with (grpcs://) [RUNSTREAM_TLS_CA]",
    )
    p.add_argument(
        "--after",
        default=None,
        metavar="TOKEN",
        help="resume: start right after this token (the one a tail prints when it exits, "
        "or an encoded write token: WriteToken.encode())",
    )
    p.add_argument(
        "--plain",
        action="store_true",
        help="one JSON line per point and per change (the default when stdout is not a terminal)",
    )
    p.set_defaults(func=_run)


def _options(args: argparse.Namespace) -> ChannelOptions:
    server: str = args.server
    tls = server.startswith("grpcs://")
    for scheme in ("grpc://", "grpcs://"):
        server = server.removeprefix(scheme)
    return ChannelOptions(server, tls=tls, tls_ca=args.tls_ca, token=args.token)


def _run(args: argparse.Namespace) -> int:
    if bool(args.run_id) == bool(args.experiment):
        print("runstream tail: give a RUN_ID or --experiment ID (one of them)", file=sys.stderr)
        return 2
    try:
        after = WriteToken.decode(args.after) if args.after else None
    except InvalidTokenError as exc:
        print(f"runstream tail: --after: {exc}", file=sys.stderr)
        return 2
    from .tail_client import Follow, TailClientError

    follow = Follow(_options(args), args.run_id, args.experiment, after)
    title = f"run {args.run_id}" if args.run_id else f"experiment {args.experiment}"
    try:
        if args.plain or not sys.stdout.isatty():
            _plain(follow)
        else:
            _live(follow, title)
    except TailClientError as exc:
        print(f"runstream tail: {exc}", file=sys.stderr)
        _resume_hint(follow.token)
        return 1
    except KeyboardInterrupt:
        _resume_hint(follow.token)
        return 130
    except BrokenPipeError:
        return 0
    return 0


def _resume_hint(token: WriteToken | None) -> None:
    if token is not None:
        print(f"resume with: --after {token.encode()}", file=sys.stderr)


def _plain(follow: Any) -> None:
    from .tail_view import lines

    for message in follow.messages():
        for line in lines(message):
            print(line, flush=True)


def _live(follow: Any, title: str) -> None:
    try:
        from rich.live import Live
    except ModuleNotFoundError:
        print(
            "runstream tail: the table needs rich (pip install 'runstream[tail]'); "
            "showing --plain lines",
            file=sys.stderr,
        )
        _plain(follow)
        return
    from .tail_view import TailState, table

    state = TailState()
    with Live(table(state, title), refresh_per_second=4, auto_refresh=True) as live:
        for message in follow.messages():
            if state.messages == 0 and follow.run_id:  # where the run stands as the tail starts
                state.seed(follow.run_now())
            state.apply(message)
            live.update(table(state, title))
