"""Who may call runstream's servers: the principals file, the plain token file, and the
registry that maps a bearer token to its :class:`~runstream.proto.permissions.Principal`.

The principals file is TOML (``--auth-principals FILE`` / ``RUNSTREAM_AUTH_PRINCIPALS``)::

    default_permission = "READ"          # experiments without a grant (MLflow's default)

    [[principal]]
    name = "alice"
    token_sha256 = "5e884898da28..."     # hex SHA-256 of the token (or: token = "...")
    grants = [
      { experiment = "churn", permission = "EDIT" },      # by current name
      { experiment_id = "42", permission = "MANAGE" },    # by id
    ]

    [[principal]]
    name = "ops"
    token_sha256 = "..."
    admin = true

Optional per principal: ``admin`` (every permission everywhere), ``default_permission``
(this principal's own default), ``create_experiments`` (default true: may create
experiments, and MANAGE what it created).  The plain token file (and
``RUNSTREAM_AUTH_TOKENS``) keeps working: each token is an admin principal named
``token:<first 12 hex digits of its SHA-256>``.

Parsing fails closed: anything it does not understand (an unknown key, a bad permission
word, a duplicate token, no principal at all) is a :class:`PrincipalsFileError` naming the
file and the place, and the server does not start.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .credentials import load_tokens
from .errors import SettingsError, echo
from .permissions import Permission, Principal

TOKEN_PREFIX = "token:"  # names of the principals of plain tokens
MAX_NAME_CHARS = 200

_TOP_KEYS = frozenset({"default_permission", "principal"})
_PRINCIPAL_KEYS = frozenset(
    {"name", "token", "token_sha256", "admin", "default_permission", "create_experiments", "grants"}
)
_GRANT_KEYS = frozenset({"experiment", "experiment_id", "permission"})
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class PrincipalsFileError(SettingsError):
    """A principals file that cannot be used: names the file, the place and the problem."""


def token_digest(token: str) -> bytes:
    """The SHA-256 of a bearer token (what the registry keys principals by)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def token_principal_name(token: str) -> str:
    return TOKEN_PREFIX + token_digest(token).hex()[:12]


@dataclass(frozen=True)
class Principals:
    """Token digest -> principal, for every principal a server accepts."""

    by_digest: Mapping[bytes, Principal]

    def __post_init__(self) -> None:
        if not self.by_digest:
            raise SettingsError("auth needs at least one token or principal")

    def authenticate(self, token: str) -> Principal | None:
        """The principal of ``token``; None for a token nobody holds."""
        return self.by_digest.get(token_digest(token))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted({p.name for p in self.by_digest.values()}))

    @property
    def all_admins(self) -> bool:
        """True when no principal is restricted (plain tokens only): no check needs facts."""
        return all(p.admin for p in self.by_digest.values())

    @classmethod
    def of_tokens(cls, tokens: Iterable[str]) -> Principals:
        """Plain tokens, each an admin principal."""
        return cls(
            {token_digest(t): Principal(token_principal_name(t), admin=True) for t in tokens}
        )


# -- the principals file -------------------------------------------------------------------


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PrincipalsFileError(
            f"{where}: unknown key {echo(unknown[0])} (known: {', '.join(sorted(allowed))})"
        )


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PrincipalsFileError(f"{where}: must be a non-empty string, got {echo(value)}")
    return value


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise PrincipalsFileError(f"{where}: must be true or false, got {echo(value)}")
    return value


def _permission(value: object, where: str) -> Permission:
    try:
        return Permission.parse(value, where)
    except PrincipalsFileError:
        raise
    except SettingsError as exc:
        raise PrincipalsFileError(str(exc)) from None


def _name(value: object, where: str) -> str:
    name = _text(value, where)
    if len(name) > MAX_NAME_CHARS or not name.isprintable() or name != name.strip():
        raise PrincipalsFileError(
            f"{where}: a name is printable, without surrounding blanks, at most "
            f"{MAX_NAME_CHARS} characters: {echo(name)}"
        )
    if name.startswith(TOKEN_PREFIX):
        raise PrincipalsFileError(
            f"{where}: names starting with {TOKEN_PREFIX!r} are the plain tokens' own"
        )
    return name


