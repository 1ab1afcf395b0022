"""The gateway's logic, free of gRPC: requests (already converted to our types at the edge)
become validated, stamped events, published through a Transport; the answer carries the
write token once Kafka has acknowledged.

One producer identity for the gateway process: events are stamped and handed to Kafka
under one lock, so ``seq`` follows the order of the topic.  Commands are built by the
SDK's builders (``runstream.producer.commands``), so both sides validate and encode a
write alike; bad items of a batch are refused and named, good items of the same request
are published, and then the request fails with INVALID_ARGUMENT.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from runstream.proto import events as ev
from runstream.proto.tokens import WriteToken, merge_all

from .. import commands
from ..columns import Chunk, merge_run_chunks, split_events
from ..entities import RunInfo
from ..errors import FieldProblem, ValidationError
from ..ids import EventStamper, now_ms
from ..transport import PendingWrite, Transport
from ..validation import check_batch_limits, check_columns, check_id, int_problem, key_problem

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True, eq=False)
class ColumnsIn:
    """Columnar points as received (arrays decoded from the packed bytes)."""

    keys: tuple[str, ...]
    key_index: np.ndarray
    values: np.ndarray
    steps: np.ndarray
    timestamps: np.ndarray


@dataclass(frozen=True, slots=True)
class LogBatch:
    """One LogBatch request in our types.  ``metrics`` rows: (key, value, timestamp, step)."""

    run_id: str
    experiment_id: str = ""
    metrics: tuple[tuple[str, float, int, int], ...] = ()
    params: tuple[Pair, ...] = ()
    tags: tuple[Pair, ...] = ()
    columns: ColumnsIn | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    token: WriteToken = field(default_factory=WriteToken)
    events: int = 0
    points: int = 0


class GatewayCore:
    """Validates, stamps and publishes; thread-safe (one instance per gateway)."""

    def __init__(
        self,
        transport: Transport,
        producer_id: str | None = None,
        max_event_bytes: int = 900_000,
        publish_timeout_s: float = 10.0,
    ) -> None:
        self._transport = transport
        self._stamper = EventStamper(producer_id)
        self._lock = threading.Lock()
        self._max_event_bytes = max_event_bytes
        self._timeout = publish_timeout_s

    @property
    def producer_id(self) -> str:
        return self._stamper.producer_id

    # -- publishing -----------------------------------------------------------------------

    def _submit(self, specs: Sequence[tuple[str, str, ev.Payload]]) -> PendingWrite | None:
        if not specs:
            return None
        now = now_ms()
        with self._lock:
            events = [self._stamper.stamp(r, e, p, now) for r, e, p in specs]
            return self._transport.submit(events)

    def _publish(self, specs: Sequence[tuple[str, str, ev.Payload]]) -> WriteToken:
        pending = self._submit(specs)
        return WriteToken() if pending is None else pending.result(self._timeout)

    # -- experiments and runs --------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        artifact_location: str = "",
        tags: Sequence[Pair] = (),
        experiment_id: str = "",
    ) -> tuple[str, WriteToken]:
        command = commands.create_experiment(name, artifact_location, tags, experiment_id)
        return command.experiment_id, self.write(command).token

    def create_run(
        self,
        experiment_id: str = "",
        run_name: str = "",
        user_id: str = "",
        start_time: int | None = None,
        tags: Sequence[Pair] = (),
        parent_run_id: str = "",
        run_id: str = "",
    ) -> tuple[RunInfo, WriteToken]:
        """A run as the request describes it: no system tags of this process are added
        (the caller's host and user are the caller's to say)."""
        new = commands.create_run(
            experiment_id, run_name, user_id, start_time, tags, parent_run_id, run_id
        )
        return new.info, self.write(new.command).token

    def write(self, command: commands.ExperimentCommand | commands.RunCommand) -> WriteResult:
        """Publish a built command; the answer once Kafka acknowledged every event."""
        if isinstance(command, commands.ExperimentCommand):
            specs = [("", command.experiment_id, command.payload)]
        else:
            specs = [(command.run_id, command.experiment_id, p) for p in command.payloads]
        return WriteResult(self._publish(specs), len(specs))

    # -- log batches ----------------------------------------------------------------------

    def _batch_specs(
        self, batch: LogBatch, prefix: str = ""
    ) -> tuple[list[tuple[str, str, ev.Payload]], int, list[FieldProblem]]:
        """Events for a batch's accepted items, its point count, and refused items."""
        check_id(batch.run_id, f"{prefix}run_id")
        if batch.experiment_id:
            check_id(batch.experiment_id, f"{prefix}experiment_id")
        columns = batch.columns
        check_batch_limits(
            len(batch.metrics),
            len(batch.params),
            len(batch.tags),
            0 if columns is None else int(columns.values.shape[0]),
            prefix.rstrip("."),
        )
        run, eid = batch.run_id, batch.experiment_id
        specs: list[tuple[str, str, ev.Payload]] = []
        params = commands.log_params(batch.params, f"{prefix}params")
        if params.payload is not None:
            specs.append((run, eid, params.payload))
        tags = commands.set_tags(batch.tags, f"{prefix}tags")
        if tags.payload is not None:
            specs.append((run, eid, tags.payload))
        problems = [*params.problems, *tags.problems]
        chunks, row_problems = _metric_rows(run, batch.metrics, f"{prefix}metrics")
        problems += row_problems
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
                    )
                )
        points = 0
        for merged in merge_run_chunks(chunks) if chunks else ():
            points += len(merged)
            for payload in split_events(merged, self._max_event_bytes):
                specs.append((run, eid, payload))
        return specs, points, problems

    def log_batch(self, batch: LogBatch) -> WriteResult:
        specs, points, problems = self._batch_specs(batch)
        token = self._publish(specs)
        if problems:
            raise ValidationError(problems, accepted=len(specs))
        return WriteResult(token, len(specs), points)

    def log_stream(self, batches: Iterable[LogBatch]) -> WriteResult:
        """Each batch is validated and handed to Kafka as it arrives; the answer waits
        for every acknowledgement.  A bad batch ends the stream with INVALID_ARGUMENT
        (naming ``requests[i].<field>``) after what came before it is acknowledged."""
        pendings: list[PendingWrite] = []
        events = points = 0
        failure: ValidationError | None = None
        try:
            for i, batch in enumerate(batches):
                specs, n, problems = self._batch_specs(batch, f"requests[{i}].")
                pending = self._submit(specs)
                if pending is not None:
                    pendings.append(pending)
                events += len(specs)
                points += n
                if problems:
                    failure = ValidationError(problems, accepted=events)
                    break
        except ValidationError as exc:
            failure = ValidationError(exc.problems, accepted=events)
        token = merge_all(p.result(self._timeout) for p in pendings)
        if failure is not None:
            raise failure
        return WriteResult(token, events, points)


def _metric_rows(
    run_id: str, rows: Sequence[tuple[str, float, int, int]], field: str
) -> tuple[list[Chunk], list[FieldProblem]]:
    """Row-form metrics as one chunk; bad rows refused and named."""
    if not rows:
        return [], []
    problems: list[FieldProblem] = []
    index: dict[str, int] = {}
    positions: list[int] = []
    values: list[float] = []
    steps: list[int] = []
    stamps: list[int] = []
    for i, (key, value, timestamp, step) in enumerate(rows):
        if (p := key_problem(key)) is not None:
            problems.append(FieldProblem(f"{field}[{i}].key", p))
            continue
        if (p := int_problem(timestamp, non_negative=True)) is not None:
            problems.append(FieldProblem(f"{field}[{i}].timestamp", p))
            continue
        positions.append(index.setdefault(key, len(index)))
        values.append(value)
        steps.append(step)
        stamps.append(timestamp)
    if not positions:
        return [], problems
    chunk = Chunk(
        run_id,
        tuple(index),
        np.array(positions, dtype=np.uint16),
        np.array(values, dtype=np.float64),
        np.array(steps, dtype=np.int64),
        np.array(stamps, dtype=np.int64),
    )
    return [chunk], problems
