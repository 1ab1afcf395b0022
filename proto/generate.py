"""Regenerate the committed Python code for ``proto/v1/*.proto``.

    python proto/generate.py            # rewrite proto/v1/*_pb2*.py(i)
    python proto/generate.py --check    # exit 1 if the committed code has drifted

The ``.proto`` files are staged under ``runstream/proto/v1/`` so that protoc writes
imports as ``from runstream.proto.v1 import ...`` (the installed namespace); the
protobuf package stays ``runstream.v1``.  Needs grpcio-tools (the ``dev`` extra),
pinned in pyproject so that regenerated code is byte-identical.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out_dir: Path) -> list[Path]:
    """Run protoc for every .proto in proto/v1; returns the generated files (in out_dir)."""
    from grpc_tools import protoc  # dev dependency

    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "src" / "runstream" / "proto" / "v1"
        staged.mkdir(parents=True)
        protos = sorted(SOURCE.glob("*.proto"))
        for p in protos:
            shutil.copy(p, staged / p.name)
        gen = Path(tmp) / "gen"
        gen.mkdir()
        include = str(Path(protoc.__file__).parent / "_proto")
        args = [
            "protoc",
            f"-I{Path(tmp) / 'src'}",
            f"-I{include}",
            f"--python_out={gen}",
            f"--pyi_out={gen}",
            f"--grpc_python_out={gen}",
            *(f"runstream/proto/v1/{p.name}" for p in protos),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        produced = sorted((gen / "runstream" / "proto" / "v1").iterdir())
        out_dir.mkdir(parents=True, exist_ok=True)
        results = []
        for f in produced:
            if f.name.endswith(GENERATED_SUFFIXES):
                shutil.copy(f, out_dir / f.name)
                results.append(out_dir / f.name)
        return results


def committed() -> list[Path]:
    return sorted(p for p in SOURCE.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def drift() -> list[str]:
    """Names of generated files that differ from (or are missing in) the committed tree."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        fresh_names = {p.name for p in fresh}
        problems = [p.name for p in committed() if p.name not in fresh_names]
        for p in fresh:
            mine = SOURCE / p.name
            if not mine.exists() or not filecmp.cmp(p, mine, shallow=False):
                problems.append(p.name)
        return sorted(problems)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed code drifted")
    args = parser.parse_args()
    if args.check:
        problems = drift()
        if problems:
            print("generated code is stale: " + ", ".join(problems), file=sys.stderr)
            print("run: python proto/generate.py", file=sys.stderr)
            return 1
        print("generated code is up to date")
        return 0
    for old in committed():
        old.unlink()
    for p in generate(SOURCE):
        print(p.relative_to(HERE.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
