"""Per-experiment permissions, said once for every server: the permission words, what a
principal is, how its permission on an experiment is decided, and what each RPC needs.

MLflow's model: a principal holds ``READ``, ``EDIT`` or ``MANAGE`` (or ``NO_PERMISSIONS``)
on each experiment.  The permission of a principal on an experiment is, first match wins:

1. ``MANAGE`` when the principal is an admin;
2. its grant on the experiment's id, else its grant on the experiment's current name;
3. ``MANAGE`` when the principal created the experiment (MLflow's creator rule);
4. its default permission (the principals file's, MLflow's default being ``READ``).

A grant is how an admin takes a right back too: an explicit grant wins over the creator
rule.  Servers check with :meth:`Principal.require`, which raises
:class:`PermissionDeniedError` (``PERMISSION_DENIED``) naming the experiment and the
permission.  Principals come from :mod:`runstream.proto.principals`; the interceptor
that attaches the caller's principal to each call is :mod:`runstream.proto.rpc.auth`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import Protocol

from .errors import ContractError, SettingsError, echo
from .tokens import WriteToken
from .v1 import common_pb2


class Permission(IntEnum):
    """MLflow's permission words; each one allows everything the ones below allow."""

    NO_PERMISSIONS = 0
    READ = 1  # read the experiment, its runs and their data
    EDIT = 2  # also: create runs in it, log to its runs, tag it, update runs
    MANAGE = 3  # also: rename, delete and restore it and its runs

    @classmethod
    def parse(cls, word: object, where: str) -> Permission:
        """``"EDIT"`` -> ``Permission.EDIT``; anything else is a :class:`SettingsError`."""
        if isinstance(word, str) and word in cls.__members__:
            return cls[word]
        raise SettingsError(f"{where}: {echo(word)} is not a permission (one of {WORDS})")

    def allows(self, needed: Permission) -> bool:
        return self >= needed


WORDS = ", ".join(Permission.__members__)


class PermissionDeniedError(ContractError):
    """The caller's principal lacks the permission a call needs on an experiment."""

    error_code = common_pb2.PERMISSION_DENIED


@dataclass(frozen=True, slots=True)
class ExperimentFacts:
    """What a check needs to know of an experiment.  ``name`` and ``created_by`` are ""
    when unknown (an experiment not applied yet, or written straight to Kafka)."""

    experiment_id: str
    name: str = ""
    created_by: str = ""


