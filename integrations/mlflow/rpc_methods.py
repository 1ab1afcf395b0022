"""How the plugin declares the RPCs it calls: :class:`Unary` (service, method name,
request and response class), checked against the services' descriptors at import.  Kept
apart from :mod:`.rpc` (which imports grpc) so that the method tables of :mod:`.rpc` and
:mod:`.model_rpc` share it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from runstream.proto.v1 import query_pb2, write_pb2

ReqT = TypeVar("ReqT")
RespT = TypeVar("RespT")
_Q = TypeVar("_Q", bound=Message)
_R = TypeVar("_R", bound=Message)

WRITE_SERVICE: ServiceDescriptor = write_pb2.DESCRIPTOR.services_by_name["WriteService"]
QUERY_SERVICE: ServiceDescriptor = query_pb2.DESCRIPTOR.services_by_name["QueryService"]


@dataclass(frozen=True)
class Unary(Generic[ReqT, RespT]):
    """One unary RPC: its service, name and message classes.  Build with :func:`unary`."""

    service: ServiceDescriptor
    name: str
    request: type[ReqT]
    response: type[RespT]


def unary(
    service: ServiceDescriptor, name: str, request: type[_Q], response: type[_R]
) -> Unary[_Q, _R]:
    """The RPC ``service.name``, checked against the service's descriptor: a misspelt name
    or a message class the proto does not declare fails here, at import."""
    method = service.methods_by_name.get(name)
    if method is None:
        raise TypeError(f"{service.full_name} has no method {name!r}")
    if method.client_streaming or method.server_streaming:
        raise TypeError(f"{service.full_name}.{name} is a streaming method")
    if method.input_type.full_name != request.DESCRIPTOR.full_name:
        raise TypeError(f"{service.full_name}.{name} takes {method.input_type.full_name}")
    if method.output_type.full_name != response.DESCRIPTOR.full_name:
        raise TypeError(f"{service.full_name}.{name} returns {method.output_type.full_name}")
    return Unary(service, name, request, response)
