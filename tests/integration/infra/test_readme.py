"""README's example runs as written against a real stack (addresses swapped for the test's)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runstream.infra.stack import Stack, StackSettings

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.fixture
def stack(kafka_bootstrap: str, chdb_dsn: str, topic_prefix: str) -> Iterator[Stack]:
    settings = StackSettings(
        kafka=kafka_bootstrap,
        clickhouse=chdb_dsn,
        database=f"readme_{uuid.uuid4().hex[:10]}",
        topic=f"{topic_prefix}.readme.{uuid.uuid4().hex[:6]}",
        address="127.0.0.1:0",
        partitions=2,
    )
    with Stack(settings) as running:
        yield running


def test_readme_example_runs(stack: Stack) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1
    code = blocks[0].replace("127.0.0.1:9092", stack.bootstrap)
    code = code.replace("127.0.0.1:50051", stack.address)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    env["RUNSTREAM_TOPIC"] = stack.settings.topic
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("other ranks join the run with {'RUNSTREAM_RUN_ID'")
    found = ast.literal_eval(lines[-1])
    assert found == [("lr-0.01", {"loss": 1.0 / 1000, "val_acc": 0.91})]
