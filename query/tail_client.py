"""The client side of the live tail, for ``runstream tail``: one stream after another,
resumed from the last token when the server cuts a slow reader off.  The gRPC adapter of
the command (the only module of it that imports grpc)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from runstream.proto.endpoints import ChannelOptions
from runstream.proto.rpc import open_channel
from runstream.proto.tokens import WriteToken
from runstream.proto.v1 import query_pb2, query_pb2_grpc

logger = logging.getLogger(__name__)


class TailClientError(Exception):
    """The stream ended with an error the client does not resume from."""

    def __init__(self, code: str, details: str, token: WriteToken | None) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details
        self.token = token


@dataclass
class Follow:
    """A followed tail; ``token`` is the position after the last message yielded."""

    options: ChannelOptions
    run_id: str = ""
    experiment_id: str = ""
    token: WriteToken | None = None
    resumes: int = 0
    max_resumes: int = 100

    def run_now(self) -> Any:
        """The followed run as ``GetRun`` reads it once ingest applied ``token`` (its name,
        status, params, tags, latest value per key): what the table starts from."""
        read = query_pb2.ReadOptions(wait_timeout_ms=10_000)
        if self.token is not None:
            read.write_token.CopyFrom(self.token.to_proto())
        with open_channel(self.options) as channel:
            stub = query_pb2_grpc.QueryServiceStub(channel)
            request = query_pb2.GetRunRequest(run_id=self.run_id, read=read)
            try:
                return stub.GetRun(request, metadata=self.options.metadata, timeout=30).run
            except grpc.RpcError as exc:
                raise TailClientError(exc.code().name, exc.details() or "", self.token) from None

    def messages(self) -> Iterator[Any]:
        """TailMessages, across resumes, until the caller stops or an error that is not
        a slow-reader cut-off (:class:`TailClientError`)."""
        with open_channel(self.options) as channel:
            stub = query_pb2_grpc.QueryServiceStub(channel)
            while True:
                request = query_pb2.TailRequest(
                    run_id=self.run_id, experiment_id=self.experiment_id
                )
                if self.token is not None:
                    request.after.CopyFrom(self.token.to_proto())
                call = stub.Tail(request, metadata=self.options.metadata)
                started = False
                try:
                    for message in call:
                        started = True
                        self.token = WriteToken.from_proto(message.token)
                        yield message
                    return
                except grpc.RpcError as exc:
                    code = exc.code()
                    cut = code == grpc.StatusCode.RESOURCE_EXHAUSTED and started
                    if cut and self.resumes < self.max_resumes:
                        self.resumes += 1
                        logger.warning("the server cut this tail off (%s); resuming", exc.details())
                        continue
                    raise TailClientError(code.name, exc.details() or "", self.token) from None
                finally:
                    call.cancel()
