"""Copy the model registry between two MLflow registry stores: registered models (tags,
description, aliases), their versions (source, run, tags, description, stage) with the
same numbers: a number the source no longer has (a deleted version) is taken and deleted
again in the target, so the numbers after it agree."""

from __future__ import annotations

from typing import Any

from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException

from .report import Summary, progress

PLACEHOLDER_SOURCE = "runstream-import:deleted-version"


def _all(search: Any, **kwargs: Any) -> list[Any]:
    found: list[Any] = []
    token = None
    while True:
        page = search(max_results=1000, page_token=token, **kwargs)
        found.extend(page)
        token = page.token
        if not token:
            return found


class RegistryCopier:
    def __init__(self, source: Any, target: Any, summary: Summary, dry_run: bool) -> None:
        self.source = source
        self.target = target
        self.summary = summary
        self.dry_run = dry_run

    def run(self) -> None:
        models = _all(self.source.search_registered_models, filter_string=None, order_by=None)
        for model in progress(models, "registered models", len(models), "model"):
            try:
                self._model(model)
            except MlflowException as exc:
                self.summary.problem("registered model", repr(model.name), exc.message)

    def _held(self, name: str) -> RegisteredModel | None:
        try:
            return self.target.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _model(self, model: RegisteredModel) -> None:
        name, dry = model.name, self.dry_run
        if "'" in name:
            raise MlflowException(f"a name with a quote cannot be searched for: {name!r}")
        held = self._held(name)
        if held is None:
            self.summary.wrote("registered model")
            if not dry:
                self.target.create_registered_model(
                    name,
                    list(model.tags and [_tag(k, v) for k, v in model.tags.items()] or []),
                    model.description,
                )
        else:
            self.summary.found("registered model")
            if (held.description or "") != (model.description or "") and not dry:
                self.target.update_registered_model(name, model.description or "")
            for key, value in model.tags.items():
                if held.tags.get(key) == value:
                    continue
                self.summary.wrote("model tag")
                if not dry:
                    self.target.set_registered_model_tag(name, _tag(key, value))
        versions = {
            int(v.version): v
            for v in _all(self.source.search_model_versions, filter_string=f"name='{name}'")
        }
        have: dict[int, ModelVersion] = {}
        if held is not None:
            have = {
                int(v.version): v
                for v in _all(self.target.search_model_versions, filter_string=f"name='{name}'")
            }
        for number in range(1, max(versions, default=0) + 1):
            self._version(name, number, versions.get(number), have.get(number))
        target_aliases = dict(held.aliases) if held is not None else {}
        for alias, version in (model.aliases or {}).items():
            if str(target_aliases.get(alias)) == str(version):
                self.summary.found("alias")
                continue
            self.summary.wrote("alias")
            if not dry:
                self.target.set_registered_model_alias(name, alias, str(version))

    def _version(
        self, name: str, number: int, version: ModelVersion | None, held: ModelVersion | None
    ) -> None:
        dry = self.dry_run
        if held is not None:
            self.summary.found("model version")
        elif version is None:  # a number the source's deleted version took
            self.summary.wrote("deleted version")
            if not dry:
                made = self.target.create_model_version(name, PLACEHOLDER_SOURCE)
                self.target.delete_model_version(name, made.version)
            return
        else:
            self.summary.wrote("model version")
            if dry:
                return
            held = self.target.create_model_version(
                name,
                version.source,
                run_id=version.run_id,
                tags=[_version_tag(k, v) for k, v in version.tags.items()],
                run_link=version.run_link,
                description=version.description,
            )
            if int(held.version) != number:
                raise MlflowException(
                    f"version {number} became version {held.version} in the target "
                    "(the target's model has versions the source does not)"
                )
        if version is None or dry:
            return
        for key, value in version.tags.items():
            if held.tags.get(key) != value:
                self.summary.wrote("version tag")
                self.target.set_model_version_tag(name, str(number), _version_tag(key, value))
        if (held.description or "") != (version.description or ""):
            self.target.update_model_version(name, str(number), version.description or "")
        if held.current_stage != version.current_stage:
            self.summary.wrote("version stage")
            self.target.transition_model_version_stage(
                name, str(number), version.current_stage, archive_existing_versions=False
            )


def _tag(key: str, value: str) -> Any:
    from mlflow.entities.model_registry import RegisteredModelTag

    return RegisteredModelTag(key, value)


def _version_tag(key: str, value: str) -> Any:
    from mlflow.entities.model_registry import ModelVersionTag

    return ModelVersionTag(key, value)
