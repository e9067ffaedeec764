"""A pull request's files against main, for the review tests that attack what sealer delivers
(kustomizations, GitOps objects, charts): write them, keep some on main, review the range."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.cli import sealer as cli
from support.git import commit_all, git


def write(repo: Path, rel: str, text: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)


def on_main(repo: Path, files: dict[str, str]) -> None:
    """Files main holds since before the range (the checkout back on `pr`, reset to main)."""
    git(repo, "checkout", "-q", "main")
    for rel, text in files.items():
        write(repo, rel, text)
    commit_all(repo, "on main")
    git(repo, "checkout", "-q", "-B", "pr")


def run_review(repo: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """`sealer review ARGS` as JSON: its exit code (0 or 1) and its findings."""
    result = cli(repo, "review", *args, "--output", "json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)["findings"]


def reviewed_after(repo: Path, attack: Callable[[Path], None]) -> tuple[int, list[dict[str, Any]]]:
    """The review of main..HEAD once `attack` wrote its files and they were committed."""
    attack(repo)
    commit_all(repo, attack.__name__)
    return run_review(repo, "main", "HEAD")


def in_a_list(manifest: str) -> str:
    """A manifest as a `kind: List`'s item, which kubectl and GitOps tools apply as it stands."""
    return "apiVersion: v1\nkind: List\nitems:\n  -\n" + textwrap.indent(manifest, "    ")
