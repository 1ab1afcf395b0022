"""Which run ids the tables hold, known in process: a run they do not hold is NOT_FOUND
without a statement.

``get_run`` right after ``create_run`` is MLflow's habit, and the MLflow plugin asks the
read side without waiting (``integrations/mlflow/tracking/created.py``): until ingest has
applied the creation the tables do not hold the run, and finding that out cost the
reader's info statement, several milliseconds of the engine's CPU each time.

Only with an :class:`~runstream.proto.applied.AppliedFeed` (``runstream up`` on chDB: the
ingest worker of this process is the only writer of the tables).  :class:`RunIds` keeps a
Bloom filter (:class:`BloomFilter`) of every run id the ``runs`` table holds, any lifecycle
stage:

* loaded from the table by a thread of its own, as the hashes ClickHouse computes (no
  Python string per run);
* kept current by the feed: every run of :attr:`Applied.changed
  <runstream.proto.pending.Applied.changed>` is added inside ``publish``, before the feed
  wakes the reads waiting for those offsets, so a read that carries the creation's write
  token finds the run.  Only a ``RunCreated`` adds a run, and it is one run's event, so it
  is always told there, unless the records were never held by the feed
  (:attr:`~runstream.proto.pending.Applied.unheld`: its first offsets of a partition, after
  a start or a reassignment).  Then the filter is set aside and loaded again; until it is,
  reads take the statement path;
* a load reads the table while the feed goes on: the runs told meanwhile are added to what
  it read, and a load during which records were applied unheld is thrown away and done
  again.  No run the tables hold is ever missing from the filter in use.

A run id the filter may hold takes the statement path (about 1 % of the ids it does not
hold, and every run it holds).  A purged run stays in it (a false positive too) until the
next load.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from runstream.proto.applied import AppliedFeed
from runstream.proto.pending import Applied

from .ports import SqlPort, columns_of
from .sql_text import Sql

logger = logging.getLogger(__name__)

ERROR_RATE = 0.01
MIN_CAPACITY = 1 << 16
_MASK = (1 << 64) - 1
_CHUNK = 1 << 16  # runs hashed into positions at once by a bulk add
_RETRY_S = 2.0

# The two 64-bit halves of the run id's MD5, little-endian: what ``run_hashes`` gives for
# a Python string (``reinterpretAsUInt64`` reads a string's bytes little-endian).
RUN_HASHES_SQL = Sql(
    "SELECT reinterpretAsUInt64(substring(MD5(run_id), 1, 8)) AS h1, "
    "reinterpretAsUInt64(substring(MD5(run_id), 9, 8)) AS h2 FROM runs"
)
UInt64s = npt.NDArray[np.uint64]


def run_hashes(run_id: str) -> tuple[int, int]:
    """The run id's two hashes, as ``RUN_HASHES_SQL`` computes them."""
    d = hashlib.md5(run_id.encode(), usedforsecurity=False).digest()
    return int.from_bytes(d[:8], "little"), int.from_bytes(d[8:], "little")


