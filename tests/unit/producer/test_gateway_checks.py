"""The gateway core's stamping of resent requests and its run checks (issue 11, items 4, 5),
with a fake transport and a fake RunDirectory (the port the stack wires to its query side)."""

from __future__ import annotations

import pytest

from runstream.producer import commands
from runstream.producer.errors import InvalidStateError, NotFoundError, ValidationError
from runstream.producer.gateway import GatewayCore, LogBatch, Origin, RunFacts
from runstream.producer.ids import origin_seq
from runstream.proto import events as ev
from runstream.proto.tokens import WriteToken
from tests.unit.producer.fakes import FakeTransport

RUN = "c" * 32


class FakeDirectory:
    """What a read side knows; ``asked`` records each question."""

    def __init__(self, runs: dict[str, RunFacts] | None = None) -> None:
        self.runs = runs or {}
        self.asked: list[tuple[str, WriteToken]] = []

    def run_facts(self, run_id: str, after: WriteToken) -> RunFacts | None:
        self.asked.append((run_id, after))
        return self.runs.get(run_id)


def test_a_resent_request_is_stamped_as_its_first_sending() -> None:
    fake = FakeTransport()
    core = GatewayCore(fake)
    batch = LogBatch(RUN, params=(("lr", "0.1"),), tags=(("t", "v"),), origin=Origin("p1", 7, 2))
    core.log_batch(batch)
    core.log_batch(batch)  # the SDK resent it after a timeout
    first, second = fake.events[:2], fake.events[2:]
    assert [(e.producer_id, e.seq) for e in first] == [
        ("p1", origin_seq(7, 2, 0)),
        ("p1", origin_seq(7, 2, 1)),
    ]
    assert [(e.producer_id, e.seq) for e in second] == [(e.producer_id, e.seq) for e in first]
    assert origin_seq(7, 2, 1) < origin_seq(7, 3, 0) < origin_seq(8, 0, 0)
    core.log_batch(LogBatch(RUN, params=(("bs", "1"),)))  # no origin: the gateway's own
    assert fake.events[-1].producer_id == core.producer_id


@pytest.mark.parametrize(
    ("origin", "field"),
    [
        (Origin("", 1), "origin.producer_id"),
        (Origin("p", -1), "origin.seq"),
        (Origin("p", 2**43), "origin.seq"),
        (Origin("p", 1, 1024), "origin.part"),
    ],
)
def test_a_bad_origin_is_refused_by_name(origin: Origin, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        GatewayCore(FakeTransport()).log_batch(LogBatch(RUN, params=(("a", "1"),), origin=origin))
    assert info.value.field == field


def test_without_a_directory_what_the_gateway_wrote_itself_is_checked() -> None:
    fake = FakeTransport()
    core = GatewayCore(fake)
    info, _ = core.create_run("5")
    core.log_batch(LogBatch(info.run_id, params=(("lr", "0.1"),)))
    with pytest.raises(ValidationError) as error:
        core.log_batch(LogBatch(info.run_id, "6", params=(("x", "1"),)))
    assert error.value.field == "experiment_id"
    with pytest.raises(ValidationError) as error:
        core.log_batch(LogBatch(info.run_id, params=(("lr", "0.2"), ("bs", "32"))))
    assert error.value.field == "params[0].value" and error.value.accepted == 1
    assert fake.events[-1].payload == ev.ParamsLogged(("bs",), ("32",))
    core.write(commands.delete_run(info.run_id))
    with pytest.raises(InvalidStateError, match="deleted"):
        core.log_batch(LogBatch(info.run_id, params=(("y", "1"),)))
    core.write(commands.restore_run(info.run_id))
    core.log_batch(LogBatch(info.run_id, params=(("y", "1"),)))
    core.log_batch(LogBatch("d" * 32, params=(("y", "1"),)))  # never seen: not checked


def test_with_a_directory_unknown_runs_are_not_found_and_deleted_runs_refused() -> None:
    directory = FakeDirectory(
        {
            "a" * 32: RunFacts("a" * 32, "1", "active", {"lr": "0.1"}),
            "b" * 32: RunFacts("b" * 32, "1", "deleted"),
        }
    )
    core = GatewayCore(FakeTransport(), runs=directory, lifecycle_ttl_s=0)
    with pytest.raises(NotFoundError):
        core.log_batch(LogBatch("f" * 32, params=(("a", "1"),)))
    with pytest.raises(NotFoundError):
        core.write(commands.update_run("f" * 32, status="FINISHED"))
    with pytest.raises(ValidationError, match="write-once"):
        core.log_batch(LogBatch("a" * 32, params=(("lr", "0.3"),)))
    with pytest.raises(InvalidStateError):
        core.log_batch(LogBatch("b" * 32, tags=(("t", "v"),)))
    core.write(commands.restore_run("b" * 32))  # restore is allowed on a deleted run
    directory.runs["b" * 32] = RunFacts("b" * 32, "1", "active")  # the read side applied it
    core.log_batch(LogBatch("b" * 32, tags=(("t", "v"),)))
    assert directory.asked[-1][1].offsets  # asked as of the gateway's own write to it


def test_a_run_created_here_is_never_reported_missing() -> None:
    core = GatewayCore(FakeTransport(), runs=FakeDirectory(), lifecycle_ttl_s=0)
    info, _ = core.create_run("0")  # the read side has not applied it yet
    core.log_batch(LogBatch(info.run_id, params=(("lr", "0.1"),)))


def test_a_run_is_asked_about_as_of_its_stage_writes_not_of_its_logging() -> None:
    """Logging to a run without pause must not make each question wait for ingest to apply
    that logging: the question waits for the writes that set the run's stage (here its
    creation, then a delete), while params the gateway published win over the read side."""
    directory = FakeDirectory()
    core = GatewayCore(FakeTransport(), runs=directory, lifecycle_ttl_s=0)
    info, created = core.create_run("0")
    directory.runs[info.run_id] = RunFacts(info.run_id, "0", "active")  # applied, no params
    core.log_batch(LogBatch(info.run_id, params=(("lr", "0.1"),)))
    logged = core.log_batch(LogBatch(info.run_id, tags=(("t", "v"),)))
    assert logged.token.offset_map[0] > created.offset_map[0]
    assert directory.asked[-1] == (info.run_id, created)  # not as of the logging
    with pytest.raises(ValidationError, match="write-once"):  # its own param, still unread
        core.log_batch(LogBatch(info.run_id, params=(("lr", "0.2"),)))
    deleted = core.write(commands.delete_run(info.run_id)).token
    directory.runs[info.run_id] = RunFacts(info.run_id, "0", "deleted")
    with pytest.raises(InvalidStateError):
        core.log_batch(LogBatch(info.run_id, tags=(("t", "w"),)))
    assert directory.asked[-1] == (info.run_id, created.merge(deleted))
