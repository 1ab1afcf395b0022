"""The contexts of this process's points: what the launcher says (rank, node) and what a
call adds (``log_metric(..., context={...})``).

When a distributed launcher started the process (any of ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``NODE_RANK`` is set: torchrun, Lightning, DeepSpeed, accelerate, mpirun
wrappers), every point this process logs carries ``rank`` (``RANK``, else ``LOCAL_RANK``),
``local_rank`` (when set), ``node_rank`` (when set) and ``node`` (the host name).  A plain
single process logs with the empty context, as before contexts existed.  Turn it off with
``RUNSTREAM_PROCESS_CONTEXT=0`` (``process_context=False``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from runstream.proto.contexts import (
    EMPTY_CONTEXT,
    LOCAL_RANK,
    NODE,
    NODE_RANK,
    RANK,
    Context,
    context_problems,
    merge,
)
from runstream.proto.settings import Env

from .errors import FieldProblem, ValidationError
from .settings import SettingsError

LAUNCHER_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK")


def process_context(env: Mapping[str, str] | None = None) -> Context:
    """The context the launcher's variables give this process (empty when none is set)."""
    e = Env(os.environ if env is None else env, error=SettingsError)
    if not any(e.has(v) for v in LAUNCHER_VARS):
        return EMPTY_CONTEXT
    pairs: dict[str, object] = {NODE: socket.gethostname() or "localhost"}
    if e.has("RANK"):
        pairs[RANK] = e.integer("RANK", 0, minimum=0)
    elif e.has("LOCAL_RANK"):
        pairs[RANK] = e.integer("LOCAL_RANK", 0, minimum=0)
    if e.has("LOCAL_RANK"):
        pairs[LOCAL_RANK] = e.integer("LOCAL_RANK", 0, minimum=0)
    if e.has("NODE_RANK"):
        pairs[NODE_RANK] = str(e.integer("NODE_RANK", 0, minimum=0))
    ctx, problems = context_problems(pairs, "process context")
    if problems:  # a host name the rules refuse: keep the ranks, drop the name
        ctx, _ = context_problems({k: v for k, v in pairs.items() if k != NODE})
    return ctx


def problems_of(context: object, field: str) -> tuple[Context, list[FieldProblem]]:
    """The checked call context and its problems, as the SDK's :class:`FieldProblem`."""
    ctx, found = context_problems(context, field)  # type: ignore[arg-type]
    return ctx, [FieldProblem(f, p) for f, p in found]


def call_context(base: Context, context: object, field: str = "context") -> Context:
    """``base`` (the process context) with a call's ``context`` on top, checked; a bad
    context raises :class:`ValidationError` naming the field."""
    if context is None:
        return base
    ctx, problems = problems_of(context, field)
    if problems:
        raise ValidationError(problems)
    merged = merge(base, ctx)
    if len(merged) > len(ctx):  # the process's pairs count too
        _, problems = problems_of(merged, field)
        if problems:
            raise ValidationError(
                [
                    FieldProblem(field, f"{p.problem} (with this process's {len(base)} pairs)")
                    for p in problems
                ]
            )
    return merged
