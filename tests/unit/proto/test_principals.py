"""Principals and permissions: the principals file's parser (and every way it fails closed),
the permission rules, and the table of what each RPC needs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from runstream.proto.errors import SettingsError
from runstream.proto.permissions import (
    ANONYMOUS,
    NEEDS,
    ExperimentFacts,
    Permission,
    PermissionDeniedError,
    Principal,
    needed,
)
from runstream.proto.principals import (
    Principals,
    PrincipalsFileError,
    load_principals,
    parse_principals,
    token_digest,
)
from runstream.proto.v1 import common_pb2, query_pb2, write_pb2

READ, EDIT, MANAGE, NONE = (
    Permission.READ,
    Permission.EDIT,
    Permission.MANAGE,
    Permission.NO_PERMISSIONS,
)

GOOD = f"""
default_permission = "READ"

[[principal]]
name = "alice"
token = "alice-token"
grants = [
  {{ experiment = "churn", permission = "EDIT" }},
  {{ experiment_id = "42", permission = "MANAGE" }},
]

[[principal]]
name = "reader"
token_sha256 = "{hashlib.sha256(b"reader-token").hexdigest()}"
create_experiments = false

[[principal]]
name = "locked"
token = "locked-token"
default_permission = "NO_PERMISSIONS"

[[principal]]
name = "ops"
token = "ops-token"
admin = true
"""


def _principals(text: str = GOOD) -> Principals:
    return Principals(parse_principals(text, "p.toml"))


def test_a_good_file_maps_tokens_to_principals() -> None:
    principals = _principals()
    assert principals.names == ("alice", "locked", "ops", "reader")
    alice = principals.authenticate("alice-token")
    assert alice is not None and alice.name == "alice" and not alice.admin
    assert dict(alice.by_name) == {"churn": EDIT} and dict(alice.by_id) == {"42": MANAGE}
    reader = principals.authenticate("reader-token")  # by its SHA-256 only
    assert reader is not None and reader.default is READ and not reader.create_experiments
    locked = principals.authenticate("locked-token")
    assert locked is not None and locked.default is NONE
    ops = principals.authenticate("ops-token")
    assert ops is not None and ops.admin
    assert principals.authenticate("nobody's token") is None
    assert not principals.all_admins


def test_plain_tokens_are_admin_principals_named_by_digest(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# ops\nfirst-token\n")
    principals = load_principals(None, str(tokens), "second-token")
    assert principals is not None and principals.all_admins
    first = principals.authenticate("first-token")
    assert first is not None and first.admin
    assert first.name == "token:" + hashlib.sha256(b"first-token").hexdigest()[:12]
    assert principals.authenticate("second-token") is not None
    assert load_principals(None, None, None) is None  # auth off


def test_principals_and_plain_tokens_together(tmp_path: Path) -> None:
    file = tmp_path / "principals.toml"
    file.write_text(GOOD)
    principals = load_principals(str(file), None, "plain-token")
    assert principals is not None
    assert principals.authenticate("alice-token") is not None
    plain = principals.authenticate("plain-token")
    assert plain is not None and plain.admin
    with pytest.raises(PrincipalsFileError, match="also the token of principal 'alice'"):
        load_principals(str(file), None, "alice-token")


def _with(entry: str, top: str = "") -> str:
    return f'{top}\n[[principal]]\nname = "p"\n{entry}\n'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no \\[\\[principal\\]\\] table"),
        ('default_permission = "READ"\n', "no \\[\\[principal\\]\\] table"),
        ("# only a comment\n", "no \\[\\[principal\\]\\] table"),
        ("[[principal]\nname=1", "not valid TOML"),
        ('defualt_permission = "NO_PERMISSIONS"\n' + _with('token = "t"'), "unknown key"),
        (_with('token = "t"\nadmn = true'), "unknown key 'admn'"),
        (_with('token = "t"\nadmin = "yes"'), "must be true or false"),
        (_with('token = "t"\ncreate_experiments = 1'), "must be true or false"),
        (_with(""), "exactly one of 'token' and 'token_sha256'"),
        (_with('token = "t"\ntoken_sha256 = "' + "a" * 64 + '"'), "exactly one of"),
        (_with('token = ""'), "non-empty string"),
        (_with('token = "two words"'), "white space"),
        (_with('token_sha256 = "abc"'), "64 hex digits"),
        (_with('token = "t"\ndefault_permission = "WRITE"'), "'WRITE' is not a permission"),
        (_with('token = "t"', 'default_permission = "read"'), "'read' is not a permission"),
        (_with('token = "t"\ngrants = "EDIT"'), "array of tables"),
        (_with('token = "t"\ngrants = [{ permission = "EDIT" }]'), "exactly one of 'experiment'"),
        (
            _with(
                'token = "t"\ngrants = [{ experiment = "a", experiment_id = "1", '
                'permission = "EDIT" }]'
            ),
            "exactly one of 'experiment'",
        ),  # fmt: skip
        (_with('token = "t"\ngrants = [{ experiment = "a" }]'), "'permission' is missing"),
        (
            _with('token = "t"\ngrants = [{ experiment = "a", permission = "OWNER" }]'),
            "'OWNER' is not a permission",
        ),
        (
            _with('token = "t"\ngrants = [{ experiment = "a", permission = "EDIT", x = 1 }]'),
            "unknown key 'x'",
        ),
        (
            _with(
                'token = "t"\ngrants = [{ experiment = "a", permission = "EDIT" }, '
                '{ experiment = "a", permission = "READ" }]'
            ),
            "a second grant",
        ),  # fmt: skip
        ('[[principal]]\ntoken = "t"\n', "'name' is missing"),
        ('[[principal]]\nname = ""\ntoken = "t"\n', "non-empty string"),
        ('[[principal]]\nname = " padded"\ntoken = "t"\n', "without surrounding blanks"),
        ('[[principal]]\nname = "token:abc"\ntoken = "t"\n', "plain tokens' own"),
        (
            '[[principal]]\nname = "a"\ntoken = "t"\n[[principal]]\nname = "a"\ntoken = "u"\n',
            "a second principal of that name",
        ),
        (
            '[[principal]]\nname = "a"\ntoken = "t"\n[[principal]]\nname = "b"\ntoken = "t"\n',
            "holds the same token as principal 'a'",
        ),
        (
            '[[principal]]\nname = "a"\ntoken = "t"\n[[principal]]\nname = "b"\n'
            f'token_sha256 = "{hashlib.sha256(b"t").hexdigest()}"\n',
            "holds the same token as principal 'a'",
        ),
    ],
)
def test_the_parser_fails_closed(text: str, problem: str) -> None:
    with pytest.raises(PrincipalsFileError, match=problem) as info:
        parse_principals(text, "p.toml")
    assert isinstance(info.value, SettingsError)  # a named SettingsError
    assert "p.toml" in str(info.value)
    assert info.value.error_code == common_pb2.INVALID_PARAMETER_VALUE


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PrincipalsFileError, match="cannot read the principals file"):
        load_principals(str(tmp_path / "missing.toml"), None, None)
    (tmp_path / "latin1.toml").write_bytes(b'[[principal]]\nname = "\xe9"\n')
    with pytest.raises(PrincipalsFileError, match="cannot read"):
        load_principals(str(tmp_path / "latin1.toml"), None, None)


def test_a_token_file_without_tokens_still_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "tokens").write_text("# none\n")
    with pytest.raises(SettingsError, match="holds no token"):
        load_principals(None, str(tmp_path / "tokens"), None)


# -- the permission rules ---------------------------------------------------------------------


def test_first_matching_rule_decides() -> None:
    p = Principal("alice", default=READ, by_id={"1": NONE, "2": EDIT}, by_name={"churn": EDIT})
    assert p.permission_on(ExperimentFacts("1", "churn", "alice")) is NONE  # id grant first
    assert p.permission_on(ExperimentFacts("2", "x", "")) is EDIT
    assert p.permission_on(ExperimentFacts("3", "churn", "bob")) is EDIT  # name grant
    assert p.permission_on(ExperimentFacts("4", "mine", "alice")) is MANAGE  # creator
    assert p.permission_on(ExperimentFacts("5", "theirs", "bob")) is READ  # default
    assert p.permission_on(ExperimentFacts("6")) is READ  # unknown experiment
    admin = Principal("ops", admin=True, by_id={"1": NONE})
    assert admin.permission_on(ExperimentFacts("1")) is MANAGE
    # nobody is the creator of what was written without a principal
    assert Principal("", default=NONE).permission_on(ExperimentFacts("7", "", "")) is NONE


def test_require_names_the_experiment_and_the_permission() -> None:
    p = Principal("bob", default=EDIT)
    p.require(EDIT, ExperimentFacts("9", "churn", "alice"))
    with pytest.raises(PermissionDeniedError) as info:
        p.require(MANAGE, ExperimentFacts("9", "churn", "alice"))
    message = str(info.value)
    assert "'bob'" in message and "MANAGE" in message and "'9'" in message
    assert "'churn'" in message and "holds EDIT" in message
    assert info.value.error_code == common_pb2.PERMISSION_DENIED
    with pytest.raises(PermissionDeniedError, match="may not create experiments"):
        Principal("r", create_experiments=False).require_create("new")
    Principal("r").require_create("new")
    ANONYMOUS.require(MANAGE, ExperimentFacts("1"))


def test_when_facts_are_not_needed() -> None:
    assert Principal("a", admin=True).decided_without_facts("1", MANAGE)
    assert Principal("a", by_id={"1": READ}).decided_without_facts("1", MANAGE)
    assert Principal("a", default=EDIT).decided_without_facts("1", EDIT)
    # the creator rule may grant MANAGE; a name grant may say anything
    assert not Principal("a", default=EDIT).decided_without_facts("1", MANAGE)
    assert not Principal("a", default=MANAGE, by_name={"x": READ}).decided_without_facts("1", READ)


def test_every_rpc_has_a_needed_permission() -> None:
    for module, service in ((write_pb2, "WriteService"), (query_pb2, "QueryService")):
        descriptor = module.DESCRIPTOR.services_by_name[service]
        assert set(NEEDS[descriptor.full_name]) == {m.name for m in descriptor.methods}
    assert needed("runstream.v1.WriteService", "DeleteExperiment") is MANAGE
    assert needed("runstream.v1.WriteService", "LogBatch") is EDIT
    assert needed("runstream.v1.QueryService", "SearchRuns") is READ
    assert needed("runstream.v1.WriteService", "SomethingNew") is MANAGE  # fails closed


def test_token_digest_is_sha256() -> None:
    assert token_digest("abc") == hashlib.sha256(b"abc").digest()


def test_the_example_in_the_security_docs_parses() -> None:
    doc = Path(__file__).resolve().parents[3] / "docs" / "security.md"
    example = doc.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    principals = Principals(parse_principals(example, "docs/security.md"))
    alice = principals.authenticate("alice-example-token")
    assert alice is not None and dict(alice.by_name) == {"churn": EDIT}
    contractor = principals.authenticate("contractor-example-token")
    assert contractor is not None and contractor.default is NONE
    ops = principals.authenticate("ops-example-token")
    assert ops is not None and ops.admin
    dashboards = principals.authenticate("a-long-random-token")
    assert dashboards is not None and not dashboards.create_experiments


def test_the_registry_permission_is_the_default_one() -> None:
    from runstream.proto.permissions import REGISTRY_RPCS, PermissionDeniedError, Principal

    assert Principal("root", admin=True).registry_permission() is MANAGE
    reader = Principal("ann", default=READ, by_id={"1": MANAGE})  # grants are per experiment
    assert reader.registry_permission() is READ
    reader.require_registry(READ)
    with pytest.raises(PermissionDeniedError, match="model registry"):
        reader.require_registry(EDIT)
    Principal("bo", default=EDIT).require_registry(EDIT)
    with pytest.raises(PermissionDeniedError):
        Principal("bo", default=EDIT).require_registry(
            needed("runstream.v1.WriteService", "DeleteModelVersion")
        )
    services = {**NEEDS["runstream.v1.WriteService"], **NEEDS["runstream.v1.QueryService"]}
    assert set(services) >= REGISTRY_RPCS
