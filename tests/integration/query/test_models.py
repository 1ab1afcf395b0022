"""The model half end to end over gRPC on the real stack (gateway -> Kafka -> ingest ->
chDB -> query service): registry writes and their outcomes, searches with MLflow's
grammar and pages, logged models, datasets of runs; errors as named statuses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from runstream.proto.rpc import error_code_of
from runstream.proto.v1 import (
    common_pb2,
    query_pb2,
    query_pb2_grpc,
    write_pb2,
    write_pb2_grpc,
)

pytestmark = pytest.mark.integration


class Api:
    """Both services on one channel; every read carries the merged token of the writes."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.write = write_pb2_grpc.WriteServiceStub(channel)
        self.query = query_pb2_grpc.QueryServiceStub(channel)
        self.token = common_pb2.WriteToken()

    def w(self, method: str, request: Any) -> Any:
        answer = getattr(self.write, method)(request)
        self.token.topic = answer.token.topic
        for p, o in answer.token.offsets.items():
            self.token.offsets[p] = max(o, self.token.offsets.get(p, -1))
        return answer

    def r(self, method: str, request: Any) -> Any:
        request.read.write_token.CopyFrom(self.token)
        return getattr(self.query, method)(request)

    def registry(self, method: str, request: Any) -> Any:
        """A registry write and its outcome (ingest's decision, read back by event id)."""
        answer = self.w(method, request)
        return self.r("GetWriteOutcome", query_pb2.GetWriteOutcomeRequest(event_id=answer.event_id))


@pytest.fixture(scope="module")
def api(kafka_bootstrap: str, chdb_dsn: str) -> Iterator[Api]:
    from runstream.infra.stack import Stack, StackSettings

    suffix = uuid.uuid4().hex[:10]
    stack = Stack(
        StackSettings(
            kafka=kafka_bootstrap,
            clickhouse=chdb_dsn,
            database=f"models_{suffix}",
            topic=f"models.{suffix}",
            address="127.0.0.1:0",
        )
    ).start()
    channel = grpc.insecure_channel(stack.address)
    try:
        yield Api(channel)
    finally:
        channel.close()
        stack.stop()


def _status(call: Any) -> tuple[grpc.StatusCode, str | None]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), error_code_of(info.value)


