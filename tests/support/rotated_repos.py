"""Module-scoped fixtures for tests that rotate in a copy of one two-environment repo
(staging and production pinned, each rotated once, on main): `controllers`, `keys`,
`template`, `repo`. Not a plugin (`env_repos` has a `controllers` and a `repo` of its own):
a test module takes all four as module attributes (`controllers, keys, template, repo =
rotated_repos.controllers, ...`; ruff reads a `from` import of a name that tests take as an
argument as a redefinition) and builds its own template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.repos import copy_repo, keypairs, private_keys, rotated_template


@pytest.fixture(scope="module")
def controllers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """staging's and production's keypairs, and one no environment pins (`rogue`)."""
    return keypairs(tmp_path_factory, "staging", "production", "rogue")


@pytest.fixture(scope="module")
def keys(controllers: dict[str, Path]) -> list[Any]:
    return private_keys(controllers["staging"], controllers["production"])


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, controllers: dict[str, Path]) -> Path:
    """staging and production pinned, each rotated once, committed on main."""
    return rotated_template(tmp_path_factory, controllers)


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return copy_repo(template, tmp_path / "repo")
