"""What a copy did: counts per kind, and the items it skipped or changed, with reasons."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One item of the source that was skipped (``skipped``) or changed on the way
    (``converted``), and why."""

    kind: str  # "run", "param", "metric", "experiment", "model version", ...
    item: str  # where it is: "run 3f2a... param lr"
    reason: str
    outcome: str = "skipped"

    def __str__(self) -> str:
        return f"{self.outcome} {self.kind} {self.item}: {self.reason}"


@dataclass
class Summary:
    """Counts of what a copy wrote (``written``) and found already there (``present``)."""

    dry_run: bool = False
    written: Counter[str] = field(default_factory=Counter)
    present: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    experiment_ids: dict[str, str] = field(default_factory=dict)  # source id -> target id
    model_ids: dict[str, str] = field(default_factory=dict)  # logged models whose id changed
    out: IO[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wrote(self, kind: str, n: int = 1) -> None:
        if n:
            with self._lock:  # runs are copied in worker threads
                self.written[kind] += n

    def found(self, kind: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self.present[kind] += n

    def problem(self, kind: str, item: str, reason: str, outcome: str = "skipped") -> None:
        found = Problem(kind, item, reason, outcome)
        with self._lock:  # writes run in worker threads
            self.problems.append(found)
            print(found, file=self.out or sys.stderr)

    def lines(self) -> list[str]:
        verb = "would write" if self.dry_run else "written"
        kinds = sorted(set(self.written) | set(self.present))
        out = [f"{'kind':<18} {verb:>12} {'already there':>14}"]
        out += [f"{k:<18} {self.written[k]:>12} {self.present[k]:>14}" for k in kinds]
        outcomes = Counter(p.outcome for p in self.problems)
        out.append(
            "problems: "
            + (", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) if outcomes else "none")
        )
        return out


def progress(items: Iterable[T], desc: str, total: int | None, unit: str) -> Iterator[T]:
    """``items`` with a tqdm bar on stderr (one per phase)."""
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, total=total, unit=unit, file=sys.stderr, leave=True)
