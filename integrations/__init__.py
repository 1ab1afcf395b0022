"""runstream inside other tools: one subpackage per tool (``runstream.integrations.mlflow``).

An integration is a client of runstream's gRPC services: it depends on ``runstream.proto``
and on the tool it plugs into, never on ``producer``, ``ingest``, ``query`` or ``infra``.
Importing this package imports nothing.
"""
