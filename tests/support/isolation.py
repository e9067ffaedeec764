"""The test process never reads the caller's HOME, global git config, identity or services'
settings: every test (and every session fixture) runs with these set."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

IDENTITY = {
    "GIT_AUTHOR_NAME": "Sealer Test",
    "GIT_COMMITTER_NAME": "Sealer Test",
    "GIT_AUTHOR_EMAIL": "test@sealer.invalid",
    "GIT_COMMITTER_EMAIL": "test@sealer.invalid",
}
# What a CI runner or a developer's shell may set that would change what sealer or git does.
UNSET = (
    "GITHUB_ACTOR",
    "GITLAB_USER_LOGIN",
    "SEALER_FAULT",
    "KUBECONFIG",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    # which host's CODEOWNERS `review --approvals-from codeowners` reads (a Gitea or Forgejo runner sets them)
    "SEALER_FORGE",
    "GITHUB_REPOSITORY",
    "GITEA_ACTIONS",
    "FORGEJO_ACTIONS",
    "CI_API_V4_URL",
    # a pull-request job's branch names: which branch `sealer review` takes for the one under review
    "GITHUB_HEAD_REF",
    "GITHUB_BASE_REF",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
    # the default branch CI gives, which review takes for Argo CD's `HEAD`
    "GITHUB_EVENT_PATH",
    "CI_DEFAULT_BRANCH",
)


def isolate(patch: pytest.MonkeyPatch, home: Path) -> None:
    """No test touches $HOME, global git config, CI identities or real services' settings."""
    patch.setenv("HOME", str(home))
    patch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    patch.setenv("SEALER_TEST", "1")
    for var, value in IDENTITY.items():
        patch.setenv(var, value)
    for var in UNSET:
        patch.delenv(var, raising=False)


@contextlib.contextmanager
def isolated(home: Path) -> Iterator[None]:
    """`isolate` for a block (session fixtures, which run before function-scoped ones)."""
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, home)
        yield
