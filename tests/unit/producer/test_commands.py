"""The write-command builders (``producer/commands.py``): one validation and one encoding of
every non-metric write, shared by the SDK client and the gateway."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runstream.producer import RunstreamClient, commands
from runstream.producer import system_tags as st
from runstream.producer.errors import ValidationError
from runstream.producer.gateway.core import GatewayCore
from runstream.producer.ids import now_ms
from runstream.producer.settings import ProducerSettings
from runstream.proto import events as ev
from runstream.proto.vocabulary import experiment_id_for_name
from tests.unit.producer.fakes import FakeTransport

RUN = "a" * 32
PARENT = "b" * 32


def _field(call: Callable[[], object]) -> str:
    """The first field the ValidationError of ``call()`` names."""
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.field


# -- experiments ---------------------------------------------------------------------------


def test_create_experiment_derives_the_id_and_takes_tags_as_a_mapping_or_pairs() -> None:
    built = commands.create_experiment("mnist", None, {"team": "vision", "n": 3})
    assert built.experiment_id == experiment_id_for_name("mnist")
    assert built.payload == ev.ExperimentCreated("mnist", "", {"team": "vision", "n": "3"})
    pairs = commands.create_experiment("mnist", "", [("team", "vision"), ("n", 3)])
    assert pairs == built
    given = commands.create_experiment("mnist", "s3://b/x", experiment_id="42")
    assert given.experiment_id == "42"
    assert given.payload == ev.ExperimentCreated("mnist", "s3://b/x", {})


def test_create_experiment_refuses_and_names_bad_input() -> None:
    assert _field(lambda: commands.create_experiment("")) == "name"
    assert _field(lambda: commands.create_experiment("x" * 501)) == "name"
    assert _field(lambda: commands.create_experiment("e", experiment_id="-bad")) == "experiment_id"
    assert _field(lambda: commands.create_experiment("e", tags={"a/../b": "v"})) == "tags[0].key"
    long_value = {"ok": "v", "long": "x" * 5001}  # experiment tags: at most 5,000
    assert _field(lambda: commands.create_experiment("e", tags=long_value)) == "tags[1].value"


def test_experiment_lifecycle_commands() -> None:
    assert commands.rename_experiment("7", "new") == commands.ExperimentCommand(
        "7", ev.ExperimentRenamed("new")
    )
    assert commands.delete_experiment("7").payload == ev.ExperimentDeleted()
    assert commands.restore_experiment("7").payload == ev.ExperimentRestored()
    assert commands.set_experiment_tag("7", "k", 5).payload == ev.ExperimentTagSet("k", "5")
    assert _field(lambda: commands.rename_experiment("7", " ")) == "new_name"
    assert _field(lambda: commands.delete_experiment("")) == "experiment_id"
    assert _field(lambda: commands.restore_experiment("a b")) == "experiment_id"
    assert _field(lambda: commands.set_experiment_tag("7", "", "v")) == "key"
    assert _field(lambda: commands.set_experiment_tag("7", "k", "x" * 5001)) == "value"
    assert _field(lambda: commands.set_experiment_tag("7", "k", None)) == "value"


def test_ids_are_checked_before_the_other_fields() -> None:
    assert _field(lambda: commands.rename_experiment("", "")) == "experiment_id"
    assert _field(lambda: commands.set_experiment_tag("", "", None)) == "experiment_id"
    assert _field(lambda: commands.delete_tag("", "")) == "run_id"
    assert _field(lambda: commands.update_run("", status="DONE")) == "run_id"


# -- runs ----------------------------------------------------------------------------------


def test_create_run_defaults() -> None:
    before = now_ms()
    new = commands.create_run()
    after = now_ms()
    info, payload = new.info, new.payload
    assert info.experiment_id == "0" and len(info.run_id) == 32 and int(info.run_id, 16) >= 0
    assert info.run_name and info.status == payload.status == "RUNNING"
    assert before <= info.start_time == payload.start_time <= after
    assert payload.tags == {st.RUN_NAME: info.run_name}  # nothing invented
    assert payload.user_id == info.user_id == ""
    assert new.command == commands.RunCommand(info.run_id, "0", (payload,))


def test_create_run_names_users_and_tags() -> None:
    from_tags = commands.create_run(
        "5", tags=[(st.RUN_NAME, "tagged"), (st.USER, "ana"), ("t", 1)], run_id=RUN
    )
    assert (from_tags.info.run_name, from_tags.info.user_id) == ("tagged", "ana")
    assert from_tags.payload.tags == {st.RUN_NAME: "tagged", st.USER: "ana", "t": "1"}
    explicit = commands.create_run("5", "named", "bo", 0, {st.RUN_NAME: "tagged"}, PARENT, RUN)
    assert (explicit.info.run_name, explicit.info.user_id) == ("named", "bo")
    assert explicit.info.start_time == 0  # 0 is a time; only None means now
    assert explicit.payload.parent_run_id == explicit.info.parent_run_id == PARENT
    assert explicit.payload.tags == {st.RUN_NAME: "named", st.PARENT_RUN_ID: PARENT}
    # An empty name or user means "not given", whichever side calls.
    empty = commands.create_run("5", "", "", tags={st.RUN_NAME: "t", st.USER: "u"})
    assert (empty.info.run_name, empty.info.user_id) == ("t", "u")


def test_process_tags_lie_under_the_request_tags() -> None:
    process = {st.USER: "proc-user", st.HOST: "node-1", st.RUN_NAME: "ignored"}
    new = commands.create_run(
        tags={st.HOST: "mine"}, run_name="r", process_tags=process, run_id=RUN
    )
    assert new.payload.tags == {st.USER: "proc-user", st.HOST: "mine", st.RUN_NAME: "r"}
    assert new.info.user_id == "proc-user"


def test_create_run_refuses_and_names_bad_input() -> None:
    assert _field(lambda: commands.create_run("bad id")) == "experiment_id"
    assert _field(lambda: commands.create_run(run_id="-x")) == "run_id"
    assert _field(lambda: commands.create_run(parent_run_id="p/q")) == "parent_run_id"
    assert _field(lambda: commands.create_run(tags={"ok": "v", "": "v"})) == "tags[1].key"
    assert _field(lambda: commands.create_run(run_name="n" * 251)) == "run_name"
    assert _field(lambda: commands.create_run(start_time=-1)) == "start_time"
    # Process tags are the caller's own facts: they are not the request's to refuse.
    assert commands.create_run(process_tags={st.HOST: "h"}).payload.tags[st.HOST] == "h"


def test_update_run_and_the_run_name_tag() -> None:
    done = commands.update_run(RUN, "FINISHED", 9, experiment_id="5")
    assert done == commands.RunCommand(RUN, "5", (ev.RunUpdated(status="FINISHED", end_time=9),))
    renamed = commands.update_run(RUN, run_name="better")
    assert renamed.payloads == (
        ev.RunUpdated(run_name="better"),
        ev.TagsSet((st.RUN_NAME,), ("better",)),
    )
    assert commands.update_run(RUN).payloads == (ev.RunUpdated(),)
    assert _field(lambda: commands.update_run(RUN, status="DONE")) == "status"
    assert _field(lambda: commands.update_run(RUN, end_time=-5)) == "end_time"
    assert _field(lambda: commands.update_run(RUN, run_name="n" * 251)) == "run_name"
    assert _field(lambda: commands.update_run(RUN, experiment_id="?")) == "experiment_id"


def test_delete_restore_and_tag_deletion() -> None:
    before = now_ms()
    (deleted,) = commands.delete_run(RUN).payloads
    assert isinstance(deleted, ev.RunDeleted) and deleted.deleted_time >= before
    assert commands.delete_run(RUN, "5", 3).payloads == (ev.RunDeleted(deleted_time=3),)
    assert commands.restore_run(RUN, "5") == commands.RunCommand(RUN, "5", (ev.RunRestored(),))
    assert commands.delete_tag(RUN, "k").payloads == (ev.TagDeleted("k"),)
    assert _field(lambda: commands.delete_tag(RUN, "../k")) == "key"
    assert _field(lambda: commands.restore_run("")) == "run_id"


# -- params and tags -----------------------------------------------------------------------


def test_params_keep_the_good_items_and_name_the_bad_ones() -> None:
    built = commands.log_params([("lr", 0.1), ("", "x"), ("lr", 0.2), ("big", "v" * 6001)])
    assert built.payload == ev.ParamsLogged(("lr",), ("0.1",))
    assert [p.field for p in built.problems] == [
        "params[1].key",
        "params[2].key",
        "params[3].value",
    ]
    nothing = commands.log_params([("", "x")], "requests[2].params")
    assert nothing.payload is None and nothing.problems[0].field == "requests[2].params[0].key"
    assert commands.log_params([]) == commands.Accepted(None, ())


def test_tags_keep_the_good_items_and_name_the_bad_ones() -> None:
    built = commands.set_tags([("a", 1), ("a/./b", "v"), ("c", None), ("d", "w")], "tags")
    assert built.payload == ev.TagsSet(("a", "d"), ("1", "w"))
    assert [p.field for p in built.problems] == ["tags[1].key", "tags[2].value"]


# -- both sides build alike ------------------------------------------------------------------


def test_the_client_and_the_gateway_publish_the_same_commands() -> None:
    """The same request through the SDK client and through the gateway core: the same
    events, except the system tags the SDK adds from its own process."""
    sdk_transport, gateway_transport = FakeTransport(), FakeTransport()
    settings = ProducerSettings(uri="kafka://fake:9092", linger_ms=5, flush_timeout_s=5)
    core = GatewayCore(gateway_transport)
    tags = {"team": "vision", st.USER: "ana"}
    with RunstreamClient(settings=settings, transport=sdk_transport) as client:
        eid = client.create_experiment("shared", tags={"k": "v"})
        client.create_run(eid, tags=tags, run_name="r", parent_run_id=PARENT, run_id=RUN)
        client.update_run(RUN, status="KILLED", name="r2")
        client.delete_tag(RUN, "team")
        client.delete_run(RUN)
        client.restore_run(RUN)
        client.set_experiment_tag(eid, "k", "w")
        client.rename_experiment(eid, "shared-2")
        client.flush()
    assert core.create_experiment("shared", tags=[("k", "v")])[0] == eid
    core.create_run(eid, "r", "", None, list(tags.items()), PARENT, RUN)
    core.write(commands.update_run(RUN, status="KILLED", run_name="r2", experiment_id=eid))
    core.write(commands.delete_tag(RUN, "team", eid))
    core.write(commands.delete_run(RUN, eid))
    core.write(commands.restore_run(RUN, eid))
    core.write(commands.set_experiment_tag(eid, "k", "w"))
    core.write(commands.rename_experiment(eid, "shared-2"))

    def shape(transport: FakeTransport) -> list[tuple[str, str, object]]:
        out: list[tuple[str, str, object]] = []
        for e in transport.events:
            payload = e.payload
            seen: object = payload
            if isinstance(payload, ev.RunCreated):
                own = {k: v for k, v in payload.tags.items() if k in (*tags, st.RUN_NAME)}
                parent = payload.tags.get(st.PARENT_RUN_ID)
                seen = (payload.run_name, payload.user_id, payload.parent_run_id, own, parent)
            if isinstance(payload, ev.RunDeleted):
                seen = "RunDeleted"  # stamped with each side's clock
            out.append((e.run_id, e.experiment_id, seen))
        return out

    assert shape(sdk_transport) == shape(gateway_transport)
    (sdk_created,) = [
        e.payload for e in sdk_transport.events if isinstance(e.payload, ev.RunCreated)
    ]
    (gw_created,) = [
        e.payload for e in gateway_transport.events if isinstance(e.payload, ev.RunCreated)
    ]
    assert st.HOST in sdk_created.tags and st.HOST not in gw_created.tags
    assert sdk_created.user_id == gw_created.user_id == "ana"
