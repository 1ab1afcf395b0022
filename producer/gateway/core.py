"""The gateway's logic, free of gRPC: requests (already converted to our types at the edge)
become validated, stamped events, published through a Transport; the answer carries the
write token once Kafka has acknowledged.

Stamping.  A request that names its :class:`Origin` (the SDK's gRPC transport does) gets
events stamped with the caller's producer id and a seq derived from the request's
(``ids.origin_seq``), so a resent request makes the same (producer_id, seq) and ingest
applies it once.  Other requests get the gateway's own producer identity: events are
stamped and handed to Kafka under one lock, so ``seq`` follows the order of the topic.

Permissions.  Every call comes from a principal (``runstream.proto.permissions``):
:class:`~.access.WriteAccess` checks that it holds what the call needs on the experiment
before anything is checked further or published, and its name is stamped on every event
the call writes (the ``principal`` header: the audit trail).

Commands are built by the SDK's builders (``runstream.producer.commands``), so both sides
validate and encode a write alike; bad items of a batch are refused and named, good items
of the same request are published, and then the request fails with INVALID_ARGUMENT.

Run checks.  What ingest would dead-letter after the write was acknowledged is refused
here where it can be known: a write to a run that does not exist (NOT_FOUND), to a
deleted run (FAILED_PRECONDITION, as MLflow), under another experiment, or a param that
conflicts with the run's (INVALID_ARGUMENT, the other items go on).  The facts come from
a :class:`~.ports.RunDirectory` (the read side, in the all-in-one stack) and from what
this gateway wrote itself (runs it created, params it published, runs it deleted or
restored); without a directory a run the gateway never saw is not checked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from runstream.proto import events as ev
from runstream.proto.contexts import Context
from runstream.proto.errors import RunstreamError, echo
from runstream.proto.permissions import ANONYMOUS, NEEDS, Permission, Principal
from runstream.proto.tokens import WriteToken, merge_all
from runstream.proto.vocabulary import ACTIVE, DELETED

from .. import commands
from ..columns import Chunk, merge_run_chunks, rows_chunk, split_events
from ..contexts import problems_of
from ..entities import RunInfo
from ..errors import FieldProblem, ValidationError
from ..ids import (
    MAX_ORIGIN_ITEM,
    MAX_ORIGIN_PART,
    MAX_ORIGIN_SEQ,
    EventStamper,
    make_event,
    now_ms,
    origin_seq,
)
from ..transport import PendingWrite, Transport
from ..validation import check_batch_limits, check_columns, check_id, int_problem, key_problem
from .access import WriteAccess
from .ports import RunDirectory
from .runs import RunChecks

Pair = tuple[str, str]
_LOG = NEEDS["runstream.v1.WriteService"]["LogBatch"]
_CREATE_RUN = NEEDS["runstream.v1.WriteService"]["CreateRun"]


@dataclass(frozen=True, slots=True, eq=False)
class ColumnsIn:
    """Columnar points as received (arrays decoded from the packed bytes)."""

    keys: tuple[str, ...]
    key_index: np.ndarray
    values: np.ndarray
    steps: np.ndarray
    timestamps: np.ndarray
    context: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent a request: a producer id and the seq (and part) of the caller's event."""

    producer_id: str
    seq: int
    part: int = 0


@dataclass(frozen=True, slots=True)
class LogBatch:
    """One LogBatch request in our types.  ``metrics`` rows: (key, value, timestamp, step)."""

    run_id: str
    experiment_id: str = ""
    metrics: tuple[tuple[str, float, int, int], ...] = ()
    params: tuple[Pair, ...] = ()
    tags: tuple[Pair, ...] = ()
    columns: ColumnsIn | None = None
    origin: Origin | None = None
    metric_contexts: tuple[Mapping[str, str], ...] = ()  # per row of ``metrics`` (or none)


@dataclass(frozen=True, slots=True)
class WriteResult:
    token: WriteToken = field(default_factory=WriteToken)
    events: int = 0
    points: int = 0


Spec = tuple[str, str, ev.Payload]


@dataclass(slots=True)
class _Built:
    """A batch's events, its points, its accepted items, its refused items."""

    specs: list[Spec]
    points: int
    items: int
    problems: list[FieldProblem]
    params: dict[str, str]  # accepted params (remembered once published)


