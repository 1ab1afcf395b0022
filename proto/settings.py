"""The one settings reader every process uses: environment variables read with a type,
a default and bounds, and an error that names the variable and the value it holds.

    env = Env(os.environ, error=ConfigError)
    workers = env.integer("RUNSTREAM_QUERY_WORKERS", 16, minimum=1)

Each package builds its own frozen settings object from it (``ProducerSettings``,
``IngestSettings``, ``QuerySettings``, ``StackSettings``), so every variable is read one way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import RunstreamError, SettingsError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class Env:
    """Typed reads of one environment mapping.  An empty variable counts as unset."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        error: type[RunstreamError] = SettingsError,
    ) -> None:
        self._env = os.environ if env is None else env
        self._error = error

    def _raw(self, name: str) -> str | None:
        raw = self._env.get(name)
        return None if raw is None or raw.strip() == "" else raw.strip()

    def fail(self, name: str, raw: str, expected: str) -> RunstreamError:
        shown = raw if len(raw) <= 80 else raw[:80] + "..."
        return self._error(f"{name}={shown!r}: {expected}")

    def has(self, name: str) -> bool:
        return self._raw(name) is not None

    def text(self, name: str, default: str) -> str:
        raw = self._raw(name)
        return default if raw is None else raw

    def optional(self, name: str) -> str | None:
        return self._raw(name)

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.fail(name, raw, "must be an integer") from None
        self._bounds(name, raw, value, minimum, maximum)
        return value

    def number(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self.fail(name, raw, "must be a number") from None
        if value != value:  # NaN
            raise self.fail(name, raw, "must be a number")
        self._bounds(name, raw, value, minimum, maximum)
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise self.fail(name, raw, "must be one of 1/0, true/false, yes/no, on/off")

    def items(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A comma-separated list, blanks dropped."""
        raw = self._raw(name)
        if raw is None:
            return default
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def _bounds(
        self,
        name: str,
        raw: str,
        value: float,
        minimum: float | None,
        maximum: float | None,
    ) -> None:
        if minimum is not None and value < minimum:
            raise self.fail(name, raw, f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise self.fail(name, raw, f"must be at most {maximum}")
