"""System tags set on runs this process creates: user, source, git commit, host.

Names follow MLflow's (``mlflow.user``, ``mlflow.source.name``, ``mlflow.source.type``,
``mlflow.source.git.commit``, ``mlflow.runName``, ``mlflow.parentRunId``); MLflow has no
host tag, so the host goes in ``runstream.host``.
"""

from __future__ import annotations

import functools
import getpass
import os
import socket
import sys
from pathlib import Path

RUN_NAME = "mlflow.runName"
PARENT_RUN_ID = "mlflow.parentRunId"
USER = "mlflow.user"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
GIT_COMMIT = "mlflow.source.git.commit"
HOST = "runstream.host"


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "")


def _source_path() -> str:
    main = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if main and main not in ("-c", "-m") and os.path.exists(main):
        return os.path.abspath(main)
    return main


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def git_commit(start: str | os.PathLike[str]) -> str | None:
    """The commit checked out in the git work tree holding ``start`` (read from ``.git``)."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        dot_git = folder / ".git"
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = _read(dot_git) or ""
            if not text.startswith("gitdir:"):
                return None
            dot_git = (folder / text.split(":", 1)[1].strip()).resolve()
        if not dot_git.is_dir():
            continue
        head = _read(dot_git / "HEAD")
        if head is None:
            return None
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(":", 1)[1].strip()
        common = dot_git
        if (dot_git / "commondir").is_file():
            common = (dot_git / (_read(dot_git / "commondir") or ".")).resolve()
        for base in (dot_git, common):
            value = _read(base / ref)
            if value:
                return value
        packed = _read(common / "packed-refs") or ""
        for line in packed.splitlines():
            sha, _, name = line.partition(" ")
            if name == ref:
                return sha
        return None
    return None


@functools.lru_cache(maxsize=1)
def system_tags() -> dict[str, str]:
    """The tags known about this process (computed once)."""
    tags = {USER: current_user(), SOURCE_TYPE: "LOCAL", HOST: socket.gethostname()}
    source = _source_path()
    if source:
        tags[SOURCE_NAME] = source
    base = os.path.dirname(source) if source and os.path.isabs(source) else os.getcwd()
    commit = git_commit(base)
    if commit:
        tags[GIT_COMMIT] = commit
    return {k: _utf8(v) for k, v in tags.items() if v}


def _utf8(text: str) -> str:
    """A file name that is not UTF-8 reaches Python with lone surrogates (surrogateescape);
    a tag must be valid UTF-8, so such bytes become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
