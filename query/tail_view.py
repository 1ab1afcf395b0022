"""What ``runstream tail`` shows: the latest value per (run, key, context) and each run's
state, kept from the stream's messages (:class:`TailState`, pure), drawn as a refreshing
table with rich (:func:`table`) or written one line per point or change (:func:`lines`)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from runstream.proto.vocabulary import status_from_proto

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # run, key, context pairs


@dataclass
class Latest:
    step: int
    timestamp: int
    value: float
    count: int = 1

    def order(self) -> tuple[int, int, float]:
        """runstream's "latest": the largest (step, timestamp, value), NaN lowest."""
        return (self.step, self.timestamp, -math.inf if math.isnan(self.value) else self.value)


@dataclass
class RunState:
    name: str = ""
    status: str = ""
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class TailState:
    latest: dict[SeriesKey, Latest] = field(default_factory=dict)
    runs: dict[str, RunState] = field(default_factory=dict)
    points: int = 0
    messages: int = 0
    # (run, key) -> the latest value GetRun showed when the tail started (over every
    # context); shown until a point of that key arrives
    before: dict[tuple[str, str], Latest] = field(default_factory=dict)

    def seed(self, run: Any) -> None:
        """Start from a GetRun answer: the run's name, status, params, tags, latest values."""
        info = run.info
        state = self.runs.setdefault(info.run_id, RunState())
        state.name, state.status = info.run_name, _status_name(info.status)
        state.params.update({p.key: p.value for p in run.data.params})
        state.tags.update({t.key: t.value for t in run.data.tags})
        for m in run.data.metrics:
            self.before[(info.run_id, m.key)] = Latest(m.step, m.timestamp, m.value, count=0)

    def rows(self) -> list[tuple[SeriesKey, Latest, bool]]:
        """(series, latest, from the start) in order; a key's start value while no point
        of it arrived."""
        live = {(run, key) for run, key, _ in self.latest}
        rows = [(series, latest, False) for series, latest in self.latest.items()]
        rows += [
            ((run, key, ()), latest, True)
            for (run, key), latest in self.before.items()
            if (run, key) not in live
        ]
        return sorted(rows, key=lambda row: row[0])

    def apply(self, message: Any) -> None:
        """Fold one TailMessage in."""
        self.messages += 1
        for p in message.points:
            self.points += 1
            series = (p.run_id, p.key, tuple(sorted(p.context.items())))
            seen = self.latest.get(series)
            new = Latest(p.step, p.timestamp, p.value)
            if seen is None:
                self.latest[series] = new
                continue
            count = seen.count + 1
            if new.order() >= seen.order():
                self.latest[series] = new
            self.latest[series].count = count
        for c in message.changes:
            run = self.runs.setdefault(c.run_id, RunState())
            run.name = c.run_name or run.name
            run.status = c.status or run.status
            run.params.update(c.params)
            run.tags.update(c.tags)
            for key in c.deleted_tags:
                run.tags.pop(key, None)
            if c.kind == "run_deleted":
                run.deleted = True
            elif c.kind == "run_restored":
                run.deleted = False


def _status_name(value: int) -> str:
    return status_from_proto(value) or ""


def context_text(context: tuple[tuple[str, str], ...]) -> str:
    return " ".join(f"{k}={v}" for k, v in context)


def table(state: TailState, title: str, max_rows: int = 200) -> Any:
    """The latest values as a rich renderable (rich imported here: only this needs it)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=title, expand=False)
    many_runs = len({run for run, _, _ in state.latest} | set(state.runs)) > 1
    if many_runs:
        grid.add_column("run")
    for name in ("key", "context", "step", "value", "points"):
        grid.add_column(name, justify="right" if name in ("step", "value", "points") else "left")
    for (run, key, context), latest, before in state.rows()[:max_rows]:
        where = "(at start)" if before else context_text(context)
        cells = [key, where, str(latest.step), f"{latest.value:.6g}", str(latest.count)]
        grid.add_row(*([run[:12]] if many_runs else []), *cells)
    status = "; ".join(
        f"{run[:12]} {r.name or ''} {r.status or ''}{' (deleted)' if r.deleted else ''}".strip()
        for run, r in sorted(state.runs.items())
    )
    footer = Text(f"{state.points} points in {state.messages} messages", style="dim")
    return Group(*([Text(status)] if status else []), grid, footer)


def lines(message: Any) -> Iterator[str]:
    """One JSON line per point and per run change of a TailMessage (for pipes)."""
    for p in message.points:
        yield json.dumps(
            {
                "run_id": p.run_id,
                "key": p.key,
                "step": p.step,
                "value": p.value,
                "timestamp": p.timestamp,
                "context": dict(p.context),
            }
        )
    for c in message.changes:
        change: dict[str, Any] = {"run_id": c.run_id, "change": c.kind}
        for name in ("status", "run_name"):
            if getattr(c, name):
                change[name] = getattr(c, name)
        for name in ("start_time", "end_time"):
            if c.HasField(name):
                change[name] = getattr(c, name)
        if c.params:
            change["params"] = dict(c.params)
        if c.tags:
            change["tags"] = dict(c.tags)
        if c.deleted_tags:
            change["deleted_tags"] = list(c.deleted_tags)
        yield json.dumps(change)