class _Stage:
    """One fixed Bloom filter: ``m`` bits, ``k`` positions per id by double hashing
    (``h1 + i * h2`` mod 2**64, mod ``m``)."""

    __slots__ = ("bits", "capacity", "count", "k", "m")

    def __init__(self, capacity: int, error_rate: float) -> None:
        self.capacity = capacity
        bits = -capacity * math.log(error_rate) / (math.log(2) ** 2)
        self.m = max(64, int(math.ceil(bits / 8)) * 8)
        self.k = max(1, round(self.m / capacity * math.log(2)))
        self.bits = bytearray(self.m // 8)
        self.count = 0

    def add(self, h1: int, h2: int) -> None:
        bits, m = self.bits, self.m
        for i in range(self.k):
            pos = ((h1 + i * h2) & _MASK) % m
            bits[pos >> 3] |= 1 << (pos & 7)
        self.count += 1

    def has(self, h1: int, h2: int) -> bool:
        bits, m = self.bits, self.m
        for i in range(self.k):
            pos = ((h1 + i * h2) & _MASK) % m
            if not (bits[pos >> 3] >> (pos & 7)) & 1:
                return False
        return True

    def add_many(self, h1: UInt64s, h2: UInt64s) -> None:
        """``add`` for arrays of hashes (numpy's uint64 arithmetic wraps as ``_MASK``)."""
        marks = np.zeros(self.m, dtype=bool)
        steps = np.arange(self.k, dtype=np.uint64)
        m = np.uint64(self.m)
        for start in range(0, len(h1), _CHUNK):
            a = h1[start : start + _CHUNK, None]
            b = h2[start : start + _CHUNK, None]
            marks[((a + steps * b) % m).ravel()] = True
        packed = np.packbits(marks, bitorder="little")
        current = np.frombuffer(self.bits, dtype=np.uint8)
        self.bits = bytearray((current | packed).tobytes())
        self.count += len(h1)


class BloomFilter:
    """A set of run ids that may answer "held" for one it does not hold (about
    ``error_rate`` of them), never "not held" for one it holds.

    Grows by stages (a scalable Bloom filter): once a stage holds its capacity, a new one
    of twice the capacity and half the error rate takes the additions, so the rate stays
    below twice ``error_rate`` however many runs come.  Not thread-safe."""

    def __init__(self, capacity: int = MIN_CAPACITY, error_rate: float = ERROR_RATE) -> None:
        if not 0.0 < error_rate < 1.0:
            raise ValueError(f"error rate {error_rate} is not within (0, 1)")
        self._error_rate = error_rate
        self._stages = [_Stage(max(1, capacity), error_rate)]

    @classmethod
    def of_hashes(cls, h1: UInt64s, h2: UInt64s, error_rate: float = ERROR_RATE) -> BloomFilter:
        """Holding the runs of these hashes, sized for twice as many (and at least
        ``MIN_CAPACITY``)."""
        out = cls(max(MIN_CAPACITY, 2 * len(h1)), error_rate)
        out._stages[0].add_many(
            np.ascontiguousarray(h1, dtype=np.uint64), np.ascontiguousarray(h2, dtype=np.uint64)
        )
        return out

    def add(self, run_id: str) -> None:
        h1, h2 = run_hashes(run_id)
        if any(stage.has(h1, h2) for stage in self._stages):
            return  # held already (or a false positive: the run is then reported anyway)
        stage = self._stages[-1]
        if stage.count >= stage.capacity:
            n = len(self._stages)
            stage = _Stage(stage.capacity * 2, self._error_rate * 0.5**n)
            self._stages.append(stage)
        stage.add(h1, h2)

    def update(self, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            self.add(run_id)

    def __contains__(self, run_id: object) -> bool:
        if not isinstance(run_id, str):
            return False
        h1, h2 = run_hashes(run_id)
        return any(stage.has(h1, h2) for stage in self._stages)

    @property
    def nbytes(self) -> int:
        """The filter's bits, in bytes."""
        return sum(len(s.bits) for s in self._stages)

    @property
    def stages(self) -> int:
        return len(self._stages)


class RunIds:
    """The run ids the tables hold, kept by ``feed``; ``close()`` stops its loader."""

    def __init__(
        self,
        store: SqlPort,
        feed: AppliedFeed,
        error_rate: float = ERROR_RATE,
        retry_s: float = _RETRY_S,
    ) -> None:
        self._store = store
        self._error_rate = error_rate
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._filter: BloomFilter | None = None  # None: unusable until loaded
        self._unheld = 0  # how many times records were applied unheld
        self._told: list[str] | None = None  # runs told while a load reads the table
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self.loads = 0  # filters loaded and put in use
        self.absent_answers = 0  # ids answered as not held
        feed.listen(self._applied)  # before the first load reads the table
        self._wake.set()
        self._thread = threading.Thread(target=self._loader, name="query-run-ids", daemon=True)
        self._thread.start()

    @property
    def ready(self) -> bool:
        """Whether a filter is in use (else every id takes the statement path)."""
        with self._lock:
            return self._filter is not None

    def absent(self, run_id: str) -> bool:
        """True only when the tables do not hold ``run_id`` (at this moment or a moment
        before: a run applied meanwhile is as if the read came earlier)."""
        with self._lock:
            f = self._filter
            if f is None or run_id in f:
                return False
            self.absent_answers += 1
            return True

    def wait_ready(self, timeout_s: float) -> bool:
        """For tests and measurements: wait until a filter is in use."""
        deadline = time.monotonic() + timeout_s
        while not self.ready:
            if time.monotonic() >= deadline or self._stopped.wait(0.01):
                return False
        return True

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _applied(self, version: int, gained: Applied) -> None:
        """Told by the feed, inside ``publish`` (before it wakes any waiting read)."""
        with self._lock:
            if gained.unheld:
                self._filter = None
                self._unheld += 1
                self._wake.set()
                return
            if self._told is not None:
                self._told.extend(gained.changed)
            if self._filter is not None:
                self._filter.update(gained.changed)

    def _load(self) -> bool | None:
        """Read the table into a new filter: True once in use, False when records were
        applied unheld during the read (load again), None when the read failed."""
        with self._lock:
            unheld = self._unheld
            self._told = []
        try:
            hashes = columns_of(self._store, RUN_HASHES_SQL, {"h1": np.uint64, "h2": np.uint64})
            built = BloomFilter.of_hashes(hashes["h1"], hashes["h2"], self._error_rate)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the statement path
            logger.warning("run ids not loaded (GetRun reads every id from the tables): %s", exc)
            with self._lock:
                self._told = None
            return None
        with self._lock:
            told, self._told = self._told or [], None
            if unheld != self._unheld:
                return False
            built.update(told)
            self._filter = built
            self.loads += 1
        logger.debug("run ids loaded: %d runs, %d bytes", len(hashes["h1"]), built.nbytes)
        return True

    def _loader(self) -> None:
        while True:
            self._wake.wait()
            if self._stopped.is_set():
                return
            self._wake.clear()
            with self._lock:
                if self._filter is not None:
                    continue  # woken for a filter a later load already put in use
            if self._load() is None:
                self._stopped.wait(self._retry_s)
                self._wake.set()
