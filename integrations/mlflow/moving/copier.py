"""Copy experiments and runs from a :class:`~.source.Source` into a :class:`~.target.Target`.

Nothing is sent that the target already holds: an experiment is found by name, a run by
its id; params, tags and datasets are compared; metric points are compared per run and
key as multisets (so a copy that stopped half way, or a source that grew, sends exactly
the points that are missing). A problem with one item is reported and counted, and the
copy goes on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from mlflow.entities import (
    Experiment,
    LifecycleStage,
    LoggedModelOutput,
    Param,
    Run,
    RunStatus,
    RunTag,
)
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, _validate_param, _validate_tag

from runstream.proto.vocabulary import (
    DEFAULT_EXPERIMENT_NAME,
    IMPORT_SOURCE_EXPERIMENT_ID_TAG,
    IMPORT_SOURCE_TAG,
    IMPORT_TAG_PREFIX,
)

from .models import LoggedModelCopier
from .report import Summary, progress
from .source import Source
from .target import Points, Target, missing, tally

CHUNK = 100  # params or tags per request (MLflow's batch limit)
Write = Callable[[], None]


def public_uri(uri: str) -> str:
    """``uri`` without a user or password."""
    scheme, sep, rest = uri.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


class Copier:
    def __init__(
        self,
        source: Source,
        target: Target,
        summary: Summary,
        *,
        mark_imports: bool,
        dry_run: bool = False,
    ) -> None:
        self.source = source
        self.target = target
        self.summary = summary
        self.mark_imports = mark_imports  # record the source's experiment ids as tags
        self.dry_run = dry_run
        self._models = False  # the source has logged models

    # ------------------------------------------------------------------ experiments

    def run(self, experiment_names: list[str] | None = None) -> None:
        everything = self.source.experiments()
        chosen = everything
        if experiment_names:
            chosen = [e for e in everything if e.name in set(experiment_names)]
            for name in sorted(set(experiment_names) - {e.name for e in chosen}):
                self.summary.problem("experiment", repr(name), "not in the source")
        else:
            known = {str(e.experiment_id) for e in everything}
            for run_id, experiment_id in self.source.orphan_runs(known):
                self.summary.problem(
                    "run", run_id, f"its experiment {experiment_id} does not exist in the source"
                )
        targets: dict[str, str] = {}
        for exp in progress(chosen, "experiments", len(chosen), "exp"):
            try:
                targets[str(exp.experiment_id)] = self._experiment(exp)
            except MlflowException as exc:
                self.summary.problem("experiment", repr(exp.name), exc.message)
        self.summary.experiment_ids.update(targets)
        runs = [
            (exp, run)
            for exp in chosen
            if str(exp.experiment_id) in targets
            for run in self.source.runs(str(exp.experiment_id))
        ]
        # MLflow's searches leave the runs' model inputs out: read per run, only when the
        # source has logged models at all.
        self._models = any(self.source.logged_models(s) for s in targets)
        held: dict[str, Run] = {}
        for target_id in set(targets.values()):
            if target_id:
                held.update(self.target.runs_of(target_id))
        # The source is read here, in order; each group of runs is written by the driver
        # thread while the next group is read (the read overlaps the writes).
        with (
            ThreadPoolExecutor(max_workers=self.target.parallel) as pool,
            ThreadPoolExecutor(max_workers=1) as driver,
        ):
            pending: deque[Future[None]] = deque()
            group: list[tuple[str, Run, Run | None, Points]] = []
            for exp, run in progress(runs, "runs", len(runs), "run"):
                points = self._source_points(run)
                target_id = targets[str(exp.experiment_id)]
                group.append((target_id, run, held.get(run.info.run_id), points))
                if len(group) >= self.target.parallel:
                    pending.append(driver.submit(self._copy_group, pool, group))
                    group = []
                    while len(pending) > 1:
                        pending.popleft().result()
            if group:
                pending.append(driver.submit(self._copy_group, pool, group))
            for future in pending:
                future.result()
        run_experiments = {run.info.run_id: targets[str(e.experiment_id)] for e, run in runs}
        models = LoggedModelCopier(self.source, self.target, self.summary, self.dry_run)
        models.run(targets, run_experiments)
        for exp in chosen:  # deleted after their runs and models were written
            target_id = targets.get(str(exp.experiment_id), "")
            if exp.lifecycle_stage == LifecycleStage.DELETED and target_id:
                current = self.target.experiment_by_name(exp.name)
                if current is None or current.lifecycle_stage != LifecycleStage.DELETED:
                    self.summary.wrote("experiment deleted")
                    if not self.dry_run:
                        self.target.set_experiment_deleted(target_id, True)
        if not self.dry_run:
            self.target.settle()

    def _experiment(self, exp: Experiment) -> str:
        tags = {k: v for k, v in exp.tags.items() if not k.startswith(IMPORT_TAG_PREFIX)}
        if self.mark_imports and exp.name != DEFAULT_EXPERIMENT_NAME:
            # ("Default" is "0" on both sides: nothing to map)
            tags[IMPORT_SOURCE_EXPERIMENT_ID_TAG] = str(exp.experiment_id)
            tags[IMPORT_SOURCE_TAG] = public_uri(self.source.uri)
        current = self.target.experiment_by_name(exp.name)
        if current is None:
            self.summary.wrote("experiment")
            if self.dry_run:
                return ""
            return self.target.create_experiment(exp.name, exp.artifact_location, tags)
        self.summary.found("experiment")
        target_id = str(current.experiment_id)
        if current.lifecycle_stage == LifecycleStage.DELETED:
            self.summary.wrote("experiment restored")
            if not self.dry_run:
                self.target.set_experiment_deleted(target_id, False)
        for key, value in tags.items():
            if current.tags.get(key) != value:
                self.summary.wrote("experiment tag")
                if not self.dry_run:
                    self.target.set_experiment_tag(target_id, key, value)
            else:
                self.summary.found("experiment tag")
        return target_id

    # ------------------------------------------------------------------------ runs

    def _plan(
        self, experiment_id: str, run: Run, held: Run | None, source: Points
    ) -> list[list[Write]]:
        """What the target lacks of ``run`` (counted), as the writes to send: steps, in
        order; the writes of one step in any order (the run's creation or restore, then
        its params, tags, points, inputs and update, then its deletion)."""
        info, run_id, t = run.info, run.info.run_id, self.target
        params = self._params(run, held)
        tags = self._tags(run, held)
        points = self._points(run, held, source)
        inputs = run.inputs.dataset_inputs if run.inputs else []
        had = set()
        if held is not None and held.inputs:
            had = {(d.dataset.name, d.dataset.digest) for d in held.inputs.dataset_inputs}
        new = [d for d in inputs if (d.dataset.name, d.dataset.digest) not in had]
        self.summary.wrote("dataset input", len(new))
        self.summary.found("dataset input", len(inputs) - len(new))
        model_inputs, model_outputs = self._model_io(run, held)
        end, name = info.end_time, info.run_name or ""
        if held is None:
            update = info.status != RunStatus.to_string(RunStatus.RUNNING) or end is not None
        else:
            update = (held.info.status, held.info.end_time, held.info.run_name or "") != (
                info.status,
                end,
                name,
            )
        deleted = info.lifecycle_stage == LifecycleStage.DELETED
        was_deleted = held is not None and held.info.lifecycle_stage == LifecycleStage.DELETED
        changes = bool(
            params or tags or len(points) or new or update or model_inputs or model_outputs
        )
        first: list[Write] = []  # what the other writes need: the run, active
        if held is None:
            self.summary.wrote("run")
            first.append(partial(t.create_run, experiment_id, run))
        else:
            self.summary.found("run")
        restore = was_deleted and (changes or not deleted)
        if restore:  # a deleted run is written to only once restored
            self.summary.wrote("run restored")
            first.append(partial(t.set_run_deleted, experiment_id, run_id, False))
        # Params and tags in chunks, the points with the last one: one request for most
        # runs (each request is a round trip and its own events on the log). Chunks hold
        # distinct keys, so they, the inputs and the update may be sent in any order.
        writes: list[Write] = []
        starts = list(range(0, max(len(params), len(tags)), CHUNK)) or ([0] if len(points) else [])
        for i in starts:
            chunk = (params[i : i + CHUNK], tags[i : i + CHUNK])
            last = points if i == starts[-1] else Points()
            writes.append(partial(t.log, experiment_id, run_id, *chunk, last))
        if new:
            writes.append(partial(t.log_inputs, experiment_id, run_id, new))
        if model_inputs or model_outputs:
            writes.append(
                partial(t.log_model_io, experiment_id, run_id, model_inputs, model_outputs)
            )
        later: list[Write] = []
        if update:
            self.summary.wrote("run update")
            # An update names the run (the mlflow.runName tag too): alongside the log only
            # when the tags logged agree with that name, else after them, so the name wins.
            agrees = all(g.value == name for g in tags if g.key == MLFLOW_RUN_NAME)
            (writes if agrees else later).append(
                partial(t.update_run, experiment_id, run_id, info.status, end, name)
            )
        last_steps: list[Write] = []
        if deleted and (restore or not was_deleted):
            self.summary.wrote("run deleted")
            last_steps.append(partial(t.set_run_deleted, experiment_id, run_id, True))
        return [step for step in (first, writes, later, last_steps) if step]

    def _copy_group(
        self, pool: ThreadPoolExecutor, group: list[tuple[str, Run, Run | None, Points]]
    ) -> None:
        """In the driver thread: the runs of ``group`` planned, then written step by step:
        every run's first step at once (for a new run its creation), then every run's
        second (its log requests and update), and so on; a run's steps stay in order. The
        events of the group's runs so reach the log together, and ingest applies them in a
        few batches rather than a batch or two a run. A failure is that run's problem; its
        later steps are not sent."""
        plans = list(pool.map(lambda one: self._planned(*one), group))
        live = [(run, plan) for (_, run, _, _), plan in zip(group, plans, strict=True) if plan]
        step = 0
        while live and not self.dry_run:
            sent = [(run, plan, [pool.submit(w) for w in plan[step]]) for run, plan in live]
            live = []
            for run, plan, futures in sent:
                failures = []
                for future in futures:
                    try:
                        future.result()
                    except MlflowException as exc:
                        failures.append(exc.message)
                if failures:
                    self.summary.problem("run", run.info.run_id, "; ".join(failures))
                elif step + 1 < len(plan):
                    live.append((run, plan))
            step += 1

    def _planned(
        self, experiment_id: str, run: Run, held: Run | None, points: Points
    ) -> list[list[Write]]:
        """In a worker thread: what the target lacks of the run, as steps of writes; a
        failure to find out is that run's problem (nothing written)."""
        try:
            return self._plan(experiment_id, run, held, points)
        except MlflowException as exc:
            self.summary.problem("run", run.info.run_id, exc.message)
            return []

    def _model_io(self, run: Run, held: Run | None) -> tuple[list[str], list[LoggedModelOutput]]:
        """The logged models the run consumed and produced that the target lacks."""
        inputs = self.source.model_inputs(run.info.run_id) if self._models else []
        outputs = list((run.outputs.model_outputs if run.outputs else None) or [])
        had_in: set[str] = set()
        had_out: set[tuple[str, int]] = set()
        if held is not None:
            had_in = set(self.target.model_inputs(run.info.run_id)) if inputs else set()
            had_out = {
                (m.model_id, m.step)
                for m in (held.outputs.model_outputs if held.outputs else None) or []
            }
        new_in = [m for m in dict.fromkeys(inputs) if m not in had_in]
        new_out = [m for m in outputs if (m.model_id, m.step) not in had_out]
        self.summary.wrote("model input", len(new_in))
        self.summary.found("model input", len(set(inputs)) - len(new_in))
        self.summary.wrote("model output", len(new_out))
        self.summary.found("model output", len(outputs) - len(new_out))
        return new_in, new_out

    def _params(self, run: Run, held: Run | None) -> list[Param]:
        had = held.data.params if held is not None else {}
        out: list[Param] = []
        for key, value in run.data.params.items():
            if key in had:
                if had[key] in (value, value[:MAX_PARAM_VAL_LENGTH]):
                    self.summary.found("param")
                else:
                    self.summary.problem(
                        "param",
                        f"run {run.info.run_id} param {key}",
                        f"the target holds another value ({had[key][:40]!r})",
                    )
                continue
            try:
                param = _validate_param(key, value)
            except MlflowException as exc:
                self.summary.problem("param", f"run {run.info.run_id} param {key}", exc.message)
                continue
            if param.value != value:
                self.summary.problem(
                    "param", f"run {run.info.run_id} param {key}", _truncated(value, param.value),
                    outcome="truncated",
                )  # fmt: skip
            out.append(param)
        self.summary.wrote("param", len(out))
        return out

    def _tags(self, run: Run, held: Run | None) -> list[RunTag]:
        had = held.data.tags if held is not None else {}
        out: list[RunTag] = []
        for key, value in run.data.tags.items():
            if had.get(key) == value:
                self.summary.found("tag")
                continue
            try:
                tag = _validate_tag(key, value)
            except MlflowException as exc:
                self.summary.problem("tag", f"run {run.info.run_id} tag {key}", exc.message)
                continue
            if tag.value != value:
                if had.get(key) == tag.value:
                    self.summary.found("tag")
                    continue
                self.summary.problem(
                    "tag", f"run {run.info.run_id} tag {key}", _truncated(value, tag.value),
                    outcome="truncated",
                )  # fmt: skip
            out.append(tag)
        self.summary.wrote("tag", len(out))
        return out

    def _source_points(self, run: Run) -> Points:
        run_id = run.info.run_id
        source = Points()
        found = self.source.run_points(run_id, sorted(run.data.metrics), source)
        for key, infinities in sorted(found.items()):
            if infinities:
                self.summary.problem(
                    "metric",
                    f"run {run_id} metric {key}",
                    f"{infinities} value(s) stored as +-1.797e308 (MLflow's SQL store has no "
                    "infinities): written as +-inf",
                    outcome="converted",
                )
        return source

    def _points(self, run: Run, held: Run | None, source: Points) -> Points:
        """The points the target lacks. A key whose count and latest (step, timestamp) the
        target already has is complete (MLflow's points are never changed, only added);
        only the histories of the other keys are read and compared point by point."""
        run_id = run.info.run_id
        send = Points()
        tallies = None
        if held is not None and any(k in held.data.metrics for k in source.values):
            tallies = self.target.tallies(run_id)
        for key in source.values:
            values, steps, stamps = source.values[key], source.steps[key], source.timestamps[key]
            if held is not None and key in held.data.metrics:
                if tallies is not None and tallies.get(key) == tally(steps, stamps):
                    self.summary.found("metric point", len(values))
                    continue
                have = self.target.history(run_id, key)
                self.summary.found("metric point", min(sum(have.values()), len(values)))
                values, steps, stamps = missing(values, steps, stamps, have)
            send.extend(key, values, steps, stamps)
        self.summary.wrote("metric point", len(send))
        return send


def _truncated(value: str, kept: str) -> str:
    return (
        f"is {len(value)} characters long, more than the store keeps: its first {len(kept)} "
        "were written (MLflow's client truncates it the same way)"
    )
