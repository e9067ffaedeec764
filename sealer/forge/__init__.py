"""Git hosts sealer talks to: open a rotation's pull request, post review comments.

base (the `Forge` protocol) · http (the token-guarding REST client) · github · gitlab · gitea
(Gitea and Forgejo) · pulls (what sealer does with them) · workflows (`ci init`) ·
gitlab_includes (the repository's files a GitLab pipeline merges). `detect` picks the host from
SEALER_FORGE, else from the CI's environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from sealer import repofiles, strictjson
from sealer.errors import BadInput
from sealer.forge.base import Forge, ForgeError


def _github(env: Mapping[str, str], token: str) -> Forge:
    from sealer.forge.github import GitHub

    return GitHub(env, token)


def _gitlab(env: Mapping[str, str], token: str) -> Forge:
    from sealer.forge.gitlab import GitLab

    return GitLab(env, token)


def _gitea(env: Mapping[str, str], token: str) -> Forge:
    from sealer.forge.gitea import Gitea

    return Gitea(env, token)


def _forgejo(env: Mapping[str, str], token: str) -> Forge:
    from sealer.forge.gitea import Gitea

    return Gitea(env, token, name="Forgejo")


# Each host: how to build its client, the variable holding its token, its name in messages.
FORGES: dict[str, tuple[Callable[[Mapping[str, str], str], Forge], str, str]] = {
    "github": (_github, "GITHUB_TOKEN", "GitHub"),
    "gitlab": (_gitlab, "GITLAB_TOKEN", "GitLab"),
    "gitea": (_gitea, "GITEA_TOKEN", "Gitea"),
    "forgejo": (_forgejo, "FORGEJO_TOKEN", "Forgejo"),
}


def host_named(env: Mapping[str, str]) -> str | None:
    """The host a CI environment names (`kind_of`'s reading), None when it names none or
    SEALER_FORGE names an unknown one: for what must not guess (review's CODEOWNERS)."""
    chosen = env.get("SEALER_FORGE", "")
    if chosen:
        return chosen if chosen in FORGES else None
    if env.get("CI_API_V4_URL"):
        return "gitlab"
    if env.get("FORGEJO_ACTIONS"):
        return "forgejo"
    if env.get("GITEA_ACTIONS"):
        return "gitea"
    return "github" if env.get("GITHUB_REPOSITORY") else None


def kind_of(env: Mapping[str, str]) -> str:
    """Which host to talk to: SEALER_FORGE when set; else the CI's own marks. GitLab CI sets
    CI_API_V4_URL; Forgejo Actions FORGEJO_ACTIONS (and GITEA_ACTIONS), Gitea Actions
    GITEA_ACTIONS; all three Actions set GITHUB_REPOSITORY, so those marks come first."""
    chosen = env.get("SEALER_FORGE", "")
    if chosen and chosen not in FORGES:
        raise ForgeError(f"SEALER_FORGE must be one of {', '.join(FORGES)}, got {chosen[:40]!r}")
    named = host_named(env)
    if named is not None:
        return named
    raise ForgeError(
        "cannot tell the Git host: set GITHUB_REPOSITORY (and GITHUB_API_URL for GitHub Enterprise), "
        "or CI_API_V4_URL and CI_PROJECT_ID for GitLab; CI sets them (or SEALER_FORGE=gitea with "
        "GITEA_URL and GITEA_REPOSITORY)"
    )


def detect(env: Mapping[str, str] | None = None) -> Forge:
    """The host of this CI job with its token; one clear error when either is missing."""
    env = os.environ if env is None else env
    kind = kind_of(env)
    build, token_var, host = FORGES[kind]
    token = env.get(token_var, "")
    if not token:
        hint = (
            " (CI_JOB_TOKEN cannot push or open merge requests: use a project access token with api scope)"
            if kind == "gitlab"
            else ""
        )
        raise ForgeError(f"{token_var} is not set: sealer needs a token to talk to {host}{hint}")
    return build(env, token)


def branch_under_review(root: Path) -> str | None:
    """CI's source-branch variable (its checkouts are detached), else the branch HEAD is on."""
    from sealer import git

    return ci_branches()[0] or git.current_branch(root)


def ci_branches(env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """A pull-request job's source and target branch names, as the CI sets them (None outside one)."""
    env = os.environ if env is None else env
    pairs = (
        ("GITHUB_HEAD_REF", "GITHUB_BASE_REF"),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
    )
    for source, target in pairs:
        if env.get(source):
            return env[source], env.get(target) or None
    return None, None


# GitHub caps a webhook's payload at 25 MB; the event file Actions writes is that payload.
MAX_EVENT_BYTES = 32 << 20


def ci_default_branch(env: Mapping[str, str] | None = None) -> str | None:
    """The repository's default branch as the CI gives it (a checkout made by actions/checkout
    records no `origin/HEAD`): the `repository.default_branch` of the GitHub Actions event
    payload (the file GITHUB_EVENT_PATH names, read as sealer reads any file: no symlink, no
    FIFO, bounded), else GitLab's CI_DEFAULT_BRANCH. The payload comes first, as in `ci_branches`:
    a step before review may set CI_DEFAULT_BRANCH through GITHUB_ENV, never GITHUB_EVENT_PATH
    (GitHub keeps its own variables). None when neither gives one; a payload sealer cannot read
    or parse is bad input, never a guess."""
    env = os.environ if env is None else env
    path = env.get("GITHUB_EVENT_PATH")
    branch = _event_default_branch(path) if path else None
    return branch or env.get("CI_DEFAULT_BRANCH") or None


def _event_default_branch(path: str) -> str | None:
    what = f"the GitHub Actions event payload {path}"
    try:
        data = repofiles.read_bytes(path, MAX_EVENT_BYTES, user_path=True)
    except FileNotFoundError:
        raise BadInput(f"cannot read {what}: no such file") from None
    try:
        doc = strictjson.loads(data)
    except strictjson.DuplicateKey:
        raise BadInput(f"cannot read {what}: it gives a field twice") from None
    except (ValueError, RecursionError):
        raise BadInput(f"cannot read {what}: not JSON") from None
    repository = doc.get("repository") if isinstance(doc, dict) else None
    branch = repository.get("default_branch") if isinstance(repository, dict) else None
    return branch if isinstance(branch, str) and branch else None
