"""What the live tail delivers: applied events turned into points and run changes.  Pure:
no I/O.  The shapes here are the read side's own; ``grpc_codec`` converts them at the edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runstream.proto import events as ev

# TailRunChange.kind, per run payload
RUN_CREATED = "run_created"
RUN_UPDATED = "run_updated"
PARAMS_LOGGED = "params_logged"
TAGS_SET = "tags_set"
TAG_DELETED = "tag_deleted"
RUN_DELETED = "run_deleted"
RUN_RESTORED = "run_restored"


@dataclass(frozen=True, slots=True)
class TailPoint:
    run_id: str
    key: str
    value: float
    step: int
    timestamp: int
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TailChange:
    """One applied change of a run; fields the event did not set stay empty / None."""

    run_id: str
    experiment_id: str
    kind: str
    timestamp: int
    status: str = ""
    run_name: str = ""
    start_time: int | None = None
    end_time: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    deleted_tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TailBatch:
    """One message of a stream: what it delivers and the stream's position after it (per
    partition, the last offset covered: a :class:`~runstream.proto.tokens.WriteToken`'s
    offsets; -1 where nothing is covered yet)."""

    points: tuple[TailPoint, ...]
    changes: tuple[TailChange, ...]
    offsets: Mapping[int, int]

    @property
    def empty(self) -> bool:
        return not self.points and not self.changes


def _contexts(payload: ev.MetricsLogged) -> list[dict[str, str]] | None:
    """Each point's context, when the event carries contexts (schema version 4 and up);
    None when it carries none."""
    table_of = getattr(payload, "context_table", None)
    codes_of = getattr(payload, "context_codes", None)
    if table_of is None or codes_of is None:
        return None
    table: Any = table_of()
    if not any(table):
        return None
    dicts = [dict(c) for c in table]
    return [dicts[i] for i in codes_of().tolist()]


def points_of(event: ev.RunEvent) -> list[TailPoint]:
    payload = event.payload
    if not isinstance(payload, ev.MetricsLogged):
        return []
    contexts = _contexts(payload)
    keys = payload.key_column()
    values = payload.values.tolist()
    steps = payload.steps.tolist()
    stamps = payload.timestamps.tolist()
    return [
        TailPoint(
            event.run_id,
            keys[i],
            values[i],
            steps[i],
            stamps[i],
            contexts[i] if contexts is not None else {},
        )
        for i in range(len(values))
    ]


def _change(event: ev.RunEvent, kind: str, **fields: Any) -> TailChange:
    return TailChange(event.run_id, event.experiment_id, kind, event.client_ts, **fields)


def change_of(event: ev.RunEvent) -> TailChange | None:
    """The run change ``event`` makes; None for events that change no run."""
    p = event.payload
    if isinstance(p, ev.RunCreated):
        return _change(
            event,
            RUN_CREATED,
            status=p.status,
            run_name=p.run_name,
            start_time=p.start_time,
            tags=dict(p.tags),
        )
    if isinstance(p, ev.RunUpdated):
        return _change(
            event,
            RUN_UPDATED,
            status=p.status or "",
            run_name=p.run_name or "",
            end_time=p.end_time,
        )
    if isinstance(p, ev.ParamsLogged):
        return _change(event, PARAMS_LOGGED, params=_pairs(p))
    if isinstance(p, ev.TagsSet):
        return _change(event, TAGS_SET, tags=_pairs(p))
    if isinstance(p, ev.TagDeleted):
        return _change(event, TAG_DELETED, deleted_tags=(p.key,))
    if isinstance(p, ev.RunDeleted):
        return _change(event, RUN_DELETED)
    if isinstance(p, ev.RunRestored):
        return _change(event, RUN_RESTORED)
    return None


def _pairs(payload: ev.ParamsLogged | ev.TagsSet) -> dict[str, str]:
    return dict(zip(payload.keys, payload.values, strict=True))


def deliverable(events: Iterable[ev.RunEvent]) -> tuple[list[TailPoint], list[TailChange]]:
    """The points and run changes of ``events``, in order."""
    points: list[TailPoint] = []
    changes: list[TailChange] = []
    for event in events:
        points.extend(points_of(event))
        change = change_of(event)
        if change is not None:
            changes.append(change)
    return points, changes
