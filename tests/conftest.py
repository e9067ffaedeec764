"""Shared fixtures. Tests never touch $HOME or global git config: see `isolated_env`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(var, "Sealer Test")
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(var, "test@sealer.invalid")
    for var in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "KUBECONFIG", "VAULT_ADDR", "VAULT_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SEALER_TEST", "1")
    os.umask(0o022)


@pytest.fixture(scope="session")
def keypair_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One RSA-4096 controller keypair for the whole session (generating one takes a while)."""
    from sealer import keypair

    out = tmp_path_factory.mktemp("keypair")
    keypair.write(keypair.generate(bits=4096), out)
    return out
