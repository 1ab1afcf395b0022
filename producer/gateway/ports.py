"""The gateway's one outward port besides the transport: what the read side knows of a run.

The all-in-one stack (``runstream up``) wires :class:`RunDirectory` to its query service,
so the gateway refuses at the edge what ingest would otherwise dead-letter after the write
was acknowledged: a write to a run that does not exist, to a deleted run, under another
experiment, or a param that conflicts.  The standalone gateway has no directory: it checks
what it saw itself (runs it created, params it published, runs it deleted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from runstream.proto.tokens import WriteToken


@dataclass(frozen=True, slots=True)
class RunFacts:
    """A run as the read side has it: its experiment, lifecycle stage and params."""

    run_id: str
    experiment_id: str
    lifecycle_stage: str  # vocabulary ACTIVE or DELETED
    params: Mapping[str, str] = field(default_factory=dict)


class RunDirectory(Protocol):
    """What the read side knows of a run."""

    def run_facts(self, run_id: str, after: WriteToken) -> RunFacts | None:
        """The run's facts once the read side has applied ``after`` (the gateway's own
        writes: so what it wrote itself is in the answer), or None if there is no such
        run.  Raises a ``RunstreamError`` when the read side cannot answer (the caller then
        refuses nothing)."""
        ...
