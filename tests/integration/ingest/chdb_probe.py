"""Run SQL on a chDB directory in a process of its own; print the results as JSON.

The pytest process may hold one chDB directory only (the session's), so tests that let
a worker subprocess write another directory read it back through this script, after
the worker has exited::

    python chdb_probe.py chdb:///DIR DATABASE < {"name": "SELECT ...", ...}
    -> {"name": [[...row...], ...], ...}

``fingerprints`` as the SQL returns count and hash of every table's canonical dump
(see ``workload.DUMPS``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import workload  # noqa: E402


def main() -> int:
    dsn, database = sys.argv[1], sys.argv[2]
    queries: dict[str, str] = json.load(sys.stdin)
    c = workload.client(dsn, database)
    out = {}
    for name, sql in queries.items():
        if sql == "fingerprints":
            out[name] = workload.fingerprints(c)
        else:
            out[name] = workload.canonical(c.query(sql).result_rows)
    c.close()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