def _frozen(grants: Mapping[str, Permission]) -> Mapping[str, Permission]:
    return MappingProxyType(dict(grants))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a call comes from and what it may do.  ``name`` is what the audit trail shows
    (the ``principal`` header of the events it writes)."""

    name: str
    admin: bool = False
    default: Permission = Permission.READ
    by_id: Mapping[str, Permission] = field(default_factory=dict)
    by_name: Mapping[str, Permission] = field(default_factory=dict)
    create_experiments: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", _frozen(self.by_id))
        object.__setattr__(self, "by_name", _frozen(self.by_name))

    def permission_on(self, facts: ExperimentFacts) -> Permission:
        """The permission on one experiment (the rules in this module's docstring)."""
        if self.admin:
            return Permission.MANAGE
        granted = self.by_id.get(facts.experiment_id)
        if granted is None and facts.name:
            granted = self.by_name.get(facts.name)
        if granted is not None:
            return granted
        if self.name and facts.created_by == self.name:
            return Permission.MANAGE
        return self.default

    def decided_without_facts(self, experiment_id: str, needed: Permission) -> bool:
        """True when the answer for ``experiment_id`` cannot depend on its name or creator
        (so a server need not look them up): admin, a grant by id, or no grant by name and
        a default that already allows ``needed`` (the creator rule only adds)."""
        if self.admin or experiment_id in self.by_id:
            return True
        return not self.by_name and self.default.allows(needed)

    def require(self, needed: Permission, facts: ExperimentFacts) -> None:
        """Nothing when the principal holds ``needed`` on the experiment; else
        :class:`PermissionDeniedError` naming the experiment and the permission."""
        held = self.permission_on(facts)
        if held.allows(needed):
            return
        named = f" ({echo(facts.name)})" if facts.name else ""
        raise PermissionDeniedError(
            f"principal {echo(self.name)} lacks {needed.name} on experiment "
            f"{echo(facts.experiment_id)}{named} (holds {held.name})"
        )

    def registry_permission(self) -> Permission:
        """The permission on the model registry: ``MANAGE`` for an admin, else the
        principal's default permission (grants are per experiment; registered models
        belong to none, and per-model grants are not supported)."""
        return Permission.MANAGE if self.admin else self.default

    def require_registry(self, needed: Permission) -> None:
        """Nothing when the principal holds ``needed`` on the model registry; else
        :class:`PermissionDeniedError`."""
        held = self.registry_permission()
        if not held.allows(needed):
            raise PermissionDeniedError(
                f"principal {echo(self.name)} lacks {needed.name} on the model registry "
                f"(holds {held.name}: its default permission)"
            )

    def require_create(self, name: str) -> None:
        """Creating experiments is a right of its own (MLflow: any user may; a principal
        with ``create_experiments = false`` may not)."""
        if not (self.admin or self.create_experiments):
            raise PermissionDeniedError(
                f"principal {echo(self.name)} may not create experiments "
                f"(asked to create {echo(name)})"
            )


# The principal of every call when a server runs without auth: all may do everything.
ANONYMOUS = Principal(name="", admin=True)


# -- what each RPC needs -------------------------------------------------------------------
# Service -> method -> the permission it needs on the experiment(s) it touches.  Every RPC
# of both services is listed (a test checks it), so a new RPC needs a decision.
# CreateExperiment needs the principal's right to create experiments, not a permission on
# an experiment that does not exist yet; a principal's own new experiment is its to MANAGE.
NEEDS: Mapping[str, Mapping[str, Permission]] = MappingProxyType(
    {
        "runstream.v1.WriteService": MappingProxyType(
            {
                "CreateExperiment": Permission.NO_PERMISSIONS,
                "RenameExperiment": Permission.MANAGE,
                "DeleteExperiment": Permission.MANAGE,
                "RestoreExperiment": Permission.MANAGE,
                "SetExperimentTag": Permission.EDIT,
                "CreateRun": Permission.EDIT,
                "UpdateRun": Permission.EDIT,
                "DeleteRun": Permission.MANAGE,
                "RestoreRun": Permission.MANAGE,
                "DeleteTag": Permission.EDIT,
                "LogBatch": Permission.EDIT,
                "LogStream": Permission.EDIT,
                "DeleteExperimentTag": Permission.EDIT,
                # a run's inputs, outputs and model metrics: the run's experiment
                "LogInputs": Permission.EDIT,
                "LogOutputs": Permission.EDIT,
                "LogModelMetrics": Permission.EDIT,
                # logged models: the model's experiment
                "CreateLoggedModel": Permission.EDIT,
                "FinalizeLoggedModel": Permission.EDIT,
                "SetLoggedModelTags": Permission.EDIT,
                "DeleteLoggedModelTag": Permission.EDIT,
                "LogLoggedModelParams": Permission.EDIT,
                "DeleteLoggedModel": Permission.MANAGE,
                # the model registry (REGISTRY_RPCS: a permission on the registry)
                "CreateRegisteredModel": Permission.EDIT,
                "RenameRegisteredModel": Permission.MANAGE,
                "UpdateRegisteredModel": Permission.EDIT,
                "DeleteRegisteredModel": Permission.MANAGE,
                "SetRegisteredModelTag": Permission.EDIT,
                "DeleteRegisteredModelTag": Permission.EDIT,
                "SetRegisteredModelAlias": Permission.EDIT,
                "DeleteRegisteredModelAlias": Permission.EDIT,
                "CreateModelVersion": Permission.EDIT,
                "UpdateModelVersion": Permission.EDIT,
                "TransitionModelVersionStage": Permission.EDIT,
                "DeleteModelVersion": Permission.MANAGE,
                "SetModelVersionTag": Permission.EDIT,
                "DeleteModelVersionTag": Permission.EDIT,
            }
        ),
        "runstream.v1.QueryService": MappingProxyType(
            {
                "GetExperiment": Permission.READ,
                "GetExperimentByName": Permission.READ,
                "SearchExperiments": Permission.READ,
                "GetRun": Permission.READ,
                "SearchRuns": Permission.READ,
                "GetMetricHistory": Permission.READ,
                "GetMetricHistoryColumns": Permission.READ,
                "GetSampledMetricHistory": Permission.READ,
                "GetSampledMetricHistories": Permission.READ,
                "GetMetricAggregates": Permission.READ,
                "GetLatestMetricsByContext": Permission.READ,
                "GetBestRuns": Permission.READ,
                "CountRunsByStatus": Permission.READ,
                "SearchDatasets": Permission.READ,
                "GetLoggedModel": Permission.READ,
                "SearchLoggedModels": Permission.READ,
                "GetRegisteredModel": Permission.READ,
                "SearchRegisteredModels": Permission.READ,
                "GetModelVersion": Permission.READ,
                "GetModelVersionByAlias": Permission.READ,
                "GetLatestVersions": Permission.READ,
                "SearchModelVersions": Permission.READ,
                "GetWriteOutcome": Permission.READ,
                "Tail": Permission.READ,
            }
        ),
    }
)

# The registry's calls: what they need is a permission on the model registry as a whole
# (registered models belong to no experiment), decided by :meth:`Principal.require_registry`.
REGISTRY_RPCS: frozenset[str] = frozenset(
    {
        "CreateRegisteredModel",
        "RenameRegisteredModel",
        "UpdateRegisteredModel",
        "DeleteRegisteredModel",
        "SetRegisteredModelTag",
        "DeleteRegisteredModelTag",
        "SetRegisteredModelAlias",
        "DeleteRegisteredModelAlias",
        "CreateModelVersion",
        "UpdateModelVersion",
        "TransitionModelVersionStage",
        "DeleteModelVersion",
        "SetModelVersionTag",
        "DeleteModelVersionTag",
        "GetRegisteredModel",
        "SearchRegisteredModels",
        "GetModelVersion",
        "GetModelVersionByAlias",
        "GetLatestVersions",
        "SearchModelVersions",
        "GetWriteOutcome",
    }
)


def needed(service: str, method: str) -> Permission:
    """What ``service``'s ``method`` needs; an RPC not in :data:`NEEDS` needs MANAGE (fails
    closed, and the table's test names it)."""
    return NEEDS.get(service, {}).get(method, Permission.MANAGE)


class Directory(Protocol):
    """What a server that does not hold the tables (the gateway) asks to decide a write:
    the facts of experiments and the experiment of runs.  The query service is one
    (in-process in ``runstream up``); the standalone gateway reaches one over gRPC."""

    def experiment_facts(
        self, experiment_ids: Collection[str], after: WriteToken | None = None
    ) -> dict[str, ExperimentFacts]:
        """Facts of the experiments that exist (others are left out), read once ingest
        has applied ``after`` (or its wait ran out)."""
        ...

    def run_experiments(self, run_ids: Collection[str]) -> dict[str, str]:
        """run id -> experiment id, for the runs that exist."""
        ...
