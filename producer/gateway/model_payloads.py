"""The events of model writes, from the gateway's requests: the checks that need no state
(names, versions, aliases, stages, ids, lengths) and the payload each request becomes.
Errors are ``ValidationError``s; :mod:`.model_writes` publishes what this module builds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from runstream.proto import events as ev
from runstream.proto.errors import echo
from runstream.proto.v1 import write_pb2
from runstream.proto.vocabulary import LOGGED_MODEL_ID_PREFIX, canonical_stage, is_reserved_alias

from ..errors import FieldProblem, ValidationError
from ..validation import check_id, check_key, check_tags, int_problem

MAX_MODEL_NAME_LENGTH = 256
MAX_REGISTRY_TAG_VALUE_LENGTH = 100_000  # MLflow's limit for registry tags
MAX_DESCRIPTION_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
MAX_DATASETS_PER_REQUEST = 1000
_ALIAS_RE = re.compile(r"^[\w\-]*$")
_MODEL_ID_RE = re.compile(r"^m-[0-9a-f]{32}$")
LOGGED_MODEL_NAME_BAD = ("/", ":", ".", "%", '"', "'")

Pair = tuple[str, str]


# -- checks (no state) ----------------------------------------------------------------------


def check_model_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError.of(field, "must be a non-empty string")
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise ValidationError.of(
            field, f"is {len(name)} characters long; at most {MAX_MODEL_NAME_LENGTH} are allowed"
        )
    if "/" in name or ":" in name:
        raise ValidationError.of(field, f"{echo(name)}: names cannot contain '/' or ':'")
    return name


def check_version(version: object, field: str = "version") -> int:
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValidationError.of(field, f"must be a positive integer, got {echo(version)}")
    return version


def check_alias(alias: object, field: str = "alias") -> str:
    if not isinstance(alias, str) or not alias:
        raise ValidationError.of(field, "must be a non-empty string")
    if len(alias) > MAX_ALIAS_LENGTH:
        raise ValidationError.of(field, f"at most {MAX_ALIAS_LENGTH} characters are allowed")
    if not _ALIAS_RE.match(alias):
        raise ValidationError.of(
            field,
            f"{echo(alias)}: may only contain alphanumerics, underscores (_), and dashes (-)",
        )
    return alias


def check_description(description: str | None, field: str = "description") -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise ValidationError.of(field, f"at most {MAX_DESCRIPTION_LENGTH} characters are allowed")
    return description


def tag_map(pairs: Iterable[Pair], field: str, limit: int) -> dict[str, str]:
    checked = check_tags(list(pairs), field, limit=limit)
    if checked.problems:
        raise ValidationError(checked.problems)
    return dict(zip(checked.keys, checked.values, strict=True))


def check_logged_model_id(model_id: object, field: str = "model_id") -> str:
    if not isinstance(model_id, str) or not _MODEL_ID_RE.match(model_id):
        raise ValidationError.of(
            field, f"{echo(model_id)} is not a logged model id ('m-' and 32 lowercase hex digits)"
        )
    return model_id


def new_logged_model_id() -> str:
    return f"{LOGGED_MODEL_ID_PREFIX}{uuid.uuid4().hex}"


def registry_payload(r: Any, kind: str) -> ev.Payload:
    """The event of one registry request (``kind``: the WriteService method)."""
    limit = MAX_REGISTRY_TAG_VALUE_LENGTH
    if kind == "CreateRegisteredModel":
        return ev.RegisteredModelCreated(
            check_model_name(r.name),
            check_description(r.description if r.HasField("description") else None),
            tag_map(((t.key, t.value) for t in r.tags), "tags", limit),
        )
    if kind == "RenameRegisteredModel":
        return ev.RegisteredModelRenamed(
            check_model_name(r.name), check_model_name(r.new_name, "new_name")
        )
    if kind == "UpdateRegisteredModel":
        return ev.RegisteredModelUpdated(
            check_model_name(r.name),
            check_description(r.description if r.HasField("description") else None),
        )
    if kind == "DeleteRegisteredModel":
        return ev.RegisteredModelDeleted(check_model_name(r.name))
    if kind == "SetRegisteredModelTag":
        tags = tag_map([(r.key, r.value)], "tag", limit)
        return ev.RegisteredModelTagSet(check_model_name(r.name), r.key, tags[r.key])
    if kind == "DeleteRegisteredModelTag":
        return ev.RegisteredModelTagDeleted(check_model_name(r.name), check_key(r.key))
    if kind == "SetRegisteredModelAlias":
        alias = check_alias(r.alias)
        if is_reserved_alias(alias):
            raise ValidationError.of("alias", f"alias name {echo(alias)} is reserved")
        return ev.RegisteredModelAliasSet(check_model_name(r.name), alias, check_version(r.version))
    if kind == "DeleteRegisteredModelAlias":
        return ev.RegisteredModelAliasDeleted(check_model_name(r.name), check_alias(r.alias))
    if kind == "CreateModelVersion":
        return ev.ModelVersionCreated(
            name=check_model_name(r.name),
            source=r.source,
            run_id=check_id(r.run_id, "run_id") if r.run_id else "",
            run_link=r.run_link if r.HasField("run_link") else None,
            description=check_description(r.description if r.HasField("description") else None),
            tags=tag_map(((t.key, t.value) for t in r.tags), "tags", limit),
            model_id=check_logged_model_id(r.model_id) if r.model_id else "",
            storage_location=r.storage_location,
            user_id=r.user_id,
        )
    name, version = check_model_name(r.name), check_version(r.version)
    if kind == "UpdateModelVersion":
        return ev.ModelVersionUpdated(
            name, version, check_description(r.description if r.HasField("description") else None)
        )
    if kind == "TransitionModelVersionStage":
        stage = canonical_stage(r.stage)
        if stage is None:
            raise ValidationError.of(
                "stage", f"{echo(r.stage)} is not one of None, Staging, Production, Archived"
            )
        return ev.ModelVersionStageTransitioned(name, version, stage, r.archive_existing_versions)
    if kind == "DeleteModelVersion":
        return ev.ModelVersionDeleted(name, version)
    if kind == "SetModelVersionTag":
        tags = tag_map([(r.key, r.value)], "tag", limit)
        return ev.ModelVersionTagSet(name, version, r.key, tags[r.key])
    if kind == "DeleteModelVersionTag":
        return ev.ModelVersionTagDeleted(name, version, check_key(r.key))
    raise ValueError(kind)  # pragma: no cover - the servicer names only the kinds above


def inputs_payload(request: write_pb2.LogInputsRequest) -> ev.InputsLogged:
    if len(request.datasets) > MAX_DATASETS_PER_REQUEST:
        raise ValidationError.of(
            "datasets", f"at most {MAX_DATASETS_PER_REQUEST} datasets per request"
        )
    datasets = []
    problems: list[FieldProblem] = []
    for i, d in enumerate(request.datasets):
        data, where = d.dataset, f"datasets[{i}].dataset"
        for attr in ("name", "digest", "source_type", "source"):
            if not getattr(data, attr):
                problems.append(FieldProblem(f"{where}.{attr}", "must not be empty"))
        datasets.append(
            ev.DatasetInput(
                name=data.name,
                digest=data.digest,
                source_type=data.source_type,
                source=data.source,
                schema=data.schema if data.HasField("schema") else None,
                profile=data.profile if data.HasField("profile") else None,
                tags={t.key: t.value for t in d.tags},
            )
        )
    if problems:
        raise ValidationError(problems)
    model_ids = tuple(
        check_logged_model_id(m, f"model_ids[{i}]") for i, m in enumerate(request.model_ids)
    )
    return ev.InputsLogged(tuple(datasets), model_ids)


def model_metrics_payload(metrics: Sequence[Any]) -> ev.ModelMetricsLogged:
    points = []
    for i, m in enumerate(metrics):
        where = f"metrics[{i}]"
        check_key(m.key, f"{where}.key")
        check_logged_model_id(m.model_id, f"{where}.model_id")
        if (p := int_problem(m.timestamp, non_negative=True)) is not None:
            raise ValidationError.of(f"{where}.timestamp", p)
        points.append(
            ev.ModelMetricPoint(
                m.key, m.value, m.timestamp, m.step, m.model_id, m.dataset_name, m.dataset_digest
            )
        )
    return ev.ModelMetricsLogged(tuple(points))
