"""The shared gRPC plumbing, against a real in-process gRPC server (no mocks)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from runstream.proto.endpoints import ServerOptions
from runstream.proto.errors import RunstreamError, SettingsError
from runstream.proto.permissions import ExperimentFacts, Permission, Principal
from runstream.proto.principals import Principals, token_digest
from runstream.proto.rpc import (
    BearerTokenInterceptor,
    ErrorInterceptor,
    error_code_of,
    interceptors,
    load_tokens,
    principal_of,
)
from runstream.proto.v1 import common_pb2

METHOD = "/test.Echo/Call"


class _CodedError(RunstreamError):
    def __init__(self, message: str, code: common_pb2.ErrorCode) -> None:
        super().__init__(message, error_code=code)


def _handler(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request == b"bad":
        raise _CodedError("field 'key' is empty", common_pb2.INVALID_PARAMETER_VALUE)
    if request == b"missing":
        raise _CodedError("run 'x' not found", common_pb2.RESOURCE_DOES_NOT_EXIST)
    if request == b"boom":
        raise RuntimeError("secret internals")
    return request


def _server(interceptors: list[Any]) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(2), interceptors=interceptors)
    generic = grpc.method_handlers_generic_handler(
        "test.Echo", {"Call": grpc.unary_unary_rpc_method_handler(_handler)}
    )
    server.add_generic_rpc_handlers((generic,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.fixture
def echo() -> Iterator[Any]:
    server, port = _server([ErrorInterceptor()])
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield channel.unary_unary(METHOD)
    channel.close()
    server.stop(None)


@pytest.mark.parametrize(
    ("request_", "status", "code", "text"),
    [
        (b"bad", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMETER_VALUE", "field 'key'"),
        (b"missing", grpc.StatusCode.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", "not found"),
        (b"boom", grpc.StatusCode.INTERNAL, "INTERNAL_ERROR", "internal error"),
    ],
)
def test_errors_map_to_status(
    echo: Any, request_: bytes, status: Any, code: str, text: str
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        echo(request_, timeout=5)
    assert info.value.code() == status
    assert text in info.value.details()
    assert error_code_of(info.value) == code


def test_internal_errors_do_not_leak(echo: Any) -> None:
    with pytest.raises(grpc.RpcError) as info:
        echo(b"boom", timeout=5)
    assert "secret" not in info.value.details()


def test_success_passes_through(echo: Any) -> None:
    assert echo(b"hello", timeout=5) == b"hello"


def test_bearer_tokens() -> None:
    server, port = _server([BearerTokenInterceptor(["s3cret"]), ErrorInterceptor()])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(METHOD)
            with pytest.raises(grpc.RpcError) as info:
                call(b"x", timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError):
                call(b"x", timeout=5, metadata=(("authorization", "Bearer wrong"),))
            assert call(b"x", timeout=5, metadata=(("authorization", "Bearer s3cret"),)) == b"x"
    finally:
        server.stop(None)


def test_load_tokens(tmp_path: Any) -> None:
    f = tmp_path / "tokens"
    f.write_text("# comment\nalpha\n\n   # an indented comment is a comment\nbeta\n")
    assert load_tokens(str(f), "gamma, delta") == ("alpha", "beta", "gamma", "delta")
    with pytest.raises(SettingsError):
        BearerTokenInterceptor([])


def test_auth_fails_closed(tmp_path: Any) -> None:
    only_comments = tmp_path / "tokens"
    only_comments.write_text("# no token here\n   # nor here\n\n")
    with pytest.raises(SettingsError, match="holds no token"):
        load_tokens(str(only_comments), None)
    with pytest.raises(SettingsError, match="holds no token"):
        interceptors(ServerOptions(auth_token_file=str(only_comments)))
    with pytest.raises(SettingsError, match="holds no token"):
        load_tokens(None, " , ,")
    with pytest.raises(SettingsError, match="white space"):
        load_tokens(None, "two words")
    with pytest.raises(SettingsError, match="cannot read"):
        load_tokens(str(tmp_path / "missing"), None)


def test_server_interceptors_order() -> None:
    # authentication always runs first: without auth it attaches the anonymous principal
    for options in (ServerOptions(), ServerOptions(auth_tokens=("t",))):
        chain = interceptors(options)
        assert [type(i) for i in chain] == [BearerTokenInterceptor, ErrorInterceptor]
    assert not interceptors(ServerOptions())[0].auth_enabled  # type: ignore[attr-defined]
    assert interceptors(ServerOptions(auth_tokens=("t",)))[0].auth_enabled  # type: ignore[attr-defined]


def _whoami(request: bytes, context: grpc.ServicerContext) -> bytes:
    principal = principal_of(context)
    if request == b"delete":
        principal.require(Permission.MANAGE, ExperimentFacts("7", "churn"))
    return f"{principal.name}|{principal.admin}".encode()


def _whoami_server(interceptors: list[Any]) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(2), interceptors=interceptors)
    generic = grpc.method_handlers_generic_handler(
        "test.Echo", {"Call": grpc.unary_unary_rpc_method_handler(_whoami)}
    )
    server.add_generic_rpc_handlers((generic,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def test_the_interceptor_puts_the_principal_on_the_call() -> None:
    principals = Principals.of_tokens(["admin-token"])
    reader = Principal("reader", default=Permission.READ)
    principals = Principals({**principals.by_digest, token_digest("reader-token"): reader})
    server, port = _whoami_server([BearerTokenInterceptor(principals), ErrorInterceptor()])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(METHOD)
            as_reader = (("authorization", "Bearer reader-token"),)
            assert call(b"x", timeout=5, metadata=as_reader) == b"reader|False"
            admin = call(b"x", timeout=5, metadata=(("authorization", "Bearer admin-token"),))
            assert admin.startswith(b"token:") and admin.endswith(b"|True")
            with pytest.raises(grpc.RpcError) as denied:
                call(b"delete", timeout=5, metadata=as_reader)
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert error_code_of(denied.value) == "PERMISSION_DENIED"
            assert "lacks MANAGE on experiment '7'" in (denied.value.details() or "")
            with pytest.raises(grpc.RpcError) as anonymous:
                call(b"x", timeout=5)
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        server.stop(None)


def test_without_auth_every_call_is_anonymous_and_admin() -> None:
    server, port = _whoami_server([BearerTokenInterceptor(None), ErrorInterceptor()])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert channel.unary_unary(METHOD)(b"delete", timeout=5) == b"|True"
    finally:
        server.stop(None)


def test_a_handler_without_the_interceptor_is_refused() -> None:
    server, port = _whoami_server([ErrorInterceptor()])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.RpcError) as info:
                channel.unary_unary(METHOD)(b"x", timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "no authenticated principal" in (info.value.details() or "")
    finally:
        server.stop(None)
