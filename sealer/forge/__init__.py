"""Git hosts sealer talks to: open a rotation's pull request, post review comments.

base (the `Forge` protocol) · http (the token-guarding REST client) · github · gitlab ·
pulls (what sealer does with them). `detect` picks the host from the CI's environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from sealer.forge.base import Forge, ForgeError


def _github(env: Mapping[str, str], token: str) -> Forge:
    from sealer.forge.github import GitHub

    return GitHub(env, token)


def _gitlab(env: Mapping[str, str], token: str) -> Forge:
    from sealer.forge.gitlab import GitLab

    return GitLab(env, token)


# Each host: how to build its client, and the variable holding its token.
FORGES: dict[str, tuple[Callable[[Mapping[str, str], str], Forge], str]] = {
    "github": (_github, "GITHUB_TOKEN"),
    "gitlab": (_gitlab, "GITLAB_TOKEN"),
}


def kind_of(env: Mapping[str, str]) -> str:
    """Which host the CI job runs on: GitLab CI sets CI_API_V4_URL, GitHub Actions GITHUB_REPOSITORY."""
    if env.get("CI_API_V4_URL"):
        return "gitlab"
    if env.get("GITHUB_REPOSITORY"):
        return "github"
    raise ForgeError(
        "cannot tell the Git host: set GITHUB_REPOSITORY (and GITHUB_API_URL for GitHub Enterprise), "
        "or CI_API_V4_URL and CI_PROJECT_ID for GitLab; CI sets them"
    )


def detect(env: Mapping[str, str] | None = None) -> Forge:
    """The host of this CI job with its token; one clear error when either is missing."""
    env = os.environ if env is None else env
    kind = kind_of(env)
    build, token_var = FORGES[kind]
    token = env.get(token_var, "")
    if not token:
        hint = (
            " (CI_JOB_TOKEN cannot push or open merge requests: use a project access token with api scope)"
            if kind == "gitlab"
            else ""
        )
        host = {"github": "GitHub", "gitlab": "GitLab"}[kind]
        raise ForgeError(f"{token_var} is not set: sealer needs a token to talk to {host}{hint}")
    return build(env, token)


def branch_under_review(root: Path) -> str | None:
    """CI's source-branch variable (its checkouts are detached), else the branch HEAD is on."""
    from sealer import git

    for var in ("GITHUB_HEAD_REF", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"):
        if os.environ.get(var):
            return os.environ[var]
    return git.current_branch(root)
