"""`sealer rotate --push REMOTE --open-pr`: the pull request of a rotation that was just pushed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sealer import repofiles
from sealer.config import Config
from sealer.errors import BadInput
from sealer.forge.base import Extras, Forge
from sealer.forge.pulls import Opened, open_rotation

MAX_DESCRIPTION_BYTES = 1 << 20


def read_description(path: Path) -> str:
    """The rotation's PR description, read without following a symlink (repofiles)."""
    try:
        data = repofiles.read_bytes(path, MAX_DESCRIPTION_BYTES)
    except FileNotFoundError as err:
        raise BadInput(f"cannot read the pull-request description {path}: {err.strerror}") from None
    return data.decode("utf-8", "replace")


def title_of(description: str, envs: list[str]) -> str:
    """The description's first heading ("## Rotate API keys: staging"), else a plain title."""
    first = description.lstrip().splitlines()[0] if description.strip() else ""
    title = first.lstrip("#").strip()
    return (title or f"Rotate API keys: {', '.join(envs)}")[:200]


def open_pull_request(forge: Forge, cfg: Config, result: dict[str, Any]) -> Opened:
    """Open (or update) the pull request of `result`, a pushed rotation on its own branch."""
    envs = [e["env"] for e in result["envs"]]
    description = read_description(Path(result["pr_body_file"]))
    settings = cfg.pull_requests
    extras = Extras(settings.labels, settings.reviewers, settings.assignees)
    title = title_of(description, envs)
    return open_rotation(forge, result["branch"], result["commit"], envs, title, description, extras)