def test_registry_lifecycle(api: Api) -> None:
    name = f"iris-{uuid.uuid4().hex[:6]}"
    out = api.registry(
        "CreateRegisteredModel",
        write_pb2.CreateRegisteredModelRequest(
            name=name, description="flowers", tags=[common_pb2.Tag(key="team", value="a")]
        ),
    )
    assert out.error_code == 0 and out.registered_model.name == name
    again = api.registry("CreateRegisteredModel", write_pb2.CreateRegisteredModelRequest(name=name))
    assert again.error_code == common_pb2.RESOURCE_ALREADY_EXISTS
    assert again.message == f"Registered Model (name={name}) already exists."
    versions = []
    for i in range(3):
        created = api.registry(
            "CreateModelVersion",
            write_pb2.CreateModelVersionRequest(
                name=name,
                source=f"s3://b/{i}",
                run_id="a" * 32,
                tags=[common_pb2.Tag(key="i", value=str(i))],
            ),
        )
        versions.append(created.version)
        assert created.model_version.source == f"s3://b/{i}"
        assert created.model_version.current_stage == "None"
    assert versions == [1, 2, 3]
    missing = api.registry(
        "SetRegisteredModelAlias",
        write_pb2.SetRegisteredModelAliasRequest(name=name, alias="champion", version=9),
    )
    assert missing.error_code == common_pb2.RESOURCE_DOES_NOT_EXIST
    api.registry(
        "SetRegisteredModelAlias",
        write_pb2.SetRegisteredModelAliasRequest(name=name, alias="champion", version=2),
    )
    api.registry(
        "TransitionModelVersionStage",
        write_pb2.TransitionModelVersionStageRequest(name=name, version=1, stage="staging"),
    )
    api.registry(
        "TransitionModelVersionStage",
        write_pb2.TransitionModelVersionStageRequest(
            name=name, version=3, stage="Staging", archive_existing_versions=True
        ),
    )
    by_alias = api.r(
        "GetModelVersionByAlias",
        query_pb2.GetModelVersionByAliasRequest(name=name, alias="champion"),
    ).model_version
    assert (by_alias.version, list(by_alias.aliases)) == (2, ["champion"])
    latest = api.r(
        "GetModelVersionByAlias", query_pb2.GetModelVersionByAliasRequest(name=name, alias="latest")
    ).model_version
    assert latest.version == 3
    model = api.r("GetRegisteredModel", query_pb2.GetRegisteredModelRequest(name=name)).model
    stages = {v.current_stage: v.version for v in model.latest_versions}
    assert stages == {"Archived": 1, "None": 2, "Staging": 3}
    assert [(a.alias, a.version) for a in model.aliases] == [("champion", 2)]
    assert model.description == "flowers" and {t.key: t.value for t in model.tags} == {"team": "a"}
    staging = api.r(
        "GetLatestVersions", query_pb2.GetLatestVersionsRequest(name=name, stages=["staging"])
    ).model_versions
    assert [v.version for v in staging] == [3]
    v1 = api.r("GetModelVersion", query_pb2.GetModelVersionRequest(name=name, version=1))
    assert {t.key: t.value for t in v1.model_version.tags} == {"i": "0"}
    # deleting a version keeps its number taken
    api.registry("DeleteModelVersion", write_pb2.ModelVersionRef(name=name, version=3))
    four = api.registry(
        "CreateModelVersion", write_pb2.CreateModelVersionRequest(name=name, source="s")
    )
    assert four.version == 4
    code = _status(
        lambda: api.r("GetModelVersion", query_pb2.GetModelVersionRequest(name=name, version=3))
    )
    assert code == (grpc.StatusCode.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
    # rename moves everything
    renamed = api.registry(
        "RenameRegisteredModel",
        write_pb2.RenameRegisteredModelRequest(name=name, new_name=f"{name}-2"),
    )
    assert renamed.error_code == 0 and renamed.registered_model.name == f"{name}-2"
    moved = api.r(
        "GetModelVersionByAlias",
        query_pb2.GetModelVersionByAliasRequest(name=f"{name}-2", alias="champion"),
    )
    assert moved.model_version.name == f"{name}-2" and moved.model_version.version == 2
    code = _status(
        lambda: api.r("GetRegisteredModel", query_pb2.GetRegisteredModelRequest(name=name))
    )
    assert code == (grpc.StatusCode.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")


def test_registry_searches_and_pages(api: Api) -> None:
    prefix = f"s{uuid.uuid4().hex[:6]}"
    for i in range(5):
        api.registry(
            "CreateRegisteredModel",
            write_pb2.CreateRegisteredModelRequest(
                name=f"{prefix}-{i}", tags=[common_pb2.Tag(key="parity", value=str(i % 2))]
            ),
        )
        api.registry(
            "CreateModelVersion",
            write_pb2.CreateModelVersionRequest(
                name=f"{prefix}-{i}", source=f"s3://{i}", run_id=f"{i}" * 32
            ),
        )
    api.registry(  # a prompt: left out of searches unless asked for
        "CreateRegisteredModel",
        write_pb2.CreateRegisteredModelRequest(
            name=f"{prefix}-prompt",
            tags=[common_pb2.Tag(key="mlflow.prompt.is_prompt", value="true")],
        ),
    )

    def models(filter_: str, order: tuple[str, ...] = (), size: int = 100) -> list[str]:
        names, token = [], ""
        for _ in range(20):
            page = api.r(
                "SearchRegisteredModels",
                query_pb2.SearchRegisteredModelsRequest(
                    filter=filter_, order_by=list(order), max_results=size, page_token=token
                ),
            )
            names += [m.name for m in page.models]
            token = page.next_page_token
            if not token:
                return names
        raise AssertionError("too many pages")

    all_ = [f"{prefix}-{i}" for i in range(5)]
    assert models(f"name LIKE '{prefix}-%'") == all_
    assert models(f"name LIKE '{prefix}-%'", size=2) == all_  # keyset pages
    assert models(f"name LIKE '{prefix}-%'", ("name DESC",), 2) == all_[::-1]
    assert models(f"name LIKE '{prefix}%' AND tags.parity = '1'") == all_[1::2]
    assert models(f"name ILIKE '{prefix.upper()}-%' AND tags.parity != '1'") == all_[0::2]
    assert models(f"name IN ('{prefix}-3', '{prefix}-9')") == [f"{prefix}-3"]
    assert models(f"tags.`mlflow.prompt.is_prompt` = 'true' AND name LIKE '{prefix}%'") == [
        f"{prefix}-prompt"
    ]
    versions = api.r(
        "SearchModelVersions",
        query_pb2.SearchModelVersionsRequest(
            filter=f"name LIKE '{prefix}-%' AND version_number = 1 AND run_id IN ('{'3' * 32}')"
        ),
    ).model_versions
    assert [(v.name, v.version) for v in versions] == [(f"{prefix}-3", 1)]
    for bad in ("name = 1", "version_number = 'x' AND", "tags.k IS NULL", "run.name = 'x'"):
        code = _status(
            lambda bad=bad: api.r(
                "SearchRegisteredModels", query_pb2.SearchRegisteredModelsRequest(filter=bad)
            )
        )
        assert code == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMETER_VALUE"), bad


def test_bad_registry_writes_are_named_errors(api: Api) -> None:
    code = _status(
        lambda: api.w("CreateRegisteredModel", write_pb2.CreateRegisteredModelRequest(name=""))
    )
    assert code == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMETER_VALUE")
    code = _status(
        lambda: api.w(
            "TransitionModelVersionStage",
            write_pb2.TransitionModelVersionStageRequest(name="x", version=1, stage="Live"),
        )
    )
    assert code == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMETER_VALUE")
    code = _status(
        lambda: api.r("GetWriteOutcome", query_pb2.GetWriteOutcomeRequest(event_id="f" * 32))
    )
    assert code == (grpc.StatusCode.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")


def test_logged_models_and_run_datasets(api: Api) -> None:
    exp = api.w(
        "CreateExperiment", write_pb2.CreateExperimentRequest(name=f"lm-{uuid.uuid4().hex[:6]}")
    ).experiment_id
    run = api.w("CreateRun", write_pb2.CreateRunRequest(experiment_id=exp, start_time=1)).run.run_id
    ids = []
    for i, (kind, alpha) in enumerate([("sk", "0.1"), ("sk", "0.5"), ("xgb", "0.9")]):
        created = api.w(
            "CreateLoggedModel",
            write_pb2.CreateLoggedModelRequest(
                experiment_id=exp,
                name=f"model{i}",
                artifact_location=f"file:///a/{i}",
                source_run_id=run,
                model_type=kind,
                params=[common_pb2.Param(key="alpha", value=alpha)],
            ),
        )
        ids.append(created.model_id)
        api.w(
            "LogModelMetrics",
            write_pb2.LogModelMetricsRequest(
                run_id=run,
                experiment_id=exp,
                metrics=[
                    common_pb2.Metric(
                        key="acc",
                        value=0.5 + i / 10,
                        timestamp=10,
                        step=0,
                        model_id=created.model_id,
                        dataset_name="iris",
                        dataset_digest="d1",
                    ),
                    common_pb2.Metric(
                        key="acc",
                        value=0.2 + i / 10,
                        timestamp=20,
                        step=1,
                        model_id=created.model_id,
                        dataset_name="iris",
                        dataset_digest="d1",
                    ),
                ],
            ),
        )
    api.w(
        "FinalizeLoggedModel",
        write_pb2.FinalizeLoggedModelRequest(model_id=ids[0], experiment_id=exp, status="READY"),
    )
    api.w(
        "SetLoggedModelTags",
        write_pb2.SetLoggedModelTagsRequest(
            model_id=ids[1], experiment_id=exp, tags=[common_pb2.Tag(key="best", value="yes")]
        ),
    )
    api.w("DeleteLoggedModel", write_pb2.LoggedModelRef(model_id=ids[2], experiment_id=exp))

    def search(
        filter_: str = "", order: tuple[query_pb2.LoggedModelOrder, ...] = (), **kw: Any
    ) -> list[str]:
        page = api.r(
            "SearchLoggedModels",
            query_pb2.SearchLoggedModelsRequest(
                experiment_ids=[exp], filter=filter_, order_by=list(order), **kw
            ),
        )
        return [m.model_id for m in page.models]

    assert sorted(search()) == sorted(ids[:2])  # the deleted one is gone
    assert search("metrics.acc > 0.55") == [ids[1]]  # any point counts
    assert search("params.alpha = '0.1' AND status = 'READY'") == [ids[0]]
    assert search("tags.best = 'yes'") == [ids[1]]
    latest_desc = (query_pb2.LoggedModelOrder(field_name="metrics.acc", ascending=False),)
    assert search(order=latest_desc) == [ids[1], ids[0]]  # by the latest point: .3 > .2
    assert search(datasets=[query_pb2.DatasetFilter(dataset_name="other")]) == []
    model = api.r("GetLoggedModel", query_pb2.GetLoggedModelRequest(model_id=ids[0])).model
    assert (model.status, model.model_type, model.source_run_id) == ("READY", "sk", run)
    assert [(m.value, m.dataset_digest) for m in model.metrics] == [(0.5, "d1"), (0.2, "d1")]
    code = _status(
        lambda: api.r("GetLoggedModel", query_pb2.GetLoggedModelRequest(model_id=ids[2]))
    )
    assert code == (grpc.StatusCode.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
    assert (
        api.r(
            "GetLoggedModel", query_pb2.GetLoggedModelRequest(model_id=ids[2], allow_deleted=True)
        ).model.lifecycle_stage
        == "deleted"
    )

    # a run's datasets: returned with the run, and datasets.* filters find it
    dataset = common_pb2.DatasetInput(
        dataset=common_pb2.Dataset(
            name="iris", digest="d1", source_type="code", source="{}", schema="{}"
        ),
        tags=[common_pb2.Tag(key="mlflow.data.context", value="train")],
    )
    api.w(
        "LogInputs", write_pb2.LogInputsRequest(run_id=run, experiment_id=exp, datasets=[dataset])
    )
    api.w(
        "LogOutputs",
        write_pb2.LogOutputsRequest(
            run_id=run, experiment_id=exp, models=[common_pb2.ModelOutput(model_id=ids[0], step=3)]
        ),
    )
    other = api.w(
        "CreateRun", write_pb2.CreateRunRequest(experiment_id=exp, start_time=2)
    ).run.run_id
    got = api.r("GetRun", query_pb2.GetRunRequest(run_id=run)).run
    assert [d.dataset.name for d in got.inputs.dataset_inputs] == ["iris"]
    assert got.inputs.dataset_inputs[0].dataset.schema == "{}"
    assert [(m.model_id, m.step) for m in got.outputs.models] == [(ids[0], 3)]

    def runs(filter_: str) -> list[str]:
        found = api.r(
            "SearchRuns", query_pb2.SearchRunsRequest(experiment_ids=[exp], filter=filter_)
        ).runs
        return [r.info.run_id for r in found]

    assert runs("datasets.name = 'iris'") == [run]
    assert runs("datasets.context = 'train' AND datasets.digest IN ('d1', 'd2')") == [run]
    assert runs("datasets.context = 'eval'") == []
    assert sorted(runs("")) == sorted([run, other])
    summaries = api.r(
        "SearchDatasets", query_pb2.SearchDatasetsRequest(experiment_ids=[exp])
    ).datasets
    assert [(d.name, d.digest, d.context) for d in summaries] == [("iris", "d1", "train")]
