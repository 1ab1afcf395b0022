"""The read side's permission checks (``runstream.proto.permissions``), over the tables:
what a principal may read, and the facts the gateway asks for (the query service is the
gateway's :class:`~runstream.proto.permissions.Directory`).

* a read of one experiment, or of runs (by id), needs READ on the experiment(s);
* a search over named experiments needs READ on each; a search over "all experiments" is
  narrowed to those the principal may read (:meth:`ReadAccess.readable`).

Admins and plain-token principals never cause a lookup.  A principal whose default
permission allows reading and who has no grant by name and no grant below READ reads
everything without one either (the creator rule only adds rights).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from runstream.proto.permissions import ExperimentFacts, Permission, Principal

from .ports import SqlPort
from .sql_text import Binder, Sql

READ = Permission.READ


def experiment_facts_sql(experiment_ids: list[str]) -> Sql:
    b = Binder()
    return b.sql(
        "SELECT experiment_id, name, created_by FROM experiments FINAL "
        f"WHERE experiment_id IN {b.bind(experiment_ids, 'Array(String)')}"
    )


ALL_EXPERIMENT_FACTS_SQL = Sql("SELECT experiment_id, name, created_by FROM experiments FINAL")


def run_experiments_sql(run_ids: list[str]) -> Sql:
    b = Binder()
    return b.sql(
        "SELECT run_id, any(experiment_id) FROM runs "
        f"WHERE run_id IN {b.bind(run_ids, 'Array(String)')} GROUP BY run_id"
    )


class ReadAccess:
    """Permission checks and lookups over one SQL port."""

    def __init__(self, store: SqlPort) -> None:
        self._store = store

    # -- lookups (also the gateway's Directory, through the query service) --------------------

    def experiment_facts(self, experiment_ids: Collection[str]) -> dict[str, ExperimentFacts]:
        ids = sorted(set(experiment_ids))
        if not ids:
            return {}
        rows = self._store.rows(experiment_facts_sql(ids))
        return {str(r[0]): ExperimentFacts(str(r[0]), str(r[1]), str(r[2])) for r in rows}

    def run_experiments(self, run_ids: Collection[str]) -> dict[str, str]:
        """run id -> experiment id (a run never changes experiment: no FINAL needed)."""
        ids = sorted({r for r in run_ids if r})
        if not ids:
            return {}
        return {str(r): str(e) for r, e in self._store.rows(run_experiments_sql(ids))}

    # -- checks ---------------------------------------------------------------------------------

    def require(
        self, principal: Principal, needed: Permission, experiment_ids: Iterable[str]
    ) -> None:
        """PERMISSION_DENIED unless ``principal`` holds ``needed`` on every experiment."""
        ids = sorted(set(experiment_ids))
        unknown = [e for e in ids if not principal.decided_without_facts(e, needed)]
        facts = self.experiment_facts(unknown) if unknown else {}
        for eid in ids:
            principal.require(needed, facts.get(eid) or ExperimentFacts(eid))

    def require_experiment(self, principal: Principal, facts: ExperimentFacts) -> None:
        """READ on an experiment the caller already read (its row holds the facts)."""
        principal.require(READ, facts)

    def require_runs(self, principal: Principal, run_ids: Iterable[str]) -> None:
        """READ on the experiment of every run that exists (a run that does not has
        nothing to read)."""
        if principal.admin:
            return
        self.require(principal, READ, self.run_experiments(list(run_ids)).values())

    def readable(self, principal: Principal) -> frozenset[str] | None:
        """The experiments ``principal`` may read; None when that is every experiment."""
        if principal.admin:
            return None
        restricted = principal.by_name or any(not p.allows(READ) for p in principal.by_id.values())
        if principal.default.allows(READ) and not restricted:
            return None
        return frozenset(
            str(eid)
            for eid, name, creator in self._store.rows(ALL_EXPERIMENT_FACTS_SQL)
            if principal.permission_on(ExperimentFacts(str(eid), str(name), str(creator))).allows(
                READ
            )
        )