class GatewayCore:
    """Validates, checks, stamps and publishes; thread-safe (one instance per gateway)."""

    def __init__(
        self,
        transport: Transport,
        producer_id: str | None = None,
        max_event_bytes: int = 900_000,
        publish_timeout_s: float = 10.0,
        *,
        runs: RunDirectory | None = None,
        lifecycle_ttl_s: float = 1.0,
        cache_runs: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        access: WriteAccess | None = None,
    ) -> None:
        self.access = access if access is not None else WriteAccess(None)
        self._transport = transport
        self._stamper = EventStamper(producer_id)
        self._lock = threading.Lock()
        self._max_event_bytes = max_event_bytes
        self._timeout = publish_timeout_s
        self._runs = RunChecks(runs, lifecycle_ttl_s, cache_runs, clock)

    @property
    def producer_id(self) -> str:
        return self._stamper.producer_id

    # -- publishing -----------------------------------------------------------------------

    def _submit(
        self, specs: Sequence[Spec], origin: Origin | None, principal: Principal
    ) -> PendingWrite | None:
        if not specs:
            return None
        now, who = now_ms(), principal.name
        if origin is not None:
            _check_origin(origin, len(specs))
            pid, first = origin.producer_id, origin_seq(origin.seq, origin.part, 0)
            events = [
                make_event(pid, first + k, r, e, p, now, who) for k, (r, e, p) in enumerate(specs)
            ]
            with self._lock:
                return self._transport.submit(events)
        with self._lock:
            events = [self._stamper.stamp(r, e, p, now, who) for r, e, p in specs]
            return self._transport.submit(events)

    def _result(self, pending: PendingWrite) -> WriteToken:
        token = pending.result(self._timeout)
        self._runs.wrote(token)
        return token

    def _publish(
        self, specs: Sequence[Spec], origin: Origin | None, principal: Principal
    ) -> WriteToken:
        pending = self._submit(specs, origin, principal)
        return WriteToken() if pending is None else self._result(pending)

    # -- experiments and runs --------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        artifact_location: str = "",
        tags: Sequence[Pair] = (),
        experiment_id: str = "",
        origin: Origin | None = None,
        principal: Principal = ANONYMOUS,
    ) -> tuple[str, WriteToken]:
        """Any principal allowed to create experiments may; whoever's creation ingest
        applies first is the creator (and holds MANAGE on it, unless a grant says else)."""
        command = commands.create_experiment(name, artifact_location, tags, experiment_id)
        return command.experiment_id, self.write(command, origin, principal).token

    def create_run(
        self,
        experiment_id: str = "",
        run_name: str = "",
        user_id: str = "",
        start_time: int | None = None,
        tags: Sequence[Pair] = (),
        parent_run_id: str = "",
        run_id: str = "",
        origin: Origin | None = None,
        principal: Principal = ANONYMOUS,
    ) -> tuple[RunInfo, WriteToken]:
        """A run as the request describes it: no system tags of this process are added
        (the caller's host and user are the caller's to say).  Needs EDIT on the
        experiment."""
        new = commands.create_run(
            experiment_id, run_name, user_id, start_time, tags, parent_run_id, run_id
        )
        return new.info, self.write(new.command, origin, principal, _CREATE_RUN).token

    def write(
        self,
        command: commands.ExperimentCommand | commands.RunCommand,
        origin: Origin | None = None,
        principal: Principal = ANONYMOUS,
        needed: Permission = Permission.MANAGE,
    ) -> WriteResult:
        """Check (``principal`` must hold ``needed`` on the experiment) and publish a built
        command; the answer once Kafka acknowledged every event."""
        if isinstance(command, commands.ExperimentCommand):
            eid, payload = command.experiment_id, command.payload
            if isinstance(payload, ev.ExperimentCreated):
                self.access.require_create(principal, payload.name)
            else:
                self.access.require_experiment(principal, needed, eid)
            specs: list[Spec] = [("", eid, payload)]
            token = self._publish(specs, origin, principal)
            if isinstance(payload, ev.ExperimentCreated):
                self.access.created_experiment(eid, token)
            return WriteResult(token, len(specs))
        run_id, payloads = command.run_id, command.payloads
        created = isinstance(payloads[0], ev.RunCreated)
        if created:
            self.access.require_experiment(principal, needed, command.experiment_id)
        else:
            eid = self.access.require_run(principal, needed, run_id, command.experiment_id)
            command = replace(command, experiment_id=eid)
            lifecycle = isinstance(payloads[0], ev.RunDeleted | ev.RunRestored)
            self._runs.check(run_id, command.experiment_id, active=not lifecycle)
        specs = [(run_id, command.experiment_id, p) for p in payloads]
        token = self._publish(specs, origin, principal)
        if created:
            self.access.created_run(run_id, command.experiment_id)
            self._runs.learn(run_id, token, experiment_id=command.experiment_id, stage=ACTIVE)
        elif isinstance(payloads[0], ev.RunDeleted):
            self._runs.learn(run_id, token, stage=DELETED)
        elif isinstance(payloads[0], ev.RunRestored):
            self._runs.learn(run_id, token, stage=ACTIVE)
        else:
            self._runs.learn(run_id, token)
        return WriteResult(token, len(specs))

    # -- log batches ----------------------------------------------------------------------

    def _batch_specs(self, batch: LogBatch, principal: Principal, prefix: str = "") -> _Built:
        """Events for a batch's accepted items, its point and item counts, refused items
        (PERMISSION_DENIED first, when the principal may not EDIT the run's experiment)."""
        check_id(batch.run_id, f"{prefix}run_id")
        if batch.experiment_id:
            check_id(batch.experiment_id, f"{prefix}experiment_id")
        eid = self.access.require_run(principal, _LOG, batch.run_id, batch.experiment_id)
        batch = replace(batch, experiment_id=eid)
        columns = batch.columns
        check_batch_limits(
            len(batch.metrics),
            len(batch.params),
            len(batch.tags),
            0 if columns is None else int(columns.values.shape[0]),
            prefix.rstrip("."),
        )
        run, eid = batch.run_id, batch.experiment_id
        known = self._runs.check(run, eid, active=True, prefix=prefix)
        specs: list[Spec] = []
        params = commands.log_params(batch.params, f"{prefix}params")
        problems = list(params.problems)
        accepted: dict[str, str] = {}
        if params.payload is not None:
            written = known.params if known is not None else {}
            index = {k: i for i, (k, _) in reversed(list(enumerate(batch.params)))}
            for k, v in zip(params.payload.keys, params.payload.values, strict=True):
                old = written.get(k)
                if old is not None and old != v:
                    problems.append(
                        FieldProblem(
                            f"{prefix}params[{index[k]}].value",
                            f"param {echo(k)} of run {echo(run)} is {echo(old)}; params are "
                            f"write-once (got {echo(v)})",
                        )
                    )
                else:  # the same value again is kept: a resent request makes the same events
                    accepted[k] = v
            if accepted:
                keys = tuple(accepted)
                specs.append((run, eid, ev.ParamsLogged(keys, tuple(accepted[k] for k in keys))))
        items = len(accepted)
        tags = commands.set_tags(batch.tags, f"{prefix}tags")
        if tags.payload is not None:
            specs.append((run, eid, tags.payload))
            items += len(tags.payload.keys)
        problems += tags.problems
        chunks, row_problems = _metric_rows(
            run, batch.metrics, f"{prefix}metrics", batch.metric_contexts
        )
        problems += row_problems
        ctx: Context = ()
        if columns is not None and columns.context:
            ctx, found = problems_of(columns.context, f"{prefix}metric_columns.context")
            if found:
                problems += found
                columns = None
        if columns is not None and columns.values.shape[0]:
            checked = check_columns(
                columns.keys,
                columns.key_index,
                columns.values,
                columns.steps,
                columns.timestamps,
                f"{prefix}metric_columns",
            )
            problems += checked.problems
            if len(checked):
                chunks.append(
                    Chunk(
                        run,
                        checked.keys,
                        checked.key_index,
                        checked.values,
                        checked.steps,
                        checked.timestamps,
                        ctx,
                    )
                )
        points = 0
        by_context: dict[Context, list[Chunk]] = {}
        for chunk in chunks:
            by_context.setdefault(chunk.context, []).append(chunk)
        for merged in (m for group in by_context.values() for m in merge_run_chunks(group)):
            points += len(merged)
            for payload in split_events(merged, self._max_event_bytes):
                specs.append((run, eid, payload))
        return _Built(specs, points, items + points, problems, accepted)

    def log_batch(self, batch: LogBatch, principal: Principal = ANONYMOUS) -> WriteResult:
        built = self._batch_specs(batch, principal)
        token = self._publish(built.specs, batch.origin, principal)
        self._runs.learn(batch.run_id, token, params=built.params)
        if built.problems:
            raise ValidationError(built.problems, accepted=built.items)
        return WriteResult(token, len(built.specs), built.points)

    def log_stream(
        self, batches: Iterable[LogBatch], principal: Principal = ANONYMOUS
    ) -> WriteResult:
        """Each batch is checked and handed to Kafka as it arrives; the answer waits for
        every acknowledgement.  A bad batch ends the stream (INVALID_ARGUMENT naming
        ``requests[i].<field>``, the run's NOT_FOUND / FAILED_PRECONDITION, or
        PERMISSION_DENIED) after what came before it is acknowledged."""
        pendings: list[tuple[PendingWrite, LogBatch, _Built]] = []
        events = points = items = 0
        failure: ValidationError | None = None
        refused: RunstreamError | None = None
        try:
            for i, batch in enumerate(batches):
                built = self._batch_specs(batch, principal, f"requests[{i}].")
                pending = self._submit(built.specs, batch.origin, principal)
                if pending is not None:
                    pendings.append((pending, batch, built))
                events += len(built.specs)
                points += built.points
                items += built.items
                if built.problems:
                    failure = ValidationError(built.problems, accepted=items)
                    break
        except ValidationError as exc:
            failure = ValidationError(exc.problems, accepted=items)
        except RunstreamError as exc:  # the run's checks: after what came before is acked
            refused = exc
        tokens = [self._result(p) for p, _, _ in pendings]
        for one, (_, batch, built) in zip(tokens, pendings, strict=True):
            self._runs.learn(batch.run_id, one, params=built.params)
        token = merge_all(tokens)
        if refused is not None:
            raise refused
        if failure is not None:
            raise failure
        return WriteResult(token, events, points)


