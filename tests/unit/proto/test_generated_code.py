"""The committed generated protobuf/gRPC code matches the .proto files."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

GENERATE = Path(__file__).resolve().parents[3] / "proto" / "generate.py"


def test_generated_code_has_not_drifted() -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is in the dev extra")
    spec = importlib.util.spec_from_file_location("runstream_generate", GENERATE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.drift() == [], "run: python proto/generate.py"


def test_generated_modules_import_under_the_namespace() -> None:
    from runstream.proto.v1 import common_pb2, query_pb2_grpc, write_pb2_grpc

    assert common_pb2.DESCRIPTOR.package == "runstream.v1"
    assert hasattr(query_pb2_grpc, "QueryServiceStub")
    assert hasattr(write_pb2_grpc, "WriteServiceStub")


def test_no_generic_top_level_modules(tmp_path: Path) -> None:
    """As installed (a clean interpreter outside the repo), only runstream.* is importable."""
    code = (
        "import importlib.util as u, runstream.proto, runstream.infra\n"
        "names = ['proto', 'producer', 'ingest', 'query', 'infra']\n"
        "print([n for n in names if u.find_spec(n) is not None])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
