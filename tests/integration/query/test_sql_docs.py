"""Every worked example in docs/sql.md runs against the analyst views and prints exactly
the result shown there.  ``RUNSTREAM_UPDATE_SQL_DOCS=1`` rewrites the shown results."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from runstream.proto import events as ev
from runstream.query import QueryService
from tests.integration.query.rows import Writer, project_events

DOC = Path(__file__).resolve().parents[3] / "docs" / "sql.md"
_EXAMPLE = re.compile(r"```sql\n(?P<sql>.*?)```\n\n```text\n(?P<out>.*?)```", re.S)


def demo_dataset(w: Writer) -> None:
    """The dataset the examples in docs/sql.md run on."""
    w.experiment(
        "1",
        "mnist",
        creation_time=1_767_225_600_000,
        last_update_time=1_767_225_600_000,
        tags={"team": "vision"},
        created_by="ann",
    )
    w.audit("ann", "ExperimentCreated", "1", client_ts=1_767_225_600_000)
    runs = [
        ("a1", "adam", "0.001"),
        ("a2", "adam", "0.01"),
        ("s1", "sgd", "0.01"),
        ("s2", "sgd", "0.1"),
        ("s3", "sgd", "0.001"),
    ]
    t0 = 1_767_229_200_000  # 2026-01-01 01:00 UTC
    for i, (rid, opt, lr) in enumerate(runs):
        status = "FAILED" if rid == "s2" else "FINISHED"
        user = "ann" if i % 2 else "bob"
        started = t0 + i * 600_000
        w.run(
            rid,
            "1",
            run_name=f"{opt}-{lr}",
            user_id=user,
            start_time=started,
            created_by=user,
        )
        w.params("1", rid, {"optimizer": opt, "lr": lr, "epochs": "10"})
        w.tags("1", rid, {"mlflow.runName": f"{opt}-{lr}", "stage": "sweep"})
        points = []
        for step in range(10):
            loss = round((1.0 + i * 0.1) * math.exp(-step * (0.3 if opt == "adam" else 0.15)), 4)
            if rid == "s2" and step == 6:
                loss = 25.0  # a divergence spike
            points.append(("loss", loss, step, t0 + i * 600_000 + step * 30_000))
        points.append(("accuracy", round(0.99 - i * 0.02, 3), 9, t0 + i * 600_000 + 270_000))
        w.metrics("1", rid, points)
        w.run(rid, "1", status=status, end_time=t0 + i * 600_000 + 300_000)
        # what ingest records of the events that wrote it (audit_events)
        w.audit(user, "RunCreated", "1", rid, client_ts=started)
        w.audit(user, "ParamsLogged", "1", rid, client_ts=started, items=3)
        w.audit(user, "TagsSet", "1", rid, client_ts=started, items=2)
        w.audit(user, "MetricsLogged", "1", rid, client_ts=started + 270_000, items=11)
        w.audit(user, "RunUpdated", "1", rid, client_ts=started + 300_000)
    # a later attempt to change a param of someone else's run, refused by ingest
    w.audit("bob", "ParamsLogged", "1", "a2", client_ts=t0 + 3_600_000, outcome="param-conflict")
    project_events(w.client, model_events(t0))


def model_events(t0: int) -> list[ev.RunEvent]:
    """The model half of the demo: each adam run logged a model and registered it; the
    runs trained on one dataset and were evaluated on another."""
    out: list[ev.RunEvent] = []

    def add(payload: ev.Payload, run_id: str = "", experiment_id: str = "", at: int = 0) -> None:
        out.append(
            ev.RunEvent(
                f"{len(out):032x}", run_id, experiment_id, "doc", len(out), t0 + at, payload
            )
        )

    train = ev.DatasetInput(
        "mnist-train",
        "5f1a",
        "http",
        '{"url": "https://example.com/train"}',
        None,
        None,
        {"mlflow.data.context": "training"},
    )
    test = ev.DatasetInput(
        "mnist-test",
        "9c2e",
        "http",
        '{"url": "https://example.com/test"}',
        None,
        None,
        {"mlflow.data.context": "eval"},
    )
    for rid in ("a1", "a2", "s1", "s2", "s3"):
        add(ev.InputsLogged((train, test), ()), rid, "1")
    add(
        ev.RegisteredModelCreated("mnist-classifier", "digits, 28x28", {"team": "vision"}),
        at=3_600_000,
    )
    for i, rid in enumerate(("a1", "a2")):
        model_id = f"m-{i + 1:032x}"
        add(
            ev.LoggedModelCreated(
                model_id, "model", f"s3://mlruns/1/models/{model_id}/artifacts", rid, "sklearn"
            ),
            experiment_id="1",
            at=i * 600_000 + 300_000,
        )
        add(ev.LoggedModelFinalized(model_id, "READY"), experiment_id="1", at=i * 600_000 + 301_000)
        add(ev.OutputsLogged((model_id,), (9,)), rid, "1")
        accuracy = 0.99 - i * 0.02
        add(
            ev.ModelMetricsLogged(
                (
                    ev.ModelMetricPoint(
                        "accuracy",
                        accuracy,
                        t0 + i * 600_000 + 270_000,
                        9,
                        model_id,
                        "mnist-test",
                        "9c2e",
                    ),
                )
            ),
            rid,
            "1",
        )
        add(
            ev.ModelVersionCreated(
                "mnist-classifier",
                f"models:/{model_id}",
                rid,
                model_id=model_id,
                storage_location=f"s3://mlruns/1/models/{model_id}/artifacts",
            ),
            at=3_600_000 + i * 60_000,
        )
    add(ev.ModelVersionStageTransitioned("mnist-classifier", 1, "Production"), at=3_700_000)
    add(ev.ModelVersionStageTransitioned("mnist-classifier", 2, "Staging"), at=3_700_000)
    add(ev.RegisteredModelAliasSet("mnist-classifier", "champion", 1), at=3_700_000)
    add(ev.RegisteredModelAliasSet("mnist-classifier", "challenger", 2), at=3_700_000)
    return out


def _run(client: object, sql: str) -> str:
    raw = client.raw_query(sql, fmt="PrettyCompactMonoBlock")  # type: ignore[attr-defined]
    return bytes(raw).decode()


def test_sql_examples_in_the_docs(service: QueryService, writer: Writer) -> None:
    demo_dataset(writer)
    text = DOC.read_text()
    examples = list(_EXAMPLE.finditer(text))
    assert len(examples) >= 5
    if os.environ.get("RUNSTREAM_UPDATE_SQL_DOCS") == "1":

        def fill(m: re.Match[str]) -> str:
            return f"```sql\n{m['sql']}```\n\n```text\n{_run(writer.client, m['sql'])}```"

        DOC.write_text(_EXAMPLE.sub(fill, text))
        return
    for m in examples:
        assert _run(writer.client, m["sql"]) == m["out"], m["sql"]