def _check_origin(origin: Origin, events: int) -> None:
    check_id(origin.producer_id, "origin.producer_id")
    if not 0 <= origin.seq <= MAX_ORIGIN_SEQ:
        raise ValidationError.of("origin.seq", f"must be in [0, {MAX_ORIGIN_SEQ}]")
    if not 0 <= origin.part <= MAX_ORIGIN_PART:
        raise ValidationError.of("origin.part", f"must be in [0, {MAX_ORIGIN_PART}]")
    if events > MAX_ORIGIN_ITEM + 1:
        raise ValidationError.of(
            "origin", f"a request with an origin may make at most {MAX_ORIGIN_ITEM + 1} events"
        )


def _metric_rows(
    run_id: str,
    rows: Sequence[tuple[str, float, int, int]],
    field: str,
    contexts: Sequence[Mapping[str, str]] = (),
) -> tuple[list[Chunk], list[FieldProblem]]:
    """Row-form metrics as one chunk per context; bad rows refused and named."""
    if not rows:
        return [], []
    problems: list[FieldProblem] = []
    groups: dict[Context, tuple[list[str], list[float], list[int], list[int]]] = {}
    for i, (key, value, timestamp, step) in enumerate(rows):
        if (p := key_problem(key)) is not None:
            problems.append(FieldProblem(f"{field}[{i}].key", p))
            continue
        if (p := int_problem(timestamp, non_negative=True)) is not None:
            problems.append(FieldProblem(f"{field}[{i}].timestamp", p))
            continue
        ctx: Context = ()
        if i < len(contexts) and contexts[i]:
            ctx, found = problems_of(contexts[i], f"{field}[{i}].context")
            if found:
                problems += found
                continue
        keys, values, steps, stamps = groups.setdefault(ctx, ([], [], [], []))
        keys.append(key)
        values.append(value)
        steps.append(step)
        stamps.append(timestamp)
    chunks = []
    for ctx, (keys, values, steps, stamps) in groups.items():
        chunks += rows_chunk(run_id, keys, values, steps, stamps, ctx)
    return chunks, problems
