"""The standalone gateway's :class:`~runstream.proto.permissions.Directory`: the query
service, reached over gRPC (``--query-url``), answers what a permission check needs to
know.  Its token must be an admin principal's (it reads every experiment).  In
``runstream up`` the query service is in the same process and is the directory itself."""

from __future__ import annotations

from collections.abc import Collection

import grpc

from runstream.proto.endpoints import ChannelOptions
from runstream.proto.permissions import ExperimentFacts
from runstream.proto.rpc import open_channel
from runstream.proto.tokens import WriteToken
from runstream.proto.v1 import common_pb2, query_pb2, query_pb2_grpc

from ..errors import ProducerError


class DirectoryUnavailableError(ProducerError):
    """The query service did not answer a permission lookup: the write is refused (a
    check that cannot be made is not passed)."""

    error_code = common_pb2.TEMPORARILY_UNAVAILABLE


class QueryDirectory:
    """Facts of experiments and runs from a query service; ``close()`` the channel."""

    def __init__(
        self, options: ChannelOptions, timeout_s: float = 10.0, wait_timeout_s: float = 10.0
    ) -> None:
        self._options = options
        self._timeout = timeout_s
        self._wait_ms = int(wait_timeout_s * 1000)
        self._channel = open_channel(options)
        self._stub = query_pb2_grpc.QueryServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _failed(self, error: grpc.RpcError) -> DirectoryUnavailableError:
        return DirectoryUnavailableError(
            f"permission lookup at the query service {self._options.url} failed: "
            f"{error.code().name} {error.details() or ''}".rstrip()
        )

    def experiment_facts(
        self, experiment_ids: Collection[str], after: WriteToken | None = None
    ) -> dict[str, ExperimentFacts]:
        read = query_pb2.ReadOptions()
        if after:
            read = query_pb2.ReadOptions(
                write_token=after.to_proto(), wait_timeout_ms=self._wait_ms
            )
        timeout = self._timeout + (self._wait_ms / 1000 if after else 0.0)
        found: dict[str, ExperimentFacts] = {}
        for eid in experiment_ids:
            request = query_pb2.GetExperimentRequest(experiment_id=eid, read=read)
            try:
                answer = self._stub.GetExperiment(
                    request, timeout=timeout, metadata=self._options.metadata
                )
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    continue
                raise self._failed(exc) from None
            e = answer.experiment
            found[eid] = ExperimentFacts(e.experiment_id, e.name, e.created_by)
        return found

    def run_experiments(self, run_ids: Collection[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for run_id in run_ids:
            request = query_pb2.GetRunRequest(run_id=run_id)
            try:
                answer = self._stub.GetRun(
                    request, timeout=self._timeout, metadata=self._options.metadata
                )
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    continue
                raise self._failed(exc) from None
            found[run_id] = answer.run.info.experiment_id
        return found
