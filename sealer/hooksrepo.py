"""Where the generated `.pre-commit-config.yaml` gets sealer's hooks from.

sealer is not a published package, so pre-commit installs it the way it installs any hook
repository: it clones a sealer Git repository at a pinned `rev` and builds its own virtualenv
from it (`.pre-commit-hooks.yaml`, `language: python`). Nothing needs to be on PATH.

By default that is where the running sealer was installed from, as pip recorded it
(PEP 610 `direct_url.json`): a `pip install git+URL@REV` gives that URL at the commit pip
installed; a `pip install [-e] DIR` of a Git checkout gives the checkout's `origin` URL when
it has one — what colleagues and CI can reach — else its path, pinned at its current commit
(or its exact tag). `sealer init --hooks-repo URL --hooks-rev REV` names another (your team's
mirror, a release tag); a sealer installed from a wheel has no source to name and needs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sealer import git
from sealer.errors import BadInput

HOOKS_FILE = ".pre-commit-hooks.yaml"


@dataclass(frozen=True)
class HooksRepo:
    url: str
    rev: str


def without_credentials(url: str) -> str:
    """`url` with no password or token in it: a CI clone's origin carries its job token
    (https://gitlab-ci-token:TOKEN@…), and this URL is written into a committed file. An ssh
    user name stays (git@…); an https one is a token as often as not."""
    try:
        parts = urlsplit(url)
        if not parts.scheme or "@" not in parts.netloc:
            return url  # a path, or scp-like `git@host:path` (no password there)
        host = parts.netloc.rpartition("@")[2]
        user = parts.username if parts.scheme in ("ssh", "git+ssh") and parts.username else ""
    except ValueError:
        raise BadInput("the hooks repository URL is not a valid URL: give --hooks-repo") from None
    return parts._replace(netloc=f"{user}@{host}" if user else host).geturl()


def _git(checkout: Path, *args: str) -> str | None:
    return git.probe(checkout, *args) or None


def _checkout_at(folder: Path) -> Path | None:
    """`folder` when it is the top of a Git checkout that ships the hooks."""
    if not (folder / HOOKS_FILE).is_file():
        return None
    top = _git(folder, "rev-parse", "--show-toplevel")
    return folder if top and Path(top).resolve() == folder.resolve() else None


def _installed_from() -> dict[str, Any]:
    """pip's record of where this sealer came from (PEP 610), or {}."""
    from importlib import metadata

    try:
        found = json.loads(metadata.distribution("sealer").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def own_checkout() -> Path | None:
    """The Git checkout this sealer runs from or was installed from, if any."""
    import sealer

    running = _checkout_at(Path(sealer.__file__).resolve().parent.parent)
    url = str(_installed_from().get("url", ""))
    if running or not url.startswith("file://"):
        return running
    return _checkout_at(Path(unquote(urlsplit(url).path)))


def _installed_vcs() -> HooksRepo | None:
    """`pip install git+URL@REV`: that repository at the commit pip installed."""
    found = _installed_from()
    vcs = found.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git" and vcs.get("commit_id") and found.get("url"):
        return HooksRepo(without_credentials(str(found["url"])), str(vcs["commit_id"]))
    return None


def locate(url: str | None = None, rev: str | None = None) -> HooksRepo:
    """The hooks repository and pinned rev: as given, else this sealer's own checkout."""
    if url and without_credentials(url) != url:  # not echoed: it may hold a token
        raise BadInput(
            "--hooks-repo holds a user name or password, which would be committed in "
            ".pre-commit-config.yaml: give the URL without them (git's credential helper supplies them)"
        )
    for option, given in (("--hooks-repo", url), ("--hooks-rev", rev)):
        if given is not None and (not given.isprintable() or any(c.isspace() for c in given)):
            raise BadInput(f"{option} holds a space or a line break: give the URL or tag alone")
        if given is not None and given.startswith("-"):  # pre-commit hands both to git as arguments
            raise BadInput(
                f"{option} starts with '-', which git would take for an option: give the URL or tag"
            )
    if url and rev:
        return HooksRepo(url, rev)
    if url:
        raise BadInput("--hooks-repo needs --hooks-rev too: pre-commit pins a tag or commit")
    checkout = own_checkout()
    installed = _installed_vcs() if checkout is None else None
    if installed is not None:
        return HooksRepo(installed.url, rev or installed.rev)
    if checkout is None:
        raise BadInput(
            "sealer was not installed from a Git repository, so it cannot name its own hooks repository: "
            "give --hooks-repo URL --hooks-rev REV (the sealer repository your team uses)"
        )
    found = without_credentials(_git(checkout, "remote", "get-url", "origin") or str(checkout))
    pinned = rev or _git(checkout, "describe", "--exact-match", "--tags", "HEAD")
    pinned = pinned or _git(checkout, "rev-parse", "HEAD")
    if not pinned:
        raise BadInput(f"{checkout} has no commit to pin: give --hooks-rev REV")
    return HooksRepo(found, pinned)
