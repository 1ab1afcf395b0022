"""The gateway's permission checks (no gRPC): what each write needs, when it looks facts up,
the creator rule through a directory that applies creations, the principal on every
event.  The directory is a fake of the ``Directory`` port; the real one is tested end to
end in tests/integration/infra/test_permissions.py."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from runstream.producer import commands
from runstream.producer.gateway.access import UnknownRunError, WriteAccess
from runstream.producer.gateway.core import GatewayCore, LogBatch
from runstream.proto.permissions import (
    ExperimentFacts,
    Permission,
    PermissionDeniedError,
    Principal,
)
from runstream.proto.tokens import WriteToken
from runstream.proto.vocabulary import experiment_id_for_name
from tests.unit.producer.fakes import FakeTransport

RUN = "c" * 32
READ, EDIT, MANAGE = Permission.READ, Permission.EDIT, Permission.MANAGE


class FakeDirectory:
    """Knows what a test put in it; ``pending`` creations become visible only to a lookup
    that waits for their token (as the query service does after ingest applied them)."""

    def __init__(self) -> None:
        self.experiments: dict[str, ExperimentFacts] = {}
        self.pending: dict[str, ExperimentFacts] = {}
        self.runs: dict[str, str] = {}
        self.lookups: list[tuple[str, object]] = []

    def experiment_facts(
        self, experiment_ids: Collection[str], after: WriteToken | None = None
    ) -> dict[str, ExperimentFacts]:
        self.lookups.append(("experiments", after))
        if after:
            self.experiments.update(self.pending)
            self.pending.clear()
        return {e: self.experiments[e] for e in experiment_ids if e in self.experiments}

    def run_experiments(self, run_ids: Collection[str]) -> dict[str, str]:
        self.lookups.append(("runs", None))
        return {r: self.runs[r] for r in run_ids if r in self.runs}


def _gateway() -> tuple[GatewayCore, FakeTransport, FakeDirectory]:
    transport, directory = FakeTransport(), FakeDirectory()
    return GatewayCore(transport, access=WriteAccess(directory)), transport, directory


ALICE = Principal("alice", default=READ)
BOB = Principal("bob", default=EDIT)
OPS = Principal("ops", admin=True)


def test_admins_never_look_anything_up() -> None:
    core, transport, directory = _gateway()
    core.write(commands.delete_experiment("5"), principal=OPS, needed=MANAGE)
    core.log_batch(LogBatch(RUN, params=(("a", "1"),)), OPS)
    assert directory.lookups == []
    assert {e.principal for e in transport.events} == {"ops"}


def test_a_reader_cannot_write_and_nothing_is_published() -> None:
    core, transport, directory = _gateway()
    directory.experiments["5"] = ExperimentFacts("5", "theirs", "bob")
    with pytest.raises(PermissionDeniedError, match="'alice' lacks EDIT on experiment '5'"):
        core.log_batch(LogBatch(RUN, "5", params=(("a", "1"),)), ALICE)
    with pytest.raises(PermissionDeniedError, match="lacks EDIT"):
        core.create_run("5", principal=ALICE)
    with pytest.raises(PermissionDeniedError, match="lacks MANAGE"):
        core.write(commands.delete_experiment("5"), principal=ALICE, needed=MANAGE)
    assert transport.events == []


def test_the_creator_manages_what_it_created_once_ingest_applied_it() -> None:
    core, transport, directory = _gateway()
    eid, token = core.create_experiment("bobs", principal=BOB)
    assert eid == experiment_id_for_name("bobs") and transport.events[-1].principal == "bob"
    # ingest has not applied the creation yet: only a lookup that waits for it sees it
    directory.pending[eid] = ExperimentFacts(eid, "bobs", "bob")
    core.write(commands.delete_experiment(eid), principal=BOB, needed=MANAGE)
    assert directory.lookups[-1] == ("experiments", token)
    # another EDIT principal may write into it but not delete it
    carol = Principal("carol", default=EDIT)
    core.log_batch(LogBatch(RUN, eid, params=(("a", "1"),)), carol)
    with pytest.raises(PermissionDeniedError, match="'carol' lacks MANAGE"):
        core.write(commands.delete_experiment(eid), principal=carol, needed=MANAGE)


def test_a_second_create_of_a_taken_name_grants_nothing() -> None:
    core, _, directory = _gateway()
    eid = experiment_id_for_name("alices")
    directory.experiments[eid] = ExperimentFacts(eid, "alices", "alice")
    core.create_experiment("alices", principal=BOB)  # ingest will refuse it: it exists
    with pytest.raises(PermissionDeniedError, match="'bob' lacks MANAGE"):
        core.write(commands.delete_experiment(eid), principal=BOB, needed=MANAGE)


def test_runs_resolve_to_their_experiment() -> None:
    core, transport, directory = _gateway()
    directory.experiments["9"] = ExperimentFacts("9", "locked", "ops")
    directory.runs[RUN] = "9"
    reader = Principal("r", default=EDIT, by_id={"9": READ})
    with pytest.raises(PermissionDeniedError, match="lacks EDIT on experiment '9'"):
        core.log_batch(LogBatch(RUN, params=(("a", "1"),)), reader)
    with pytest.raises(UnknownRunError, match="does not exist"):
        core.log_batch(LogBatch("d" * 32, params=(("a", "1"),)), reader)
    # a run this gateway created is known without a lookup; the header carries its experiment
    info, _ = core.create_run("10", principal=reader)
    before = len(directory.lookups)
    core.log_batch(LogBatch(info.run_id, params=(("a", "1"),)), reader)
    assert len(directory.lookups) == before
    assert transport.events[-1].experiment_id == "10" and transport.events[-1].principal == "r"


def test_name_grants_follow_the_experiments_name() -> None:
    core, _, directory = _gateway()
    directory.experiments["3"] = ExperimentFacts("3", "churn", "ops")
    directory.experiments["4"] = ExperimentFacts("4", "other", "ops")
    p = Principal("p", default=READ, by_name={"churn": EDIT})
    core.log_batch(LogBatch(RUN, "3", params=(("a", "1"),)), p)
    with pytest.raises(PermissionDeniedError, match="experiment '4'"):
        core.log_batch(LogBatch(RUN, "4", params=(("a", "1"),)), p)


def test_a_stream_stops_at_the_first_batch_it_may_not_write() -> None:
    core, transport, directory = _gateway()
    directory.experiments["1"] = ExperimentFacts("1", "mine", "p")
    directory.experiments["2"] = ExperimentFacts("2", "theirs", "q")
    p = Principal("p", default=READ)
    batches = [
        LogBatch(RUN, "1", params=(("a", "1"),)),
        LogBatch(RUN, "2", params=(("b", "1"),)),
        LogBatch(RUN, "1", params=(("c", "1"),)),
    ]
    with pytest.raises(PermissionDeniedError, match="experiment '2'"):
        core.log_stream(iter(batches), p)
    assert [e.payload.keys for e in transport.events] == [("a",)]  # type: ignore[union-attr]


def test_experiments_cannot_be_created_without_the_right() -> None:
    core, transport, _ = _gateway()
    with pytest.raises(PermissionDeniedError, match="may not create experiments"):
        core.create_experiment("x", principal=Principal("r", create_experiments=False))
    assert transport.events == []
