"""The rotation journal: what lets an interrupted rotation finish instead of half-happening.

Files are first written beside their targets as complete temp files; then the journal is
written (atomically); then the temps are renamed over the targets. Whoever finds a journal
(the next `sealer rotate`, after a crash or SIGKILL) rolls it forward: every temp it names is
complete, so finishing the renames can never produce a half-written file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import repofiles

PREPARED = "prepared"  # temps written, renames may be incomplete
WRITTEN = "written"  # working tree rotated, not committed (--no-commit)
COMMITTED = "committed"  # commit made; backend activation (and push) may be pending


@dataclass
class Journal:
    phase: str
    envs: list[str]
    files: list[dict[str, str]]  # {"path": repo-relative target, "tmp": repo-relative temp}
    activations: list[dict[str, Any]]  # {"env", "name", "key_id", "backend", "options", "revoke_at"}
    branch: str | None
    message: str
    push: str | None = None
    commit: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


def path(git_dir: Path) -> Path:
    return git_dir / "sealer-rotation.json"


def save(git_dir: Path, journal: Journal) -> None:
    # No indent: json's C encoder only runs without one, and a rotation's journal is large.
    repofiles.write(path(git_dir), json.dumps(vars(journal), sort_keys=True))


def load(git_dir: Path) -> Journal | None:
    try:
        data = json.loads(repofiles.read_text(path(git_dir)))
    except FileNotFoundError:
        return None
    return Journal(**data)


def clear(git_dir: Path) -> None:
    path(git_dir).unlink(missing_ok=True)


def apply_renames(root: Path, journal: Journal) -> None:
    """Move every temp over its target; idempotent, so a second run after a crash is safe."""
    for item in journal.files:
        repofiles.rename_if_exists(root / item["tmp"], root / item["path"])  # #13: no symlink followed


def discard_temps(root: Path, journal: Journal) -> None:
    for item in journal.files:
        repofiles.remove(root / item["tmp"])
