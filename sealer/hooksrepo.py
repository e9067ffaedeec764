"""Where the generated `.pre-commit-config.yaml` gets sealer's hooks from.

sealer is not a published package, so pre-commit installs it the way it installs any hook
repository: it clones a sealer Git repository at a pinned `rev` and builds its own virtualenv
from it (`.pre-commit-hooks.yaml`, `language: python`). Nothing needs to be on PATH.

By default that is the Git checkout the running sealer is installed from (an editable
install): its `origin` URL when it has one — what colleagues and CI can reach — else its
path, pinned at its current commit (or its exact tag). `sealer init --hooks-repo URL
--hooks-rev REV` names another (your team's mirror, a release tag).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from sealer.errors import BadInput

HOOKS_FILE = ".pre-commit-hooks.yaml"


@dataclass(frozen=True)
class HooksRepo:
    url: str
    rev: str


def _git(checkout: Path, *args: str) -> str | None:
    done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def own_checkout() -> Path | None:
    """The Git checkout this sealer runs from, when it runs from one that ships the hooks."""
    import sealer

    folder = Path(sealer.__file__).resolve().parent.parent
    if not (folder / HOOKS_FILE).is_file():
        return None
    top = _git(folder, "rev-parse", "--show-toplevel")
    return folder if top and Path(top).resolve() == folder else None


def locate(url: str | None = None, rev: str | None = None) -> HooksRepo:
    """The hooks repository and pinned rev: as given, else this sealer's own checkout."""
    if url and rev:
        return HooksRepo(url, rev)
    if url:
        raise BadInput("--hooks-repo needs --hooks-rev too: pre-commit pins a tag or commit")
    checkout = own_checkout()
    if checkout is None:
        raise BadInput(
            "sealer is not running from a Git checkout, so it cannot name its own hooks repository: "
            "give --hooks-repo URL --hooks-rev REV (the sealer repository your team uses)"
        )
    found = _git(checkout, "remote", "get-url", "origin") or str(checkout)
    pinned = rev or _git(checkout, "describe", "--exact-match", "--tags", "HEAD")
    pinned = pinned or _git(checkout, "rev-parse", "HEAD")
    if not pinned:
        raise BadInput(f"{checkout} has no commit to pin: give --hooks-rev REV")
    return HooksRepo(found, pinned)
