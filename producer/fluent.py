"""MLflow-style module-level calls over one process-wide client.

``start_run()`` creates a run (or joins one: ``run_id=`` or ``RUNSTREAM_RUN_ID``) and
returns an :class:`ActiveRun`, a context manager that ends the run FINISHED, or FAILED when
an exception escapes (KILLED on Ctrl-C).  A joined run is never ended by this process:
only its creator ends it.  Log calls without an active run start one, as MLflow does.
The active-run stack is process-wide (every thread logs into the same run).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

import numpy as np

from runstream.proto.tokens import WriteToken
from runstream.proto.vocabulary import DEFAULT_EXPERIMENT_ID, experiment_id_for_name

from .client import RunstreamClient
from .entities import Experiment, RunInfo
from .errors import InvalidStateError
from .settings import ProducerSettings
from .validation import check_experiment_name

logger = logging.getLogger(__name__)

_lock = threading.RLock()
_client: RunstreamClient | None = None
_client_kwargs: dict[str, Any] = {}
_runs: list[ActiveRun] = []
_experiment_id: str | None = None
_announced: set[str] = set()
_env_run_used = False


class ActiveRun:
    """The run :func:`start_run` made active; use it as a context manager."""

    def __init__(self, info: RunInfo) -> None:
        self.info = info
        self.collector: Any = None  # the system metrics collector, when on

    @property
    def run_id(self) -> str:
        return self.info.run_id

    @property
    def experiment_id(self) -> str:
        return self.info.experiment_id

    @property
    def env(self) -> dict[str, str]:
        """Variables that make another process (a rank) join this run."""
        return {"RUNSTREAM_RUN_ID": self.run_id, "RUNSTREAM_EXPERIMENT_ID": self.experiment_id}

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = "FINISHED"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "KILLED"
        else:
            status = "FAILED"
        _end(self, status)

    def __repr__(self) -> str:
        return f"<ActiveRun run_id={self.run_id} experiment_id={self.experiment_id}>"


# -- the client ---------------------------------------------------------------------------


def set_uri(uri: str | None, **settings: Any) -> None:
    """Use another destination (and settings) for the following calls; closes the
    current client after flushing."""
    global _client, _client_kwargs
    with _lock:
        old, _client = _client, None
        _client_kwargs = {"uri": uri, **settings}
    if old is not None:
        old.close()


def get_client() -> RunstreamClient:
    """The process-wide client (created on first use from ``RUNSTREAM_*`` settings)."""
    global _client
    client = _client
    if client is not None:
        return client
    with _lock:
        if _client is None:
            _client = RunstreamClient(**_client_kwargs)
            _register_exit_hook()
        return _client


def _settings() -> ProducerSettings:
    return get_client().settings


# -- experiments --------------------------------------------------------------------------


def create_experiment(
    name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
) -> str:
    eid = get_client().create_experiment(name, artifact_location, tags)
    _announced.add(eid)
    return eid


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment active, creating it if this process has not announced it yet.
    Every process naming the same experiment gets the same id."""
    global _experiment_id
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidStateError("set_experiment needs one of experiment_name, experiment_id")
    if experiment_name is not None:
        name = check_experiment_name(experiment_name, "experiment_name")
        eid = experiment_id_for_name(name)
        if eid not in _announced:
            get_client().create_experiment(name, experiment_id=eid)
            _announced.add(eid)
    else:
        eid = str(experiment_id)
        name = ""
    with _lock:
        _experiment_id = eid
    return Experiment(eid, name)


def _current_experiment_id() -> str:
    if _experiment_id is not None:
        return _experiment_id
    settings = _settings()
    if settings.experiment_id:
        return settings.experiment_id
    if settings.experiment_name:
        return set_experiment(settings.experiment_name).experiment_id
    return DEFAULT_EXPERIMENT_ID


def delete_experiment(experiment_id: str) -> None:
    get_client().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    get_client().restore_experiment(experiment_id)


def rename_experiment(experiment_id: str, new_name: str) -> None:
    get_client().rename_experiment(experiment_id, new_name)


def set_experiment_tag(key: str, value: Any) -> None:
    """Tag the active experiment."""
    get_client().set_experiment_tag(_current_experiment_id(), key, value)


def set_experiment_tags(tags: Mapping[str, Any]) -> None:
    for key, value in tags.items():
        set_experiment_tag(key, value)


