"""gRPC plumbing shared by every runstream server and client: the error-code -> status map
and its interceptor (:mod:`.status`), authentication that puts the caller's principal on
each call (:mod:`.auth`), the one server shell (:mod:`.server`) and the one way to open a
channel (:mod:`.channel`)."""

from ..credentials import load_tokens, parse_tokens
from ..endpoints import MESSAGE_LIMIT_BYTES, ChannelOptions, ServerOptions
from .auth import BearerTokenInterceptor, NoPrincipalError, principal_of
from .channel import open_channel
from .server import (
    AddServices,
    RunningServer,
    Server,
    interceptors,
    serve,
    start_server,
    wait_for_signal,
)
from .status import (
    CODE_BY_STATUS,
    ERROR_CODE_METADATA_KEY,
    STATUS_BY_CODE,
    ErrorInterceptor,
    MalformedRequestError,
    error_code_of,
    status_for,
)

__all__ = [
    "CODE_BY_STATUS",
    "ERROR_CODE_METADATA_KEY",
    "MESSAGE_LIMIT_BYTES",
    "STATUS_BY_CODE",
    "BearerTokenInterceptor",
    "ChannelOptions",
    "ErrorInterceptor",
    "MalformedRequestError",
    "NoPrincipalError",
    "AddServices",
    "RunningServer",
    "Server",
    "ServerOptions",
    "error_code_of",
    "interceptors",
    "load_tokens",
    "open_channel",
    "parse_tokens",
    "principal_of",
    "serve",
    "start_server",
    "status_for",
    "wait_for_signal",
]
