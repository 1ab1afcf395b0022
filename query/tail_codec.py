"""The live tail at the protobuf edge: requests in, messages out."""

from __future__ import annotations

from typing import Any

from runstream.proto.tokens import WaitToken
from runstream.proto.v1 import common_pb2, query_pb2

from .errors import InvalidRequestError
from .tail import TailTarget
from .tail_events import TailBatch, TailChange, TailPoint


def target(request: Any) -> TailTarget:
    run_id, experiment_id = request.run_id, request.experiment_id
    if bool(run_id) == bool(experiment_id):
        raise InvalidRequestError("Tail: give exactly one of run_id and experiment_id")
    return TailTarget(run_id, experiment_id)


def after(request: Any) -> WaitToken | None:
    if not request.HasField("after") or not request.after.offsets:
        return None
    return WaitToken(request.after.topic, dict(request.after.offsets))


def _point(p: TailPoint) -> query_pb2.TailPoint:
    return query_pb2.TailPoint(
        run_id=p.run_id,
        key=p.key,
        value=p.value,
        step=p.step,
        timestamp=p.timestamp,
        context=dict(p.context),
    )


def _change(c: TailChange) -> query_pb2.TailRunChange:
    message = query_pb2.TailRunChange(
        run_id=c.run_id,
        experiment_id=c.experiment_id,
        kind=c.kind,
        status=c.status,
        run_name=c.run_name,
        params=dict(c.params),
        tags=dict(c.tags),
        deleted_tags=list(c.deleted_tags),
        timestamp=c.timestamp,
    )
    if c.start_time is not None:
        message.start_time = c.start_time
    if c.end_time is not None:
        message.end_time = c.end_time
    return message


def message(batch: TailBatch, topic: str) -> query_pb2.TailMessage:
    return query_pb2.TailMessage(
        points=[_point(p) for p in batch.points],
        changes=[_change(c) for c in batch.changes],
        token=common_pb2.WriteToken(topic=topic, offsets=dict(batch.offsets)),
    )
