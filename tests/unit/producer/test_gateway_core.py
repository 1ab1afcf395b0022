"""The gateway's logic (no gRPC): same validation as the SDK, partial acceptance, streams."""

from __future__ import annotations

import numpy as np
import pytest

from runstream.producer import commands
from runstream.producer.errors import ValidationError
from runstream.producer.gateway.core import ColumnsIn, GatewayCore, LogBatch
from runstream.proto import events as ev
from tests.unit.producer.fakes import FakeTransport

RUN = "c" * 32


def _columns(n: int, keys: tuple[str, ...] = ("loss",)) -> ColumnsIn:
    return ColumnsIn(
        keys,
        np.zeros(n, np.uint16),
        np.arange(n, dtype=float),
        np.arange(n),
        np.full(n, 5, np.int64),
    )


def test_log_batch_publishes_params_tags_and_columnar_metrics() -> None:
    fake = FakeTransport()
    core = GatewayCore(fake)
    result = core.log_batch(
        LogBatch(
            RUN,
            "3",
            metrics=(("acc", 0.5, 9, 1),),
            params=(("lr", "0.1"),),
            tags=(("t", "v"),),
            columns=_columns(1000),
        )
    )
    assert result.points == 1001 and result.events == 3
    assert result.token.offsets == ((0, 2),)
    kinds = [type(e.payload).__name__ for e in fake.events]
    assert kinds == ["ParamsLogged", "TagsSet", "MetricsLogged"]
    assert [e.seq for e in fake.events] == [0, 1, 2]
    assert {(e.run_id, e.experiment_id, e.producer_id) for e in fake.events} == {
        (RUN, "3", core.producer_id)
    }


def test_invalid_items_are_named_and_valid_ones_published() -> None:
    fake = FakeTransport()
    core = GatewayCore(fake)
    batch = LogBatch(
        RUN,
        metrics=(("ok", 1.0, 1, 0), ("bad/../k", 1.0, 1, 0), ("neg", 1.0, -1, 0)),
        params=(("p", "x" * 6001),),
    )
    with pytest.raises(ValidationError) as info:
        core.log_batch(batch)
    fields = [p.field for p in info.value.problems]
    assert fields == ["params[0].value", "metrics[1].key", "metrics[2].timestamp"]
    assert fake.points() == 1


def test_mlflow_row_limits_apply_to_log_batch() -> None:
    core = GatewayCore(FakeTransport())
    rows = tuple((f"k{i}", 1.0, 0, i) for i in range(1001))
    with pytest.raises(ValidationError) as info:
        core.log_batch(LogBatch(RUN, metrics=rows))
    assert info.value.field == "metrics"
    with pytest.raises(ValidationError) as info:
        core.log_batch(LogBatch("not/an/id"))
    assert info.value.field == "run_id"


def test_a_stream_publishes_up_to_the_first_bad_request() -> None:
    fake = FakeTransport()
    core = GatewayCore(fake)
    batches = [
        LogBatch(RUN, columns=_columns(10)),
        LogBatch(RUN, columns=_columns(10)),
        LogBatch(RUN, tags=(("", "v"),)),
        LogBatch(RUN, columns=_columns(10)),
    ]
    with pytest.raises(ValidationError) as info:
        core.log_stream(iter(batches))
    assert info.value.field == "requests[2].tags[0].key"
    assert fake.points() == 20
    result = core.log_stream(iter(batches[:2]))
    assert result.points == 20 and result.events == 2


def test_runs_and_experiments() -> None:
    fake = FakeTransport()
    core = GatewayCore(fake)
    eid, _ = core.create_experiment("exp", tags=[("k", "v")])
    info, token = core.create_run(eid, run_name="r", tags=[("a", "b")], parent_run_id=RUN)
    assert token and info.experiment_id == eid and info.run_name == "r"
    core.write(commands.update_run(info.run_id, "FINISHED", 5, experiment_id=eid))
    with pytest.raises(ValidationError) as err:
        core.write(commands.update_run(info.run_id, "DONE", experiment_id=eid))
    assert err.value.field == "status"
    with pytest.raises(ValidationError) as err:
        core.write(commands.rename_experiment(eid, ""))
    assert err.value.field == "new_name"
    created = fake.payloads(ev.RunCreated)[0]
    assert created.tags == {"a": "b", "mlflow.runName": "r", "mlflow.parentRunId": RUN}


def test_contexts_through_the_gateway_bad_ones_named_the_rest_published() -> None:
    fake = FakeTransport()
    core = GatewayCore(fake)
    columns = _columns(3)
    batch = LogBatch(
        RUN,
        metrics=(("a", 1.0, 1, 0), ("b", 2.0, 1, 0), ("c", 3.0, 1, 0), ("d", 4.0, 1, 0)),
        metric_contexts=({"rank": "1"}, {"rank": "x"}, {}, {"rank": "1", "device": "cuda:0"}),
        columns=ColumnsIn(
            columns.keys,
            columns.key_index,
            columns.values,
            columns.steps,
            columns.timestamps,
            {"rank": "2"},
        ),
    )
    with pytest.raises(ValidationError) as info:
        core.log_batch(batch)
    assert [p.field for p in info.value.problems] == ["metrics[1].context.rank"]
    got = {}
    for p in fake.payloads(ev.MetricsLogged):
        (ctx,) = p.context_table()
        for key in p.key_column():
            got.setdefault(ctx, []).append(key)
    assert got == {
        (("rank", "1"),): ["a"],
        (): ["c"],
        (("device", "cuda:0"), ("rank", "1")): ["d"],
        (("rank", "2"),): ["loss"] * 3,
    }
    bad_columns = LogBatch(
        RUN,
        columns=ColumnsIn(
            columns.keys,
            columns.key_index,
            columns.values,
            columns.steps,
            columns.timestamps,
            {f"k{i}": "v" for i in range(9)},
        ),
    )
    with pytest.raises(ValidationError) as info:
        core.log_batch(bad_columns)
    assert info.value.field == "metric_columns.context"
