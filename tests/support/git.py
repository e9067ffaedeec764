"""The one way tests run git: in a given repo, with the test identity whatever the
environment holds, failures as an AssertionError that shows git's stderr."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.isolation import IDENTITY


def _run(root: Path, args: tuple[str, ...], data: bytes | None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, **IDENTITY}
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, input=data, env=env)


def git(root: Path, *args: str, check: bool = True, data: bytes | None = None) -> str:
    """`git ARGS` in `root`: its stdout as text."""
    return git_bytes(root, *args, check=check, data=data).decode("utf-8", "replace")


def git_bytes(root: Path, *args: str, check: bool = True, data: bytes | None = None) -> bytes:
    done = _run(root, args, data)
    if check and done.returncode:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace')}")
    return done.stdout


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def branch(root: Path) -> str:
    return git(root, "symbolic-ref", "--short", "HEAD").strip()


def commit_all(root: Path, message: str = "change", *, allow_empty: bool = False) -> str:
    """Stage everything and commit it (through the repo's hooks, if a test installed any); the
    new HEAD."""
    git(root, "add", "-A")
    git(root, "commit", "-q", *(["--allow-empty"] if allow_empty else []), "-m", message)
    return head(root)


def init_repo(root: Path) -> Path:
    """A fresh repo with one empty commit on `main`."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "commit", "-q", "--allow-empty", "-m", "empty")
    return root
