"""The gRPC server the all-in-one stack hosts its services on (the infra's grpc adapter).

Installs, in order, the bearer-token check (when tokens are configured) and the error
interceptor, and turns on health checking and server reflection for every service added.
"""

from __future__ import annotations

from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from runstream.proto.rpc import server_interceptors
from runstream.proto.v1 import query_pb2, write_pb2

MESSAGE_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class GrpcServerOptions:
    address: str = "127.0.0.1:50051"
    workers: int = 16
    auth_tokens: tuple[str, ...] = ()


class GrpcServer:
    def __init__(self, options: GrpcServerOptions) -> None:
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="grpc"),
            interceptors=server_interceptors(options.auth_tokens),
            options=[
                ("grpc.max_receive_message_length", MESSAGE_LIMIT),
                ("grpc.max_send_message_length", MESSAGE_LIMIT),
            ],
        )
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self.server)
        self._port = self.server.add_insecure_port(options.address)
        if self._port == 0:
            raise OSError(f"cannot listen on {options.address}")
        self._host = options.address.rsplit(":", 1)[0]

    @property
    def address(self) -> str:
        return f"{self._host}:{self._port}"

    def start(self) -> None:
        names = [
            write_pb2.DESCRIPTOR.services_by_name["WriteService"].full_name,
            query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name,
        ]
        for name in names:
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection((*names, reflection.SERVICE_NAME), self.server)
        self.server.start()

    def stop(self, grace: float) -> None:
        self._health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