def _digest(entry: Mapping[str, Any], where: str) -> bytes:
    has_token, has_digest = "token" in entry, "token_sha256" in entry
    if has_token == has_digest:
        raise PrincipalsFileError(f"{where}: give exactly one of 'token' and 'token_sha256'")
    if has_token:
        token = _text(entry["token"], f"{where}.token")
        if any(ch.isspace() for ch in token):
            raise PrincipalsFileError(f"{where}.token: a token must not contain white space")
        return token_digest(token)
    digest = entry["token_sha256"]
    if not isinstance(digest, str) or not _HEX64.match(digest):
        raise PrincipalsFileError(
            f"{where}.token_sha256: must be 64 hex digits (the SHA-256 of the token)"
        )
    return bytes.fromhex(digest)


def _grants(value: object, where: str) -> tuple[dict[str, Permission], dict[str, Permission]]:
    if not isinstance(value, list):
        raise PrincipalsFileError(f"{where}: must be an array of tables, got {echo(value)}")
    by_id: dict[str, Permission] = {}
    by_name: dict[str, Permission] = {}
    for i, grant in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(grant, dict):
            raise PrincipalsFileError(f"{at}: must be a table, got {echo(grant)}")
        _check_keys(grant, _GRANT_KEYS, at)
        if ("experiment" in grant) == ("experiment_id" in grant):
            raise PrincipalsFileError(f"{at}: give exactly one of 'experiment' and 'experiment_id'")
        if "permission" not in grant:
            raise PrincipalsFileError(f"{at}: 'permission' is missing")
        permission = _permission(grant["permission"], f"{at}.permission")
        key, target = (
            ("experiment_id", by_id) if "experiment_id" in grant else ("experiment", by_name)
        )
        experiment = _text(grant[key], f"{at}.{key}")
        if experiment in target:
            raise PrincipalsFileError(f"{at}: a second grant on {key} {echo(experiment)}")
        target[experiment] = permission
    return by_id, by_name


def parse_principals(text: str, source: str) -> dict[bytes, Principal]:
    """Token digest -> principal, from a principals file's text."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PrincipalsFileError(f"{source}: not valid TOML: {exc}") from None
    _check_keys(document, _TOP_KEYS, source)
    default = _permission(
        document.get("default_permission", Permission.READ.name), f"{source}: default_permission"
    )
    entries = document.get("principal")
    if not isinstance(entries, list) or not entries:
        raise PrincipalsFileError(
            f"{source}: no [[principal]] table: refusing to start with nobody allowed in"
        )
    found: dict[bytes, Principal] = {}
    names: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{source}: principal[{i}]"
        if not isinstance(entry, dict):
            raise PrincipalsFileError(f"{where}: must be a table")
        _check_keys(entry, _PRINCIPAL_KEYS, where)
        if "name" not in entry:
            raise PrincipalsFileError(f"{where}: 'name' is missing")
        name = _name(entry["name"], f"{where}.name")
        where = f"{source}: principal {echo(name)}"
        if name in names:
            raise PrincipalsFileError(f"{where}: a second principal of that name")
        names.add(name)
        digest = _digest(entry, where)
        if digest in found:
            raise PrincipalsFileError(
                f"{where}: holds the same token as principal {echo(found[digest].name)}"
            )
        by_id, by_name = _grants(entry.get("grants", []), f"{where}.grants")
        found[digest] = Principal(
            name=name,
            admin=_flag(entry.get("admin", False), f"{where}.admin"),
            default=_permission(
                entry.get("default_permission", default.name), f"{where}.default_permission"
            ),
            by_id=by_id,
            by_name=by_name,
            create_experiments=_flag(
                entry.get("create_experiments", True), f"{where}.create_experiments"
            ),
        )
    return found


def load_principals(
    principals_file: str | None, token_file: str | None, env_tokens: str | None
) -> Principals | None:
    """Every principal a server accepts: the principals file's and the plain tokens' (file
    and/or comma-separated ``RUNSTREAM_AUTH_TOKENS``).  None when none of the three is
    given (auth off); a :class:`SettingsError` for anything that would weaken auth."""
    found: dict[bytes, Principal] = {}
    if principals_file:
        try:
            text = Path(principals_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PrincipalsFileError(
                f"cannot read the principals file {principals_file}: {exc}"
            ) from None
        found.update(parse_principals(text, principals_file))
    if token_file or env_tokens:
        for token in load_tokens(token_file, env_tokens):
            digest = token_digest(token)
            if digest in found:
                raise PrincipalsFileError(
                    f"a plain token is also the token of principal {echo(found[digest].name)} "
                    f"in {principals_file}: give each token once"
                )
            found[digest] = Principal(token_principal_name(token), admin=True)
    if not (principals_file or token_file or env_tokens):
        return None
    return Principals(found)
