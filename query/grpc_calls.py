"""How every QueryService call runs, for the servicer and its model mixin alike."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

Response = TypeVar("Response")


class ReadServicer(Protocol):
    """What :func:`read_call` needs of a servicer."""

    _svc: Any  # the QueryService (its ``admission``)

    def _wait(self, read: Any, context: Any) -> None: ...


S = TypeVar("S", bound=ReadServicer)
Handler = Callable[[S, Any, Any], Response]


def read_call(handler: Handler[S, Response]) -> Handler[S, Response]:
    """Every QueryService call: a slot of the service's ``Admission`` for the whole call
    (RESOURCE_EXHAUSTED when none is free, so reads never hold every server thread), then
    the request's read-your-writes wait, then the read."""

    @functools.wraps(handler)
    def call(self: S, request: Any, context: Any) -> Response:
        with self._svc.admission.call():
            self._wait(request.read, context)
            return handler(self, request, context)

    return call
