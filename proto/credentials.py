"""Bearer tokens, read one way for every server: a token file (one per line, ``#``
comments) and/or ``RUNSTREAM_AUTH_TOKENS``.  Fails closed: auth that was asked for never
silently turns off."""

from __future__ import annotations

from pathlib import Path

from .errors import SettingsError


def parse_tokens(text: str, source: str) -> tuple[str, ...]:
    """Tokens from a token file's text: one per line; blank lines and lines whose first
    non-blank character is ``#`` are skipped.  A token holding white space is refused."""
    tokens: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        token = line.strip()
        if not token or token.startswith("#"):
            continue
        if any(ch.isspace() for ch in token):
            raise SettingsError(f"{source}:{number}: a token must not contain white space")
        tokens.append(token)
    return tuple(tokens)


def load_tokens(token_file: str | None, env_value: str | None) -> tuple[str, ...]:
    """Tokens from a file and/or a comma-separated value (``RUNSTREAM_AUTH_TOKENS``).

    Fails closed: when either is given but no token results, :class:`SettingsError` —
    auth that was asked for never silently turns off."""
    tokens: list[str] = []
    if token_file:
        try:
            text = Path(token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"cannot read the auth token file {token_file}: {exc}") from None
        tokens += parse_tokens(text, token_file)
    if env_value:
        tokens += parse_tokens(env_value.replace(",", "\n"), "RUNSTREAM_AUTH_TOKENS")
    if (token_file or env_value) and not tokens:
        where = token_file or "RUNSTREAM_AUTH_TOKENS"
        raise SettingsError(f"auth is on but {where} holds no token: refusing to start open")
    return tuple(dict.fromkeys(tokens))
