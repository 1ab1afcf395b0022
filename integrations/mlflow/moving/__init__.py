"""Moving in and out: copy an MLflow store into runstream (``runstream import mlflow``)
and runstream into an MLflow store (``runstream export mlflow``).

Both directions are one copier (:mod:`.copier`, :mod:`.registry`) between a source read
through MLflow's own store API (any tracking URI MLflow reads, ``runstream://`` included)
and a target: :class:`.runstream_target.RunstreamTarget` writes through runstream's write
path (WriteService: events on the log, metric points in columnar batches, run ids kept),
:class:`.mlflow_target.MlflowTarget` through MLflow's store API.  A copy compares what
the target already holds before it sends anything, so running it again sends only what
is new.  Problems of single items are collected in the :class:`.report.Summary`, never
raised.
"""
