"""Write commands, built in one place: functions from a request to validated event
payloads, used by the SDK client (``client.py``) and the gateway (``gateway/``).  They
publish nothing and keep no state; the only things they make up are the defaults they
document (now, a new run id, a generated run name).

A builder checks its input with MLflow's rules (``validation.py``), ids first (the name
first where the id follows from it), and names the field at fault in a
:class:`~runstream.producer.errors.ValidationError`.  Field names are the ``WriteService``
request fields (``run_name``, ``new_name``, ``key``, ``tags[2].value``), whichever side
calls.

A builder adds nothing the request did not say: the system tags of a run (user, source,
git commit, host) are facts about the SDK's own process, which the client passes as
``process_tags``; the gateway passes none, so it never invents a caller's host or user.

What "not given" means is one rule: ``None`` or an empty string, except ``start_time``
and ``end_time``, where 0 is a time (the gateway maps the wire's 0 to ``None`` itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from runstream.proto import events as ev
from runstream.proto.vocabulary import DEFAULT_EXPERIMENT_ID, RUNNING, experiment_id_for_name

from . import system_tags as st
from .entities import RunInfo
from .errors import FieldProblem, ValidationError
from .ids import default_run_name, new_run_id, now_ms
from .validation import (
    MAX_EXPERIMENT_TAG_VAL_LENGTH,
    check_experiment_name,
    check_id,
    check_key,
    check_params,
    check_run_name,
    check_status,
    check_tags,
    check_text,
    check_timestamp,
)

#: Tags as a mapping or as (key, value) pairs (the gRPC request's repeated ``Tag``).
Tags = Mapping[str, object] | Iterable[tuple[object, object]]

P = TypeVar("P", ev.ParamsLogged, ev.TagsSet)


@dataclass(frozen=True, slots=True)
class ExperimentCommand:
    """An experiment event to publish (Kafka key ``experiment:<id>``)."""

    experiment_id: str
    payload: ev.Payload


@dataclass(frozen=True, slots=True)
class RunCommand:
    """Run events to publish, in order.  ``experiment_id`` is ``""`` when the request did
    not say (the SDK knows it from its own runs; the gateway publishes it as given)."""

    run_id: str
    experiment_id: str
    payloads: tuple[ev.Payload, ...]


@dataclass(frozen=True, slots=True)
class NewRun:
    """A created run: what the caller answers with, and the event that creates it."""

    info: RunInfo
    payload: ev.RunCreated

    @property
    def command(self) -> RunCommand:
        return RunCommand(self.info.run_id, self.info.experiment_id, (self.payload,))


@dataclass(frozen=True, slots=True)
class Accepted(Generic[P]):
    """A params or tags batch: the event of its accepted items (``None`` when none was)
    and the refused items, named.  The good items of a batch are published regardless."""

    payload: P | None
    problems: tuple[FieldProblem, ...]


def _optional_id(value: object, field: str) -> str:
    return check_id(value, field) if value else ""


def _pairs(tags: Tags | None) -> list[tuple[object, object]]:
    if not tags:
        return []
    if isinstance(tags, Mapping):
        return list(tags.items())
    return list(tags)


def _single(problems: Iterable[FieldProblem], field: str) -> list[FieldProblem]:
    """``tag[0].key`` -> ``key``: the fields of a one-item request."""
    prefix = f"{field}[0]."
    return [FieldProblem(p.field.removeprefix(prefix), p.problem) for p in problems]


# -- experiments ---------------------------------------------------------------------------


def create_experiment(
    name: object,
    artifact_location: str | None = None,
    tags: Tags | None = None,
    experiment_id: str | None = None,
) -> ExperimentCommand:
    """``ExperimentCreated``; the id is derived from the name unless given, so every
    process naming the experiment agrees.  Tags are all or nothing."""
    name = check_experiment_name(name)
    eid = _optional_id(experiment_id, "experiment_id")
    checked = check_tags(_pairs(tags), "tags", limit=MAX_EXPERIMENT_TAG_VAL_LENGTH)
    if checked.problems:
        raise ValidationError(checked.problems)
    tag_map = dict(zip(checked.keys, checked.values, strict=True))
    location = check_text(artifact_location or "", "artifact_location")
    payload = ev.ExperimentCreated(name, location, tag_map)
    return ExperimentCommand(eid or experiment_id_for_name(name), payload)


def rename_experiment(experiment_id: object, new_name: object) -> ExperimentCommand:
    eid = check_id(experiment_id, "experiment_id")
    return ExperimentCommand(eid, ev.ExperimentRenamed(check_experiment_name(new_name, "new_name")))


def delete_experiment(experiment_id: object) -> ExperimentCommand:
    return ExperimentCommand(check_id(experiment_id, "experiment_id"), ev.ExperimentDeleted())


def restore_experiment(experiment_id: object) -> ExperimentCommand:
    return ExperimentCommand(check_id(experiment_id, "experiment_id"), ev.ExperimentRestored())


def set_experiment_tag(experiment_id: object, key: object, value: object) -> ExperimentCommand:
    eid = check_id(experiment_id, "experiment_id")
    checked = check_tags([(key, value)], "tag", limit=MAX_EXPERIMENT_TAG_VAL_LENGTH)
    if checked.problems:
        raise ValidationError(_single(checked.problems, "tag"))
    return ExperimentCommand(eid, ev.ExperimentTagSet(checked.keys[0], checked.values[0]))


# -- runs ----------------------------------------------------------------------------------


def create_run(
    experiment_id: str | None = None,
    run_name: object = None,
    user_id: str | None = None,
    start_time: int | None = None,
    tags: Tags | None = None,
    parent_run_id: str | None = None,
    run_id: str | None = None,
    *,
    process_tags: Mapping[str, str] | None = None,
) -> NewRun:
    """``RunCreated`` (status RUNNING).

    The name is ``run_name``, else the ``mlflow.runName`` tag, else a generated one; the
    user is ``user_id``, else the ``mlflow.user`` tag.  ``start_time`` defaults to now.
    ``process_tags`` lie under the request's tags (the SDK's system tags); the request's
    tags win, and ``mlflow.runName`` / ``mlflow.parentRunId`` are set from the run.
    """
    eid = check_id(experiment_id or DEFAULT_EXPERIMENT_ID, "experiment_id")
    rid = check_id(run_id, "run_id") if run_id else new_run_id()
    parent = _optional_id(parent_run_id, "parent_run_id")
    checked = check_tags(dict(_pairs(tags)).items(), "tags")  # a key given twice: the last
    if checked.problems:
        raise ValidationError(checked.problems)
    all_tags = {**(process_tags or {}), **dict(zip(checked.keys, checked.values, strict=True))}
    name = check_run_name(run_name or all_tags.get(st.RUN_NAME) or default_run_name())
    started = now_ms() if start_time is None else check_timestamp(start_time, "start_time")
    all_tags[st.RUN_NAME] = name
    if parent:
        all_tags[st.PARENT_RUN_ID] = parent
    user = check_text(user_id or all_tags.get(st.USER, ""), "user_id")
    payload = ev.RunCreated(started, name, user, RUNNING, "", parent, all_tags)
    return NewRun(RunInfo(rid, eid, name, user, RUNNING, started, parent), payload)


def update_run(
    run_id: object,
    status: str | None = None,
    end_time: int | None = None,
    run_name: str | None = None,
    experiment_id: str | None = None,
) -> RunCommand:
    """``RunUpdated`` with what is given (``None``: unchanged); a new name is also the
    ``mlflow.runName`` tag, as in MLflow's stores."""
    rid = check_id(run_id, "run_id")
    eid = _optional_id(experiment_id, "experiment_id")
    if status is not None:
        status = check_status(status)
    if end_time is not None:
        end_time = check_timestamp(end_time, "end_time")
    if run_name is not None:
        run_name = check_run_name(run_name)
    payloads: list[ev.Payload] = [
        ev.RunUpdated(status=status, end_time=end_time, run_name=run_name)
    ]
    if run_name is not None:
        payloads.append(ev.TagsSet((st.RUN_NAME,), (run_name,)))
    return RunCommand(rid, eid, tuple(payloads))


