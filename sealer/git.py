"""The few Git operations sealer needs, through the real `git`.

Commits are built with plumbing on a private index, so whatever the user has staged stays out
of sealer's commit, and the branch moves in one atomic `update-ref` at the very end.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sealer.errors import BadInput, SealerError


class GitError(SealerError):
    """git refused (exit 2 semantics: the repo is not in a state sealer can work with)."""


def run(root: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if done.returncode:
        message = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise GitError(f"git {args[0]}: {message}")
    return done.stdout


def git_dir(root: Path) -> Path:
    return (root / run(root, "rev-parse", "--git-dir").strip()).resolve()


def head(root: Path) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "-q", "--verify", "HEAD^{commit}"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or None


def current_branch(root: Path) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(root), "symbolic-ref", "-q", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or None


def changed_paths(root: Path, paths: Sequence[str]) -> list[str]:
    """Which of `paths` differ from HEAD in the index or the working tree."""
    if not paths:
        return []
    out = run(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths)
    return [entry[3:] for entry in out.split("\0") if entry]


def branch_exists(root: Path, branch: str) -> bool:
    return (
        subprocess.run(
            ["git", "-C", str(root), "show-ref", "-q", "--verify", f"refs/heads/{branch}"]
        ).returncode
        == 0
    )


def check_branch_name(root: Path, branch: str) -> str:
    if subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True).returncode:
        raise BadInput(f"{branch!r} is not a valid branch name")
    if branch_exists(root, branch):
        raise BadInput(f"branch {branch} exists already")
    return branch


def identity(root: Path) -> str:
    """Who is rotating: CI's actor variables first, then the Git identity."""
    for var in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILDKITE_BUILD_CREATOR", "USER_LOGIN"):
        if os.environ.get(var):
            return os.environ[var]
    done = subprocess.run(
        ["git", "-C", str(root), "var", "GIT_COMMITTER_IDENT"], capture_output=True, text=True
    )
    if done.returncode == 0 and done.stdout.strip():
        return done.stdout.rsplit(">", 1)[0].strip() + ">"
    return os.environ.get("USER", "unknown")


def commit_paths(root: Path, paths: Sequence[str], message: str, branch: str | None) -> str:
    """Commit the working-tree state of `paths` on top of HEAD, on `branch` (new) or the
    current branch; returns the commit id. Nothing else the user changed is included."""
    parent = head(root)
    with tempfile.TemporaryDirectory(prefix="sealer-index-") as tmp:
        index_env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        run(root, "read-tree", *([parent] if parent else ["--empty"]), env=index_env)
        present = [p for p in paths if (root / p).exists()]
        shas = run(
            root, "hash-object", "-w", "--stdin-paths", stdin="".join(f"{p}\n" for p in present)
        ).split()
        info = "".join(f"100644 {sha}\t{p}\n" for sha, p in zip(shas, present, strict=False))
        info += "".join(f"0 {'0' * 40}\t{p}\n" for p in paths if p not in present)
        run(root, "update-index", "--index-info", stdin=info, env=index_env)
        tree = run(root, "write-tree", env=index_env).strip()
    commit = run(
        root, "commit-tree", tree, *(["-p", parent] if parent else []), "-F", "-", stdin=message
    ).strip()
    target = f"refs/heads/{branch}" if branch else _current_ref(root)
    expected = "0" * 40 if branch or not parent else parent  # a new branch must not exist yet
    run(root, "update-ref", target, commit, expected)
    if branch:
        run(root, "symbolic-ref", HEAD_REF, target)
    run(root, "reset", "-q", "--", *paths)  # the user's index now agrees with the new HEAD
    return commit


HEAD_REF = "HEAD"


def switch_to(root: Path, branch: str, paths: Sequence[str]) -> None:
    """Point HEAD at `branch` without touching the working tree, then sync the index for `paths`."""
    run(root, "symbolic-ref", HEAD_REF, f"refs/heads/{branch}")
    run(root, "reset", "-q", "--", *paths)


def _current_ref(root: Path) -> str:
    ref = subprocess.run(
        ["git", "-C", str(root), "symbolic-ref", "-q", HEAD_REF], capture_output=True, text=True
    )
    if ref.returncode:
        raise BadInput("HEAD is detached: give --branch NAME or check out a branch")
    return ref.stdout.strip()


def push(root: Path, remote: str, branch: str) -> None:
    run(root, "push", "-q", remote, f"refs/heads/{branch}:refs/heads/{branch}")


def file_at(root: Path, rev: str, path: str) -> str | None:
    done = subprocess.run(["git", "-C", str(root), "show", f"{rev}:{path}"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None
