"""The projection: events of one partition batch -> table rows.  Pure: no I/O.

:func:`project` takes the records of offsets [first, end) in order and the partition's
cached state (already filled with every run and experiment the batch names), and
returns a :class:`~.batch.PartitionBatch`: the rows per table, the dead letters and the
state changes.  Rules (``docs/ingest.md``, "Projection"):

* experiment and run events merge into the entity's full state; ``version`` is the
  offset of the last event applied; an event at or below the stored version was
  applied before and is skipped (replay is idempotent);
* an event whose ``seq`` is at or below the last one applied from its producer in this
  partition is a resend and is dropped (counted in ``duplicates``); the last seq per
  producer is written with the batch (``ingest_producers``), so restarts keep it;
* params are write-once: the same value again is fine, another value is poison, and only
  the conflicting params are dead-lettered (an event holding just them); the other params
  of the event are applied;
* tags are versioned by offset, a delete writes ``is_deleted = 1``;
* a param, tag or metric event for a run never created is poison, and so is an event
  whose ``experiment_id`` header is not the run's experiment;
* a param, tag, metric or update event for a deleted run is poison (``run-deleted``), as
  MLflow refuses writes to a run that is not active.
* every decoded event leaves one ``audit_events`` row (but one skipped as applied
  before, or a resend of one: its row was written then): its principal (the header the
  gateway stamps), what it was, and ``applied`` or the dead-letter reason; a created
  experiment or run records its creator in ``created_by``;
* registry events go to :mod:`.registry_projection` (outcomes, never poison), logged-model
  events and a run's inputs, outputs and model metrics to :mod:`.logged_model_projection`;
* a tombstone (``RunPurged``, ``ExperimentPurged``) writes a ``purges`` row and asks the
  sink to delete every row of the run or experiment (:mod:`.purge`); every later event of
  a purged run or experiment is dropped and counted (``purged``), with no audit row and no
  dead letter (its data must not be copied anywhere).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from runstream.proto import events as ev
from runstream.proto.codec import EventCodec
from runstream.proto.vocabulary import ACTIVE, AUDIT_APPLIED, DELETED, RUN_STATUSES

from .batch import PartitionBatch, TableData
from .logged_model_projection import RUN_IO_PAYLOADS, LoggedModelProjector
from .metric_columns import MetricAccumulator
from .model_state import ModelDelta
from .purge import EXPERIMENT, PURGE_COLUMNS, RUN, Purge
from .records import DeadLetter, Poison, PoisonReason, Refused, SourceRecord
from .registry_projection import RegistryProjector
from .state import (
    EXPERIMENT_COLUMNS,
    RUN_COLUMNS,
    ExperimentState,
    PartitionState,
    RunState,
    StateDelta,
)

APPLIED = AUDIT_APPLIED  # audit_events.outcome of an event the projection took
AUDIT_COLUMNS = (
    "topic", "partition", "offset", "event_id", "principal", "producer_id", "event_type",
    "experiment_id", "run_id", "client_ts", "items", "outcome",
)  # fmt: skip
TAG_COLUMNS = ("experiment_id", "run_id", "key", "value", "version", "is_deleted")
EXPERIMENT_TAG_COLUMNS = ("experiment_id", "key", "value", "version", "is_deleted")
PARAM_COLUMNS = ("experiment_id", "run_id", "key", "value")
PRODUCER_COLUMNS = ("topic", "partition", "producer_id", "seq", "offset")

_codec = EventCodec()


_Refused = Refused


def project(
    topic: str,
    partition: int,
    first: int,
    end: int,
    records: Iterable[SourceRecord],
    state: PartitionState,
) -> PartitionBatch:
    """Rows for the records of offsets [first, end) of one partition (in offset order)."""
    return _BatchProjector(state).run(topic, partition, first, end, records)


class _BatchProjector:
    def __init__(self, state: PartitionState) -> None:
        self._state = state
        self._runs: dict[str, RunState] = {}
        self._experiments: dict[str, ExperimentState] = {}
        self._params: dict[str, dict[str, str]] = {}
        self._param_rows: dict[tuple[str, str], tuple[str, str, str, str]] = {}
        self._tags: dict[tuple[str, str], tuple[str, str, str, str, int, int]] = {}
        self._experiment_tags: dict[tuple[str, str], tuple[str, str, str, int, int]] = {}
        self._metrics = MetricAccumulator()
        self._audit: list[tuple[object, ...]] = []
        self._registry = RegistryProjector(state.models)
        self._logged = LoggedModelProjector(state.models)
        self._dead: list[DeadLetter] = []
        self._partial: list[tuple[Poison, ev.RunEvent]] = []  # refused parts of an event
        self._producers: dict[str, tuple[int, int]] = {}  # producer id -> (seq, offset)
        self._events = 0
        self._skipped = 0
        self._duplicates = 0
        self._purges: dict[tuple[str, str], Purge] = {}  # the newest per (kind, id)
        self._purge_rows: list[Purge] = []  # every purge and lift, in log order
        self._purged_events = 0
        self._topic, self._partition = "", 0

    def run(
        self, topic: str, partition: int, first: int, end: int, records: Iterable[SourceRecord]
    ) -> PartitionBatch:
        self._topic, self._partition = topic, partition
        for record in records:
            if not first <= record.offset < end:
                raise ValueError(f"offset {record.offset} outside the batch [{first}, {end})")
            if record.event is None:
                poison = record.poison or Poison(PoisonReason.DECODE_ERROR, "no event")
                self._dead.append(DeadLetter(record, poison))
                continue
            if self._resent(record.offset, record.event):
                self._duplicates += 1
                continue
            if self._of_purged(record.event):
                self._purged_events += 1
                continue
            outcome = APPLIED
            skipped = self._skipped + self._logged.skipped
            try:
                if record.key != record.event.kafka_key:
                    raise _Refused(
                        PoisonReason.INVALID_EVENT,
                        f"record key {record.key!r} is not the event's key "
                        f"{record.event.kafka_key!r}",
                    )
                self._apply(record.offset, record.event)
                self._events += 1
                if isinstance(record.event.payload, ev.REGISTRY_PAYLOADS):
                    outcome = self._registry.last_outcome or APPLIED  # a refusal's code
            except _Refused as refused:
                self._dead.append(DeadLetter(record, refused.poison))
                outcome = refused.poison.reason.value
            for poison, part in self._partial:
                part_record = replace(record, value=_codec.encode(part), event=part)
                self._dead.append(DeadLetter(part_record, poison))
            self._partial.clear()
            if self._skipped + self._logged.skipped == skipped:  # audited when applied
                self._audit.append(_audit_row(record, record.event, outcome))
        return PartitionBatch(
            topic=topic,
            partition=partition,
            first=first,
            end=end,
            tables=self._tables(),
            dead_letters=tuple(self._dead),
            events=self._events,
            points=self._metrics.points,
            skipped=self._skipped + self._logged.skipped,
            duplicates=self._duplicates,
            purged=self._purged_events,
            purges=tuple(p for p in self._purge_rows if not p.lifted),
            state=StateDelta(
                dict(self._runs),
                self._params,
                dict(self._experiments),
                {p: seq for p, (seq, _) in self._producers.items()},
                models=ModelDelta(self._registry.delta(), self._logged.delta()),
                purged={k: not p.lifted for k, p in self._purges.items()},
            ),
        )

    def _resent(self, offset: int, event: ev.RunEvent) -> bool:
        """Whether ``event`` was applied before (its producer's seq went past it here);
        otherwise its seq becomes the producer's last."""
        producer = event.producer_id
        if not producer:
            return False
        mine = self._producers.get(producer)
        last = mine[0] if mine is not None else self._state.last_seq(producer)
        if event.seq <= last:
            return True
        self._producers[producer] = (event.seq, offset)
        return False

    # -- lookups through this batch's changes ---------------------------------------------

    def _run(self, run_id: str) -> RunState | None:
        if (RUN, run_id) in self._purges:
            return None
        return self._runs.get(run_id) or self._state.run(run_id)

    def _is_purged(self, kind: str, entity_id: str) -> bool:
        mine = self._purges.get((kind, entity_id))
        if mine is not None:
            return not mine.lifted
        return self._state.is_purged(kind, entity_id)

    def _of_purged(self, event: ev.RunEvent) -> bool:
        """Whether ``event`` belongs to a purged run, or is a purged experiment's own event
        (tombstones never are: applying one again deletes again, which is harmless; nor an
        ExperimentCreated, which starts the name over).  A run's events are not judged by
        its experiment: its own tombstone precedes them in its partition, and a run of a
        later experiment of the same name must not be lost to another partition's lag."""
        p = event.payload
        if isinstance(p, (*ev.PURGE_PAYLOADS, ev.ExperimentCreated)):
            return False
        if event.run_id:
            return self._is_purged(RUN, event.run_id)
        if isinstance(p, ev.EXPERIMENT_PAYLOADS):
            return self._is_purged(EXPERIMENT, event.experiment_id)
        return False

    def _experiment(self, experiment_id: str) -> ExperimentState | None:
        if (EXPERIMENT, experiment_id) in self._purges:  # purged (or created again) here
            return self._experiments.get(experiment_id)
        return self._experiments.get(experiment_id) or self._state.experiments.get(experiment_id)

    def _param(self, run_id: str, key: str) -> str | None:
        batch = self._params.get(run_id)
        if batch is not None and key in batch:
            return batch[key]
        return self._state.params(run_id).get(key)

    # -- dispatch ---------------------------------------------------------------------------

    def _apply(self, offset: int, event: ev.RunEvent) -> None:
        p = event.payload
        if isinstance(p, ev.PURGE_PAYLOADS):
            self._purge(offset, event)
        elif isinstance(p, ev.REGISTRY_PAYLOADS):
            self._registry.apply(offset, event)
        elif isinstance(p, ev.LOGGED_MODEL_PAYLOADS):
            self._logged.apply(offset, event)
        elif isinstance(p, ev.EXPERIMENT_PAYLOADS):
            self._apply_experiment(offset, event)
        elif isinstance(p, ev.RunCreated | ev.RunUpdated | ev.RunDeleted | ev.RunRestored):
            self._apply_run(offset, event)
        else:
            run = self._existing_run(event, active=True)
            if isinstance(p, ev.MetricsLogged):
                self._metrics.add(run.run_id, run.experiment_id, p)
            elif isinstance(p, ev.ParamsLogged):
                self._log_params(run, event)
            elif isinstance(p, ev.TagsSet):
                _same_length(p.keys, p.values, "tag")
                for k, v in zip(p.keys, p.values, strict=True):
                    self._tags[(run.run_id, k)] = (run.experiment_id, run.run_id, k, v, offset, 0)
            elif isinstance(p, ev.TagDeleted):
                self._tags[(run.run_id, p.key)] = (
                    run.experiment_id,
                    run.run_id,
                    p.key,
                    "",
                    offset,
                    1,
                )
            elif isinstance(p, RUN_IO_PAYLOADS):
                self._logged.apply_run_io(offset, run.run_id, run.experiment_id, p)
            else:  # pragma: no cover - every payload type is handled above
                raise _Refused(PoisonReason.INVALID_EVENT, f"unhandled payload {type(p).__name__}")

    def _existing_run(self, event: ev.RunEvent, *, active: bool = False) -> RunState:
        if not event.run_id:
            raise _Refused(PoisonReason.INVALID_EVENT, "run event without a run id")
        run = self._run(event.run_id)
        if run is None:
            raise _Refused(PoisonReason.RUN_NOT_FOUND, f"run {event.run_id} was never created")
        if event.experiment_id and event.experiment_id != run.experiment_id:
            raise _Refused(
                PoisonReason.EXPERIMENT_MISMATCH,
                f"event names experiment {event.experiment_id!r}, run {run.run_id} belongs "
                f"to experiment {run.experiment_id!r}",
            )
        if active and run.lifecycle_stage == DELETED:
            raise _Refused(
                PoisonReason.RUN_DELETED,
                f"run {run.run_id} is deleted: a {type(event.payload).__name__} needs an "
                "active run",
            )
        return run

    # -- tombstones ----------------------------------------------------------------------------

    def _purge(self, offset: int, event: ev.RunEvent) -> None:
        p = event.payload
        assert isinstance(p, ev.RunPurged | ev.ExperimentPurged)
        kind, entity_id = (
            (RUN, event.run_id)
            if isinstance(p, ev.RunPurged)
            else (EXPERIMENT, event.experiment_id)
        )
        if not entity_id:
            raise _Refused(PoisonReason.INVALID_EVENT, f"{type(p).__name__} without a {kind} id")
        if kind == RUN:
            run = self._run(entity_id)
            experiment_id = run.experiment_id if run is not None else event.experiment_id
            known = run is not None
            self._runs.pop(entity_id, None)
            self._params.pop(entity_id, None)
        else:
            experiment_id, known = entity_id, self._experiment(entity_id) is not None
            self._experiments.pop(entity_id, None)
        if not known and not self._is_purged(kind, entity_id):
            reason = (
                PoisonReason.RUN_NOT_FOUND if kind == RUN else PoisonReason.EXPERIMENT_NOT_FOUND
            )
            raise _Refused(reason, f"{kind} {entity_id} was never created")
        self._record_purge(Purge(
            kind, entity_id, experiment_id, self._topic, self._partition, offset,
            event.client_ts, event.principal, p.reason,
        ))  # fmt: skip

    def _record_purge(self, purge: Purge) -> None:
        self._purges[(purge.kind, purge.id)] = purge
        self._purge_rows.append(purge)

    # -- experiments -------------------------------------------------------------------------

    def _apply_experiment(self, offset: int, event: ev.RunEvent) -> None:
        p = event.payload
        exp_id = event.experiment_id
        if not exp_id:
            raise _Refused(PoisonReason.INVALID_EVENT, "experiment event without an experiment id")
        current = self._experiment(exp_id)
        if current is not None and offset <= current.version and not _is_seed(current):
            self._skipped += 1
            return
        if isinstance(p, ev.ExperimentCreated):
            if current is not None:
                raise _Refused(PoisonReason.EXPERIMENT_EXISTS, f"experiment {exp_id} exists")
            if not p.name:
                raise _Refused(PoisonReason.INVALID_EVENT, "experiment name is empty")
            self._experiments[exp_id] = ExperimentState(
                exp_id,
                p.name,
                p.artifact_location,
                ACTIVE,
                event.client_ts,
                event.client_ts,
                offset,
                created_by=event.principal,
            )
            for k, v in p.tags.items():
                self._experiment_tags[(exp_id, k)] = (exp_id, k, v, offset, 0)
            if self._is_purged(EXPERIMENT, exp_id):  # the name starts over: lift the purge
                self._record_purge(Purge(
                    EXPERIMENT, exp_id, exp_id, self._topic, self._partition, offset,
                    event.client_ts, event.principal, "created again", lifted=1,
                ))  # fmt: skip
            return
        if current is None:
            raise _Refused(
                PoisonReason.EXPERIMENT_NOT_FOUND, f"experiment {exp_id} was never created"
            )
        updated = replace(current, last_update_time=event.client_ts, version=offset)
        if isinstance(p, ev.ExperimentRenamed):
            if not p.name:
                raise _Refused(PoisonReason.INVALID_EVENT, "experiment name is empty")
            updated = replace(updated, name=p.name)
        elif isinstance(p, ev.ExperimentDeleted):
            updated = replace(updated, lifecycle_stage=DELETED)
        elif isinstance(p, ev.ExperimentRestored):
            updated = replace(updated, lifecycle_stage=ACTIVE)
        elif isinstance(p, ev.ExperimentTagSet):
            self._experiment_tags[(exp_id, p.key)] = (exp_id, p.key, p.value, offset, 0)
        elif isinstance(p, ev.ExperimentTagDeleted):
            self._experiment_tags[(exp_id, p.key)] = (exp_id, p.key, "", offset, 1)
        self._experiments[exp_id] = updated

    # -- runs ----------------------------------------------------------------------------------

    def _apply_run(self, offset: int, event: ev.RunEvent) -> None:
        p = event.payload
        if not event.run_id:
            raise _Refused(PoisonReason.INVALID_EVENT, "run event without a run id")
        current = self._run(event.run_id)
        if current is not None and offset <= current.version:
            self._skipped += 1
            return
        if isinstance(p, ev.RunCreated):
            if current is not None:
                raise _Refused(PoisonReason.RUN_EXISTS, f"run {event.run_id} exists")
            if not event.experiment_id:
                raise _Refused(PoisonReason.INVALID_EVENT, "RunCreated without an experiment id")
            _check_status(p.status)
            self._runs[event.run_id] = RunState(
                run_id=event.run_id, experiment_id=event.experiment_id, run_name=p.run_name,
                user_id=p.user_id, status=p.status, start_time=p.start_time, end_time=None,
                artifact_uri=p.artifact_uri, lifecycle_stage=ACTIVE,
                parent_run_id=p.parent_run_id, deleted_time=None, version=offset,
                created_by=event.principal,
            )  # fmt: skip
            for k, v in p.tags.items():
                self._tags[(event.run_id, k)] = (event.experiment_id, event.run_id, k, v, offset, 0)
            return
        run = self._existing_run(event, active=isinstance(p, ev.RunUpdated))
        updated = replace(run, version=offset)
        if isinstance(p, ev.RunUpdated):
            if p.status is not None:
                _check_status(p.status)
                updated = replace(updated, status=p.status)
            if p.end_time is not None:
                updated = replace(updated, end_time=p.end_time)
            if p.run_name is not None:
                updated = replace(updated, run_name=p.run_name)
        elif isinstance(p, ev.RunDeleted):
            deleted_time = p.deleted_time or event.client_ts
            updated = replace(updated, lifecycle_stage=DELETED, deleted_time=deleted_time)
        elif isinstance(p, ev.RunRestored):
            updated = replace(updated, lifecycle_stage=ACTIVE, deleted_time=None)
        self._runs[run.run_id] = updated

    def _log_params(self, run: RunState, event: ev.RunEvent) -> None:
        p = event.payload
        assert isinstance(p, ev.ParamsLogged)
        _same_length(p.keys, p.values, "param")
        seen: dict[str, str] = {}
        conflicts: list[tuple[str, str, str]] = []
        for k, v in zip(p.keys, p.values, strict=True):
            old = seen.get(k)
            if old is None:
                old = self._param(run.run_id, k)
            if old is not None and old != v:
                conflicts.append((k, old, v))
                continue
            seen[k] = v
        if conflicts:
            detail = "; ".join(
                f"param {k!r} of run {run.run_id} is {old[:100]!r}, event logs {v[:100]!r}"
                for k, old, v in conflicts
            )
            refused = ev.ParamsLogged(
                tuple(k for k, _, _ in conflicts), tuple(v for _, _, v in conflicts)
            )
            self._partial.append(
                (Poison(PoisonReason.PARAM_CONFLICT, detail), replace(event, payload=refused))
            )
        batch = self._params.setdefault(run.run_id, {})
        for k, v in seen.items():
            batch[k] = v
            self._param_rows[(run.run_id, k)] = (run.experiment_id, run.run_id, k, v)

    # -- output ---------------------------------------------------------------------------------

    def _tables(self) -> tuple[TableData, ...]:
        tables = list(self._metrics.tables())
        tables.append(_rows("params", PARAM_COLUMNS, self._param_rows.values()))
        tables.append(_rows("tags", TAG_COLUMNS, self._tags.values()))
        tables.append(
            _rows("experiment_tags", EXPERIMENT_TAG_COLUMNS, self._experiment_tags.values())
        )
        tables.append(_rows("purges", PURGE_COLUMNS, (p.row() for p in self._purge_rows)))
        tables.append(_rows("audit_events", AUDIT_COLUMNS, self._audit))
        tables.append(
            _rows("experiments", EXPERIMENT_COLUMNS, (e.row() for e in self._experiments.values()))
        )
        tables.append(_rows("runs", RUN_COLUMNS, (r.row() for r in self._runs.values())))
        tables.append(
            _rows(
                "ingest_producers",
                PRODUCER_COLUMNS,
                (
                    (self._topic, self._partition, producer, seq, offset)
                    for producer, (seq, offset) in self._producers.items()
                ),
            )
        )
        tables += self._registry.tables()
        tables += self._logged.tables()
        return tuple(t for t in tables if t.rows)


def _rows(table: str, columns: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> TableData:
    materialised = list(rows)
    data = [list(col) for col in zip(*materialised, strict=True)] if materialised else []
    return TableData(table, columns, data, len(materialised))


def _items(payload: ev.Payload) -> int:
    """How many things an event carries: points, params or tags; 1 for the rest."""
    if isinstance(payload, ev.MetricsLogged):
        return len(payload)
    if isinstance(payload, ev.ParamsLogged | ev.TagsSet):
        return len(payload.keys)
    if isinstance(payload, ev.ModelMetricsLogged):
        return len(payload.points)
    if isinstance(payload, ev.InputsLogged):
        return len(payload.datasets) + len(payload.model_ids)
    if isinstance(payload, ev.OutputsLogged):
        return len(payload.model_ids)
    return 1


def _audit_row(record: SourceRecord, event: ev.RunEvent, outcome: str) -> tuple[object, ...]:
    return (
        record.topic, record.partition, record.offset, event.event_id, event.principal,
        event.producer_id, type(event.payload).__name__, event.experiment_id, event.run_id,
        event.client_ts, _items(event.payload), outcome,
    )  # fmt: skip


def _same_length(keys: tuple[str, ...], values: tuple[str, ...], what: str) -> None:
    if len(keys) != len(values):
        raise _Refused(
            PoisonReason.INVALID_EVENT, f"{len(keys)} {what} keys but {len(values)} values"
        )


def _check_status(status: str) -> None:
    if status not in RUN_STATUSES:
        raise _Refused(PoisonReason.INVALID_EVENT, f"unknown run status {status!r}")


def _is_seed(experiment: ExperimentState) -> bool:
    """The Default experiment as migration 0001 seeds it (version 0, never updated): it has
    applied no event, so an event at offset 0 of its partition is new, not a repeat (its
    ``version`` 0 would otherwise read as "offset 0 already applied")."""
    return experiment.version == 0 and experiment.last_update_time == 0