def delete_run(
    run_id: object, experiment_id: str | None = None, deleted_time: int | None = None
) -> RunCommand:
    rid = check_id(run_id, "run_id")
    eid = _optional_id(experiment_id, "experiment_id")
    when = now_ms() if deleted_time is None else check_timestamp(deleted_time, "deleted_time")
    return RunCommand(rid, eid, (ev.RunDeleted(deleted_time=when),))


def restore_run(run_id: object, experiment_id: str | None = None) -> RunCommand:
    rid = check_id(run_id, "run_id")
    return RunCommand(rid, _optional_id(experiment_id, "experiment_id"), (ev.RunRestored(),))


def delete_tag(run_id: object, key: object, experiment_id: str | None = None) -> RunCommand:
    rid = check_id(run_id, "run_id")
    eid = _optional_id(experiment_id, "experiment_id")
    return RunCommand(rid, eid, (ev.TagDeleted(check_key(key)),))


# -- params and tags (a run's batch: good items kept, bad ones named) ---------------------


def log_params(
    params: Iterable[tuple[object, object]], field: str = "params"
) -> Accepted[ev.ParamsLogged]:
    """``ParamsLogged`` for the valid params (values become strings; a key twice in one
    batch is refused).  Write-once across calls is the caller's state, not checked here."""
    checked = check_params(params, field)
    payload = ev.ParamsLogged(checked.keys, checked.values) if checked.keys else None
    return Accepted(payload, checked.problems)


def set_tags(tags: Iterable[tuple[object, object]], field: str = "tags") -> Accepted[ev.TagsSet]:
    """``TagsSet`` for the valid tags (values become strings)."""
    checked = check_tags(tags, field)
    payload = ev.TagsSet(checked.keys, checked.values) if checked.keys else None
    return Accepted(payload, checked.problems)
