"""The all-in-one local stack: one process, one gRPC port, one embedded ClickHouse.

``runstream up`` starts (1) a local Kafka broker unless one is given, (2) the ingest
worker as a thread, and (3) one gRPC server that serves both ``WriteService`` (the
gateway) and ``QueryService``.  chDB locks its data directory to one process, so in
embedded mode ingest and query must share this process; each opens its own client on the
same path.  Stopping drains in dependency order: the gRPC server stops taking calls, the
gateway flushes to Kafka, the ingest worker finishes its batch and commits, the broker
stops last.  Nothing acknowledged is lost: acknowledged events are in Kafka, and ingest
resumes from its committed offsets on the next start.

Health: ``runstream.v1.QueryService`` is NOT_SERVING while the ingest worker cannot make
progress (broker unreachable, ClickHouse refusing writes, no partition, worker failed):
reads would be stale and read-your-writes waits would time out.  The worker's
``health()`` says why; WriteService keeps its own status.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runstream.proto.applied import AppliedFeed
from runstream.proto.endpoints import ServerOptions
from runstream.proto.vocabulary import DEFAULT_TOPIC

from . import kafka as local_kafka

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = "runstream"
# Partitions of the topic a stack on chDB creates: one (see StackSettings.partitions).
EMBEDDED_PARTITIONS = 1
_HEALTH_EVERY_S = 0.25


@dataclass(frozen=True)
class StackSettings:
    """What ``runstream up`` needs; every field has a flag and an environment variable."""

    data_dir: Path = field(default_factory=lambda: Path(".runstream"))
    kafka: str | None = None  # bootstrap servers; None: start a local broker
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    address: str = "127.0.0.1:50051"
    topic: str = DEFAULT_TOPIC
    database: str = DEFAULT_DATABASE
    clickhouse: str | None = None  # None: chdb:///<data_dir>/clickhouse
    # of the topic, when the stack creates it. None: RUNSTREAM_INGEST_PARTITIONS, else
    # EMBEDDED_PARTITIONS on chDB and ingest's DEFAULT_PARTITIONS (8) on a ClickHouse server
    partitions: int | None = None
    auth_token_file: str | None = None
    auth_tokens: tuple[str, ...] = ()
    auth_principals: str | None = None  # principals file: per-experiment permissions
    tls_cert: str | None = None
    tls_key: str | None = None
    workers: int = 16

    def server_options(self) -> ServerOptions:
        """The one gRPC server of the stack (WriteService and QueryService)."""
        return ServerOptions.of(self, name="stack")

    @property
    def clickhouse_dsn(self) -> str:
        if self.clickhouse:
            return self.clickhouse
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"


class Stack:
    """Start with :meth:`start`, stop with :meth:`stop` (or use it as a context manager)."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self._kafka: local_kafka.KafkaHandle | None = None
        self._worker: Any = None
        self._worker_thread: threading.Thread | None = None
        self._worker_stop = threading.Event()
        self._server: Any = None  # runstream.proto.rpc.RunningServer
        self._health_thread: threading.Thread | None = None
        self._health_stop = threading.Event()
        self._gateway: Any = None
        self._query: Any = None
        self.bootstrap = settings.kafka or ""
        # On chDB this process's worker is the only writer of the tables, so it tells the
        # query service what it applied (token waits wake at once, GetRun answers are kept
        # between flushes).  A ClickHouse server may have other writers: no feed there.
        embedded = settings.clickhouse_dsn.startswith("chdb:")
        self.applied_feed = AppliedFeed(settings.topic) if embedded else None

    @property
    def address(self) -> str:
        """``host:port`` where WriteService and QueryService listen."""
        if self._server is None:
            raise RuntimeError("stack is not started")
        return str(self._server.address)

    @property
    def query_service(self) -> Any:
        """The stack's ``runstream.query.QueryService`` (None before start and after stop)."""
        return self._query

    @property
    def url(self) -> str:
        """``grpc://host:port``, or ``grpcs://`` with TLS."""
        if self._server is None:
            raise RuntimeError("stack is not started")
        return str(self._server.url)

    def start(self) -> Stack:
        s = self.settings
        s.server_options().principals()  # fail closed before anything starts
        s.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if s.kafka is None:
                local_kafka.fetch_jars()
                self._kafka = local_kafka.up(
                    s.data_dir / "kafka", port=s.kafka_port, controller_port=s.kafka_controller_port
                )
                self.bootstrap = self._kafka.bootstrap
            self._start_ingest()
            self._start_server()
            self._health_thread = threading.Thread(
                target=self._watch_ingest, name="runstream-health", daemon=True
            )
            self._health_thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_ingest(self) -> None:
        from runstream.ingest import IngestSettings, IngestWorker
        from runstream.ingest.settings import DEFAULT_PARTITIONS

        s = self.settings
        # On chDB this process's worker is the only consumer the topic can have, and it
        # writes each partition's share of a batch as inserts of its own (a part per table,
        # merged later): more partitions only multiply the inserts (docs/benchmarks.md,
        # "Import from MLflow").  RUNSTREAM_INGEST_PARTITIONS still decides when set.
        embedded = self.applied_feed is not None
        # The component's own variables (RUNSTREAM_INGEST_*) apply; the stack decides where.
        ingest = replace(
            IngestSettings.from_env(
                default_partitions=EMBEDDED_PARTITIONS if embedded else DEFAULT_PARTITIONS
            ),
            kafka=self.bootstrap,
            topic=s.topic,
            clickhouse=s.clickhouse_dsn,
            database=s.database,
        )
        if s.partitions is not None:
            ingest = replace(ingest, partitions=s.partitions)
        feed = self.applied_feed
        worker = IngestWorker(ingest, listener=feed)
        worker.prepare()  # topics and tables exist before the first write or read
        self._worker = worker
        self._worker_thread = threading.Thread(
            target=worker.run, args=(self._worker_stop,), name="runstream-ingest", daemon=True
        )
        self._worker_thread.start()
        # Up means consuming: a write acknowledged from now on is applied without first
        # waiting out the consumer group's join (seconds on a fresh broker), and health
        # starts SERVING.
        if not worker.wait_consuming(timeout=60):
            if worker.error is not None:
                raise worker.error
            logger.warning(
                "ingest cannot make progress after 60 s (%s); going on without",
                worker.health().reason,
            )

    def _start_server(self) -> None:
        from runstream.producer.gateway import GatewaySettings, add_gateway
        from runstream.proto.rpc import Server, start_server
        from runstream.proto.v1 import query_pb2, write_pb2
        from runstream.query import QuerySettings, add_query_service, open_query_service

        from .run_directory import QueryRunDirectory

        s = self.settings
        query = replace(
            QuerySettings.from_env(),
            clickhouse=s.clickhouse_dsn,
            database=s.database,
            topic=s.topic,
            kafka=self.bootstrap,  # tokens past the log end are refused at once
        )

        def add(server: Server) -> list[str]:
            self._query = add_query_service(
                server, query, open_query_service(query, self.applied_feed)
            )
            self._gateway = add_gateway(
                server,
                GatewaySettings.from_env(kafka=self.bootstrap, topic=s.topic),
                runs=QueryRunDirectory(self._query),  # refuse at the edge what ingest would
                directory=self._query,  # what a permission check needs to know
            )
            return [
                write_pb2.DESCRIPTOR.services_by_name["WriteService"].full_name,
                query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name,
            ]

        self._server = start_server(s.server_options(), add)

    def _watch_ingest(self) -> None:
        """QueryService follows the ingest worker's health (see the module docstring)."""
        from runstream.proto.v1 import query_pb2

        query_service = query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
        serving: bool | None = None
        while True:
            worker, server = self._worker, self._server
            if worker is not None and server is not None:
                health = worker.health()
                if health.progressing != serving:
                    serving = health.progressing
                    server.set_serving(serving, [query_service])
            if self._health_stop.wait(_HEALTH_EVERY_S):
                return

    def stop(self) -> None:
        self._health_stop.set()
        if self._health_thread is not None:
            self._health_thread.join(timeout=5)
            self._health_thread = None
        if self._server is not None:
            self._server.stop(grace=5.0)
            self._server = None
        for component in (self._gateway, self._query):
            if component is not None:
                component.close()
        self._gateway = self._query = None
        if self._worker_thread is not None:
            self._worker_stop.set()
            self._worker_thread.join(timeout=60)
            if self._worker_thread.is_alive():
                logger.warning("ingest worker did not stop within 60 s")
            self._worker_thread = None
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        if self._kafka is not None:
            local_kafka.down(self._kafka.data_dir)
            self._kafka = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