# -- runs ---------------------------------------------------------------------------------


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Create a run and make it active, or join an existing one.

    ``run_id`` (or ``RUNSTREAM_RUN_ID``, used by the first ``start_run`` of the process)
    joins a run another process created: no creation event, and this process never ends
    it.  ``nested=True`` starts a child of the active run (``mlflow.parentRunId``).
    ``log_system_metrics`` (default ``RUNSTREAM_SYSTEM_METRICS``): sample CPU, memory,
    disk, network and GPUs into the run until it ends (``producer/system_metrics.py``).
    """
    global _env_run_used
    with _lock:
        client = get_client()
        if _runs and not nested:
            raise InvalidStateError(
                f"run {_runs[-1].run_id} is already active: end it first, or pass nested=True"
            )
        join_id = run_id
        if join_id is None and not nested and not _env_run_used and client.settings.run_id:
            join_id = client.settings.run_id
            _env_run_used = True
        if join_id is not None:
            eid = experiment_id or client.settings.experiment_id or _experiment_id or ""
            info = client.join_run(join_id, eid or None)
        else:
            parent = parent_run_id or (_runs[-1].run_id if nested and _runs else None)
            all_tags = dict(tags or {})
            if description is not None:
                all_tags["mlflow.note.content"] = description
            info = client.create_run(
                experiment_id or _current_experiment_id(),
                tags=all_tags,
                run_name=run_name,
                parent_run_id=parent,
            )
        active = ActiveRun(info)
        on = client.settings.system_metrics if log_system_metrics is None else log_system_metrics
        if on:
            active.collector = client.start_system_metrics(info.run_id)
        _runs.append(active)
        return active


def active_run() -> ActiveRun | None:
    return _runs[-1] if _runs else None


def _end(run: ActiveRun, status: str) -> None:
    with _lock:
        if run not in _runs:
            return
        while _runs:  # children still open end with their parent, as in MLflow
            top = _runs.pop()
            if top.collector is not None:
                top.collector.stop()
            if not top.info.joined:
                get_client().set_terminated(top.run_id, status)
            if top is run:
                break


def end_run(status: str = "FINISHED") -> None:
    """End the active run (a joined run is only made inactive)."""
    run = active_run()
    if run is not None:
        _end(run, status)


def _run_id() -> str:
    run = active_run()
    if run is None:
        run = start_run()
    return run.run_id


def delete_run(run_id: str) -> None:
    get_client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    get_client().restore_run(run_id)


# -- logging ------------------------------------------------------------------------------


def log_param(key: str, value: Any) -> Any:
    return get_client().log_param(_run_id(), key, value)


def log_params(params: Mapping[str, Any]) -> None:
    get_client().log_params(_run_id(), params)


def log_metric(
    key: str,
    value: Any,
    step: int | None = None,
    timestamp: int | None = None,
    context: Mapping[str, Any] | None = None,
) -> None:
    get_client().log_metric(_run_id(), key, value, timestamp, step, context)


def log_metrics(
    metrics: Mapping[str, Any],
    step: int | None = None,
    timestamp: int | None = None,
    context: Mapping[str, Any] | None = None,
) -> None:
    get_client().log_metrics(_run_id(), metrics, step, timestamp, context)


def log_metric_columns(
    keys: str | Sequence[str] | np.ndarray,
    values: Any,
    steps: Any = None,
    timestamps: Any = None,
    *,
    key_index: Any = None,
    context: Mapping[str, Any] | None = None,
) -> None:
    get_client().log_metric_columns(
        _run_id(), keys, values, steps, timestamps, key_index=key_index, context=context
    )


def set_tag(key: str, value: Any) -> None:
    get_client().set_tag(_run_id(), key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    get_client().set_tags(_run_id(), tags)


def delete_tag(key: str) -> None:
    get_client().delete_tag(_run_id(), key)


def flush(timeout: float | None = None) -> WriteToken:
    return get_client().flush(timeout)


def close(timeout: float | None = None) -> None:
    """Flush and close the process-wide client (a new one is made on next use)."""
    global _client
    with _lock:
        client, _client = _client, None
    if client is not None:
        client.close(timeout)


# -- process lifecycle --------------------------------------------------------------------


def _register_exit_hook() -> None:
    """(Re-)register the exit hook after each new client, so it runs before the client's
    own (exit hooks run last-registered-first): runs end, then the client flushes."""
    atexit.unregister(_at_exit)
    atexit.register(_at_exit)


def _at_exit() -> None:
    """End the runs this process created (FAILED after an uncaught exception), then
    flush and close."""
    crashed = getattr(sys, "last_value", None) is not None
    try:
        while _runs:
            end_run("FAILED" if crashed else "FINISHED")
        close()
    except Exception as exc:  # noqa: BLE001 - nothing can be raised at exit
        logger.error("runstream: at exit: %s", exc)


_inherited: list[RunstreamClient] = []


def _after_fork_in_child() -> None:
    """A forked child gets its own producer; inherited runs count as joined."""
    global _client, _lock
    _lock = threading.RLock()
    if _client is not None:
        _inherited.append(_client)  # never collected: its threads live in the parent
    _client = None
    for run in _runs:
        run.info = replace(run.info, joined=True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
