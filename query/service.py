"""The query service: every read of the read side behind one object, over one SQL port.

Transport-free: the gRPC adapter (``grpc_server``) converts requests and results at the
edge, and checks the caller's permissions with :attr:`QueryService.access`.  Every read
first honours an optional read-your-writes token.  The service owns the bounds of its
settings: filter and order_by sizes (readers), the cap on waits, and the ``Admission`` of
concurrent calls and waits (the gRPC adapter enters it per call).  It is also the
gateway's permission :class:`~runstream.proto.permissions.Directory`
(``experiment_facts``, ``run_experiments``) when both run in one process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator, Sequence

from runstream.proto.applied import AppliedFeed
from runstream.proto.permissions import ExperimentFacts
from runstream.proto.tokens import WaitToken, WriteToken

from .access import ReadAccess
from .admission import Admission
from .context_reader import ContextReader
from .entities import (
    Experiment,
    MetricPoint,
    Page,
    RankBy,
    RankedRun,
    Run,
    RunSelection,
    Series,
    SeriesColumns,
    SeriesRequest,
    StepAggregates,
    ViewType,
)
from .errors import NotFoundError, TailUnavailableError, clip
from .experiment_reader import ExperimentReader
from .history_reader import HistoryReader
from .model_reader import ModelReader
from .pending_merge import with_pending
from .ports import LogEndPort, SqlPort
from .read_your_writes import LogEnds, Stop, TokenWaiter
from .run_cache import RunCache
from .run_ids import RunIds
from .run_reader import RunReader, run_not_found
from .settings import QuerySettings
from .tail import AppliedWatch, RecordsPort, TailLimits, TailStream, TailTarget, start_cursor
from .tail_events import TailBatch
from .views import ensure_views

logger = logging.getLogger(__name__)

_VIEW_RETRY_S = 2.0


class QueryService:
    """Reads over the ClickHouse tables; ``close()`` releases the store."""

    def __init__(
        self,
        store: SqlPort,
        settings: QuerySettings,
        log_end: LogEndPort | None = None,
        records: Callable[[], RecordsPort] | None = None,
        applied_feed: AppliedFeed | None = None,
    ) -> None:
        """``records`` opens the reader of events a live tail needs (one per stream); without
        it ``tail`` is refused.  ``applied_feed``: only when an ingest worker of this
        process is the only writer of the tables (``runstream up`` on chDB); token waits
        then wake on it and GetRun's answers are kept between its changes."""
        self.settings = settings
        self._store = store
        self._log_end = log_end
        bounds = {
            "max_clauses": settings.max_filter_clauses,
            "max_order_keys": settings.max_order_keys,
        }
        self.runs = RunReader(store, **bounds)
        self.experiments = ExperimentReader(store, **bounds)
        self.history = HistoryReader(store)
        self.contexts = ContextReader(store, self.history)
        self.models = ModelReader(store, **bounds)  # the registry, logged models, datasets
        self.admission = Admission(settings.max_calls, settings.max_waiting, settings.max_streams)
        self.log_ends = LogEnds(log_end)
        feed = applied_feed
        if feed is not None and feed.topic != settings.topic:
            feed = None  # offsets of another topic say nothing about this one
        self._waiter = TokenWaiter(store, settings.topic, self.log_ends, self.admission, feed=feed)
        self._feed = feed
        self.run_cache = RunCache(feed) if feed is not None else None
        # Which runs the tables hold: a GetRun of any other is NOT_FOUND at once.
        self.run_ids = RunIds(store, feed) if feed is not None else None
        self.access = ReadAccess(store)
        self._records = records
        self.tail_watch = AppliedWatch(
            store, settings.topic, settings.tail_poll_s, settings.tail_abandon_s
        )
        self._stop = threading.Event()
        self._views_thread: threading.Thread | None = None
        if settings.create_views and not ensure_views(store):
            self._views_thread = threading.Thread(
                target=self._retry_views, name="query-views", daemon=True
            )
            self._views_thread.start()

    def _retry_views(self) -> None:
        while not self._stop.wait(_VIEW_RETRY_S):
            if ensure_views(self._store, quiet=True):
                logger.info("analyst views created")
                return

    def close(self) -> None:
        self._stop.set()
        self.tail_watch.close()
        if self.run_ids is not None:
            self.run_ids.close()
        if self._views_thread is not None:
            self._views_thread.join(timeout=5)
        if self._log_end is not None:
            self._log_end.close()
        self._store.close()

    # -- read-your-writes ---------------------------------------------------------------
    def wait(
        self, token: WaitToken | None, timeout_s: float | None, stop: Stop | None = None
    ) -> None:
        """Wait until ingest applied ``token``: for ``timeout_s`` (default
        ``wait_timeout_s``), never past ``max_wait_s``, and no longer once ``stop`` is set.
        A token for another topic, for partitions the topic lacks or beyond the log's end
        is refused at once (INVALID_ARGUMENT)."""
        if token is None or not token.offsets:
            return
        asked = self.settings.wait_timeout_s if timeout_s is None else timeout_s
        self._waiter.wait(token, min(asked, self.settings.max_wait_s), stop)

    # -- the live tail -------------------------------------------------------------------
    def tail_experiment(self, target: TailTarget) -> str:
        """The experiment whose READ a tail of ``target`` needs (NotFoundError if none)."""
        if target.run_id:
            found = self.access.run_experiments([target.run_id])
            if target.run_id not in found:
                raise NotFoundError(f"run {clip(target.run_id)!r} not found")
            return found[target.run_id]
        return self.experiments.get(target.experiment_id).experiment_id

    def tail(
        self,
        target: TailTarget,
        after: WaitToken | None,
        alive: Callable[[], bool],
        cancel: Callable[[], object],
    ) -> Iterator[TailBatch]:
        """The live tail of ``target`` (``docs/query.md``, "Live tail"): exactly after
        ``after`` where it names a partition, else from what ingest has applied now; until
        ``alive()`` turns false.  Holds a slot of ``admission.stream()`` throughout."""
        with self.admission.stream():
            if self._records is None:
                raise TailUnavailableError(
                    "the live tail reads events from Kafka: start the query service with "
                    "--kafka (RUNSTREAM_KAFKA)"
                )
            if after is not None and after.offsets:
                after = self._waiter.validate(after)
                self.log_ends.check(after)
            cursor = start_cursor(self.tail_watch.read_now(), after)
            s = self.settings
            limits = TailLimits(heartbeat_s=s.tail_heartbeat_s, stall_s=s.tail_stall_s)
            stream = TailStream(
                self._store, self._records(), self.tail_watch, s.topic, target, cursor, limits
            )
            yield from stream.messages(alive, cancel)

    # -- the gateway's permission directory ----------------------------------------------
    def experiment_facts(
        self, experiment_ids: Collection[str], after: WriteToken | None = None
    ) -> dict[str, ExperimentFacts]:
        if after:
            self.wait(WaitToken(after.topic, after.offset_map), None)
        return self.access.experiment_facts(experiment_ids)

    def run_experiments(self, run_ids: Collection[str]) -> dict[str, str]:
        known = self.run_ids
        if known is not None:
            run_ids = [r for r in run_ids if not known.absent(r)]
            if not run_ids:
                return {}
        return self.access.run_experiments(run_ids)

    # -- experiments --------------------------------------------------------------------
    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.experiments.get(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment:
        return self.experiments.get_by_name(name)

    def search_experiments(
        self,
        filter_string: str = "",
        max_results: int = 0,
        order_by: Sequence[str] = (),
        page_token: str = "",
        view: ViewType = ViewType.ACTIVE_ONLY,
        only: frozenset[str] | None = None,
    ) -> Page[Experiment]:
        """``only``: the experiments the caller may read (None: every one)."""
        return self.experiments.search(filter_string, max_results, order_by, page_token, view, only)

    # -- runs ---------------------------------------------------------------------------
    def get_run(self, run_id: str) -> Run:
        cache = self.run_cache
        if cache is None or self._feed is None:
            return self.runs.get(run_id)
        if run_id and self.run_ids is not None and self.run_ids.absent(run_id):
            # Not in the tables (no statement: query/run_ids.py).  Nothing pending can be
            # merged either: ingest keeps no point of a run it does not hold.
            raise run_not_found(run_id)
        # The points ingest holds unapplied first, then the tables (or what was kept of
        # them): a point applied in between is in the second (proto/pending.py).
        pending = self._feed.pending.snapshot(run_id)
        run = cache.get(run_id)
        if run is None:
            stamp = cache.stamp()
            run = self.runs.get(run_id)
            cache.put(run_id, stamp, run)
        return with_pending(run, pending)

    def search_runs(
        self,
        selection: RunSelection,
        order_by: Sequence[str] = (),
        max_results: int = 0,
        page_token: str = "",
    ) -> Page[Run]:
        """With an applied feed, the answer reflects the metric points ingest holds but
        has not applied yet, as it will once they are (``pending_search``)."""
        pending = self._feed.pending.metric_runs if self._feed is not None else None
        return self.runs.search(selection, order_by, max_results, page_token, pending)

    def best_runs(
        self,
        selection: RunSelection,
        key: str,
        rank_by: RankBy = RankBy.LATEST,
        maximize: bool = False,
        max_results: int = 0,
    ) -> list[RankedRun]:
        return self.runs.best(selection, key, rank_by, maximize, max_results)

    def count_runs_by_status(self, selection: RunSelection) -> dict[str, int]:
        return self.runs.count_by_status(selection)

    def metric_aggregates(
        self,
        selection: RunSelection,
        key: str,
        group_by: str = "",
        percentiles: Sequence[float] = (),
        start_step: int | None = None,
        end_step: int | None = None,
        max_points: int = 0,
    ) -> list[StepAggregates]:
        return self.runs.aggregates(
            selection, key, group_by, percentiles, start_step, end_step, max_points
        )

    # -- metric history -----------------------------------------------------------------
    def metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int = 0,
        page_token: str = "",
        context: tuple[tuple[str, str], ...] = (),
    ) -> Page[MetricPoint]:
        return self.history.page(run_id, key, max_results, page_token, context)

    def metric_history_columns(
        self,
        run_id: str,
        key: str,
        max_results: int = 0,
        page_token: str = "",
        context: tuple[tuple[str, str], ...] = (),
    ) -> SeriesColumns:
        return self.history.columns(run_id, key, max_results, page_token, context)

    def sampled_history(self, run_ids: Sequence[str], request: SeriesRequest) -> list[Series]:
        return self.history.sampled(run_ids, request)


def open_query_service(
    settings: QuerySettings, applied_feed: AppliedFeed | None = None
) -> QueryService:
    """A service over ClickHouse as configured (``clickhouse``, ``database``), checking
    write tokens against Kafka's log end when ``kafka`` is set (``applied_feed``: see
    :class:`QueryService`)."""
    from .clickhouse_store import ClickHouseStore

    store = ClickHouseStore(
        settings.clickhouse, settings.database, settings.pool_size, limits=settings.limits()
    )
    log_end: LogEndPort | None = None
    if settings.kafka:
        from .kafka_log_end import KafkaLogEnd

        log_end = KafkaLogEnd(settings.kafka)
        bootstrap = settings.kafka

        def records() -> RecordsPort:
            from .kafka_records import KafkaRecords

            return KafkaRecords(bootstrap)

        return QueryService(store, settings, log_end, records, applied_feed)
    return QueryService(store, settings, log_end, applied_feed=applied_feed)
