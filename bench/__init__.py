"""runstream's benchmarks.

``python -m bench`` runs runstream and MLflow side by side on one workload and writes
``docs/benchmarks.md`` (see ``bench/__main__.py``).  The component benchmarks
(``bench_sdk.py``, ``bench_ingest.py``, ``bench_query.py``) are scripts of their own.
"""
