"""``RunstreamClient``: the write side of MLflow's ``MlflowClient``, non-blocking.

Every call validates its input, appends to the producer's buffer and returns; the sender
thread publishes.  ``flush()`` waits for the acknowledgement and returns the write token.
Bad items are refused with a :class:`~runstream.producer.errors.ValidationError` naming the
field; the good items of the same call are accepted and not lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from time import time_ns as _time_ns
from typing import Any

import numpy as np

from runstream.proto import events as ev
from runstream.proto.errors import echo
from runstream.proto.tokens import WriteToken

from . import commands
from . import system_tags as st
from .columns import Chunk
from .contexts import call_context, process_context
from .entities import Metric, Param, RunInfo, RunTag
from .errors import FieldProblem, ValidationError
from .ids import now_ms
from .pipeline import Pipeline
from .sender import SenderStats
from .settings import ProducerSettings
from .transport import Transport
from .validation import (
    _valid_keys,  # the cache of keys already checked
    check_columns,
    check_id,
    check_key,
    check_metric_value,
    check_step,
    check_timestamp,
    key_problem,
    metric_value_problem,
)

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)


class RunstreamClient:
    """Writes experiments, runs, params, tags and metrics.

    ``uri``: ``kafka://host:port[,host:port]`` (straight to Kafka) or ``grpc://host:port``
    (through the gateway); default ``RUNSTREAM_URI``, else ``kafka://127.0.0.1:9092``.
    Other keyword arguments override :class:`ProducerSettings` fields
    (``spool_dir=``, ``buffer_policy=``, ``topic=``...).
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        settings: ProducerSettings | None = None,
        transport: Transport | None = None,
        **overrides: Any,
    ) -> None:
        if settings is None:
            settings = ProducerSettings.from_env(uri=uri, **overrides)
        else:
            settings = settings.with_overrides(uri=uri, **overrides)
        self.settings = settings
        self._pipeline = Pipeline(settings, transport)
        self._put_row = self._pipeline.put_row
        self._runs = self._pipeline.runs
        self._params: dict[str, dict[str, str]] = {}
        self._context = process_context() if settings.process_context else ()

    # -- identity -------------------------------------------------------------------------

    @property
    def producer_id(self) -> str:
        return self._pipeline.producer_id

    @property
    def context(self) -> tuple[tuple[str, str], ...]:
        """The context every point of this process carries (rank, node from the launcher's
        variables; empty for a plain single process)."""
        return self._context

    @property
    def uri(self) -> str:
        return self.settings.uri

    @property
    def last_token(self) -> WriteToken:
        """The write token of everything acknowledged so far (no waiting)."""
        return self._pipeline.token

    # -- experiments ----------------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, Any] | None = None,
        experiment_id: str | None = None,
    ) -> str:
        """Create (or re-announce) an experiment; returns its id, derived from the name
        unless given, so every process naming it agrees.  Ingest keeps the first creation."""
        command = commands.create_experiment(name, artifact_location, tags, experiment_id)
        self._experiment_event(command)
        return command.experiment_id

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._experiment_event(commands.rename_experiment(experiment_id, new_name))

    def delete_experiment(self, experiment_id: str) -> None:
        self._experiment_event(commands.delete_experiment(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self._experiment_event(commands.restore_experiment(experiment_id))

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self._experiment_event(commands.set_experiment_tag(experiment_id, key, value))

    def _experiment_event(self, command: commands.ExperimentCommand) -> None:
        self._pipeline.put_event("", command.experiment_id, command.payload)

    # -- runs -----------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str | None = None,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
        user_id: str | None = None,
    ) -> RunInfo:
        """Start a run (status RUNNING) with MLflow's system tags; returns its info."""
        new = commands.create_run(
            experiment_id,
            run_name,
            user_id,
            start_time,
            tags,
            parent_run_id,
            run_id,
            process_tags=st.system_tags(),
        )
        info = new.info
        self._pipeline.register_run(info.run_id, info.experiment_id)
        self._pipeline.put_event(info.run_id, info.experiment_id, new.payload)
        return info

    def join_run(self, run_id: str, experiment_id: str | None = None) -> RunInfo:
        """Log into a run another process created (no event is published)."""
        rid = check_id(run_id, "run_id")
        eid = check_id(experiment_id, "experiment_id") if experiment_id else ""
        self._pipeline.register_run(rid, eid)
        return RunInfo(rid, eid or self._pipeline.experiment_of(rid), joined=True)

    def set_terminated(
        self, run_id: str, status: str = "FINISHED", end_time: int | None = None
    ) -> None:
        ended = now_ms() if end_time is None else end_time
        self._run_command(commands.update_run(run_id, status=status, end_time=ended))

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        """A new status and/or name (a new name is also the ``mlflow.runName`` tag)."""
        self._run_command(commands.update_run(run_id, status=status, run_name=name))

    def delete_run(self, run_id: str) -> None:
        self._run_command(commands.delete_run(run_id))

    def restore_run(self, run_id: str) -> None:
        self._run_command(commands.restore_run(run_id))

    def _known(self, run_id: str) -> str:
        if not self._pipeline.knows_run(run_id):
            check_id(run_id, "run_id")
            self._pipeline.register_run(run_id, "")
        return run_id

    def _run_command(self, command: commands.RunCommand) -> None:
        for payload in command.payloads:
            self._run_event(command.run_id, payload)

    def _run_event(self, run_id: str, payload: ev.Payload) -> None:
        self._known(run_id)
        self._pipeline.put_event(run_id, self._pipeline.experiment_of(run_id), payload)

    # -- params and tags ------------------------------------------------------------------

    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        """Log one param (write-once: another value for the same key is refused)."""
        built = commands.log_params([(key, value)], "param")
        if built.problems:
            raise ValidationError(_single(built.problems))
        self._log_params(run_id, built.payload, ["value"])
        return value

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        items = list(params.items())
        built = commands.log_params(items, "params")
        problems = [_named(p, items) for p in built.problems]
        keys = built.payload.keys if built.payload else ()
        fields = [f"params[{echo(k)}].value" for k in keys]
        self._log_params(run_id, built.payload, fields, problems)

    def _log_params(
        self,
        run_id: str,
        built: ev.ParamsLogged | None,
        fields: Sequence[str],
        problems: list[FieldProblem] | None = None,
    ) -> None:
        """Publish the params not yet logged in this process (write-once per run)."""
        problems = list(problems or [])
        self._known(run_id)
        logged = self._params.setdefault(run_id, {})
        new_keys: list[str] = []
        new_values: list[str] = []
        pairs = zip(built.keys, built.values, strict=True) if built else ()
        for (key, value), field in zip(pairs, fields, strict=True):
            old = logged.get(key)
            if old is None:
                logged[key] = value
                new_keys.append(key)
                new_values.append(value)
            elif old != value:
                problems.append(
                    FieldProblem(
                        field,
                        f"param {echo(key)} was already logged with value {echo(old)}; "
                        f"params are write-once (got {echo(value)})",
                    )
                )
        if new_keys:
            self._run_event(run_id, ev.ParamsLogged(tuple(new_keys), tuple(new_values)))
        if problems:
            raise ValidationError(problems, accepted=len(new_keys))

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        built = commands.set_tags([(key, value)], "tag")
        if built.problems:
            raise ValidationError(_single(built.problems))
        assert built.payload is not None
        self._run_event(run_id, built.payload)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        items = list(tags.items())
        built = commands.set_tags(items, "tags")
        if built.payload is not None:
            self._run_event(run_id, built.payload)
        if built.problems:
            problems = [_named(p, items) for p in built.problems]
            accepted = len(built.payload.keys) if built.payload else 0
            raise ValidationError(problems, accepted=accepted)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._run_command(commands.delete_tag(run_id, key))

    # -- metrics --------------------------------------------------------------------------

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: Any,
        timestamp: int | None = None,
        step: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """One point; NaN and ±inf are valid values.  Returns at once (buffered).
        ``context``: dimensions of the point (``rank``, ``node``, ``device``, free string
        pairs; at most 8 with the process's own), on top of the process context."""
        # The hot path of a training loop: the common cases are checked inline.
        if type(key) is not str or key not in _valid_keys:
            check_key(key)
        if type(value) is not float:
            value = check_metric_value(value)
        if step is None:
            step = 0
        elif type(step) is not int or not _INT64_MIN <= step <= _INT64_MAX:
            step = check_step(step)
        timestamp = _time_ns() // 1_000_000 if timestamp is None else check_timestamp(timestamp)
        ctx = self._context if context is None else call_context(self._context, context)
        if run_id not in self._runs:
            self._known(run_id)
        self._put_row(run_id, key, value, step, timestamp, ctx)

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, Any],
        step: int | None = None,
        timestamp: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        ctx = call_context(self._context, context)
        step = 0 if step is None else check_step(step)
        timestamp = now_ms() if timestamp is None else check_timestamp(timestamp)
        self._known(run_id)
        problems: list[FieldProblem] = []
        accepted = 0
        for key, value in metrics.items():
            if (p := key_problem(key)) is not None:
                problems.append(FieldProblem(f"metrics[{echo(key)}]", f"key {p}"))
                continue
            if type(value) is not float and (p := metric_value_problem(value)) is not None:
                problems.append(FieldProblem(f"metrics[{echo(key)}]", f"value {p}"))
                continue
            self._put_row(run_id, key, float(value), step, timestamp, ctx)
            accepted += 1
        if problems:
            raise ValidationError(problems, accepted=accepted)

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric | Any] = (),
        params: Iterable[Param | Any] = (),
        tags: Iterable[RunTag | Any] = (),
    ) -> None:
        """MLflow's ``log_batch``: objects with ``key``/``value`` (and ``timestamp``,
        ``step``, optionally ``context`` for metrics).  Refused items are named; the others
        are accepted."""
        self._known(run_id)
        problems: list[FieldProblem] = []
        accepted = 0
        now = now_ms()
        for i, metric in enumerate(metrics):
            try:
                key = check_key(getattr(metric, "key", None), f"metrics[{i}].key")
                value = check_metric_value(getattr(metric, "value", None), f"metrics[{i}].value")
                stamp = getattr(metric, "timestamp", None)
                ts = now if stamp is None else check_timestamp(stamp, f"metrics[{i}].timestamp")
                step = check_step(getattr(metric, "step", 0) or 0, f"metrics[{i}].step")
                own = getattr(metric, "context", None)
                ctx = call_context(self._context, own, f"metrics[{i}].context")
            except ValidationError as exc:
                problems += exc.problems
                continue
            self._put_row(run_id, key, value, step, ts, ctx)
            accepted += 1
        pairs = [(getattr(p, "key", None), getattr(p, "value", None)) for p in params]
        if pairs:
            try:
                self._log_params_checked(run_id, pairs)
                accepted += len(pairs)
            except ValidationError as exc:
                problems += exc.problems
                accepted += exc.accepted
        tag_pairs = [(getattr(t, "key", None), getattr(t, "value", None)) for t in tags]
        built_tags = commands.set_tags(tag_pairs, "tags")
        if built_tags.payload is not None:
            self._run_event(run_id, built_tags.payload)
            accepted += len(built_tags.payload.keys)
        problems += built_tags.problems
        if problems:
            raise ValidationError(problems, accepted=accepted)

    def _log_params_checked(self, run_id: str, pairs: list[tuple[Any, Any]]) -> None:
        built = commands.log_params(pairs, "params")
        index = {k: i for i, (k, _) in enumerate(pairs) if isinstance(k, str)}
        keys = built.payload.keys if built.payload else ()
        fields = [f"params[{index[k]}].value" for k in keys]
        self._log_params(run_id, built.payload, fields, list(built.problems))

    def log_metric_columns(
        self,
        run_id: str,
        keys: str | Sequence[str] | np.ndarray,
        values: Any,
        steps: Any = None,
        timestamps: Any = None,
        *,
        key_index: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Many points at once, in columns (numpy arrays): the fast path.

        ``keys`` is one key for every point, or one key per point, or — with
        ``key_index`` — the table of keys that ``key_index`` indexes.  ``steps`` default
        to 0, ``timestamps`` to now.  Points with a bad key or a negative timestamp are
        refused (named in the error); the others are accepted.  ``context``: of every point.
        """
        ctx = call_context(self._context, context)
        self._known(run_id)
        vals = np.asarray(values)
        n = vals.shape[0] if vals.ndim == 1 else -1
        if isinstance(keys, str):
            table: tuple[str, ...] = (keys,)
            index: Any = np.zeros(max(n, 0), dtype=np.uint16)
        elif key_index is not None:
            table, index = tuple(keys), key_index
        else:
            per_point = np.asarray(keys)
            if per_point.ndim != 1 or per_point.shape[0] != n:
                raise ValidationError.of(
                    "keys", "must be one key, or one key per value (same length as values)"
                )
            uniques, inverse = np.unique(per_point, return_inverse=True)
            table, index = tuple(str(k) for k in uniques), inverse
        if steps is None:
            steps = np.zeros(max(n, 0), dtype=np.int64)
        if timestamps is None:
            timestamps = np.full(max(n, 0), now_ms(), dtype=np.int64)
        checked = check_columns(table, index, vals, steps, timestamps, field="columns")
        if len(checked):
            self._pipeline.put_chunk(
                Chunk(
                    run_id,
                    checked.keys,
                    checked.key_index,
                    checked.values,
                    checked.steps,
                    checked.timestamps,
                    ctx,
                )
            )
        if checked.problems:
            raise ValidationError(checked.problems, accepted=len(checked))

    def start_system_metrics(self, run_id: str, interval_s: float | None = None) -> Any:
        """Start a :class:`~runstream.producer.system_metrics.SystemMetricsCollector` that
        logs ``system/...`` metrics into ``run_id`` every ``interval_s`` (default
        ``RUNSTREAM_SYSTEM_METRICS_INTERVAL``, 10 s); ``stop()`` it when done."""
        from .system_metrics import for_client

        return for_client(self, self._known(run_id), interval_s).start()

    # -- delivery -------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> WriteToken:
        """Block until everything logged so far is acknowledged (or, with a spool, on
        disk); returns the write token.  ``timeout`` defaults to ``RUNSTREAM_FLUSH_TIMEOUT``."""
        return self._pipeline.flush(timeout)

    def stats(self) -> SenderStats:
        """The sender's counters: cycles, events published/spooled, time building and
        delivering."""
        return self._pipeline.stats()

    @property
    def spool_pending(self) -> bool:
        """Whether events wait in this producer's spool for the broker."""
        return self._pipeline.spool_pending

    def close(self, timeout: float | None = None) -> None:
        """Flush and release the connection; idempotent.  Also runs at interpreter exit."""
        self._pipeline.close(timeout)

    @property
    def closed(self) -> bool:
        return self._pipeline.closed

    def __enter__(self) -> RunstreamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _single(problems: Sequence[FieldProblem]) -> list[FieldProblem]:
    """Field names of a one-item call: ``key``/``value`` rather than ``param[0].key``."""
    return [FieldProblem(p.field.split("].", 1)[-1], p.problem) for p in problems]


def _named(problem: FieldProblem, items: Sequence[tuple[Any, Any]]) -> FieldProblem:
    """``params[2].value`` -> ``params['lr'].value`` for dict arguments."""
    head, sep, rest = problem.field.partition("[")
    number, _, tail = rest.partition("]")
    if sep and number.isdigit() and int(number) < len(items):
        return FieldProblem(f"{head}[{echo(items[int(number)][0])}]{tail}", problem.problem)
    return problem
