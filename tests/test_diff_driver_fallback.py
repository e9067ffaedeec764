"""The diff driver `sealer init` configures never breaks git: real `git log -p`, `git show` and
`git diff` with a PATH that holds no `sealer`, and with the interpreter gone altogether."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support.git import git
from support.repos import copy_repo, keypairs, rotated_template

from sealer import init

SEALED = "sealed/staging/staging.yaml"


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    controllers = keypairs(tmp_path_factory, "staging")
    return rotated_template(tmp_path_factory, controllers, ["staging"], folder="fallback", times=2)


@pytest.fixture
def bare_path(monkeypatch: pytest.MonkeyPatch) -> str:
    """PATH with only the folders of git, sh and cat: no `sealer` anywhere on it."""
    found = [shutil.which(tool) for tool in ("git", "sh", "cat")]
    assert all(found)
    folders = list(dict.fromkeys(str(Path(str(f)).parent) for f in found))
    assert not any((Path(folder) / "sealer").exists() for folder in folders)
    path = os.pathsep.join(folders)
    monkeypatch.setenv("PATH", path)
    return path


def test_git_log_p_without_sealer_on_path_shows_summaries(
    rotated: Path, tmp_path: Path, bare_path: str
) -> None:
    repo = copy_repo(rotated, tmp_path / "repo")
    for args in (("log", "-p", "-2"), ("show", "HEAD"), ("diff", "HEAD~1", "HEAD")):
        out = git(repo, *args, "--", SEALED)
        assert "<sealed 2048-bit, sha256:" in out and "unable to read files to diff" not in out


def test_a_driver_that_cannot_run_falls_back_to_the_plain_text(
    rotated: Path, tmp_path: Path, bare_path: str
) -> None:
    repo = copy_repo(rotated, tmp_path / "repo")
    git(repo, "config", "diff.sealer.textconv", init.textconv_command(str(tmp_path / "gone" / "python")))
    raw = git(repo, "diff", "--no-textconv", "HEAD~1", "HEAD", "--", SEALED)
    for args in (("log", "-p", "-2"), ("show", "HEAD"), ("diff", "HEAD~1", "HEAD")):
        out = git(repo, *args, "--", SEALED)
        assert "<sealed" not in out and "unable to read files to diff" not in out
    assert git(repo, "diff", "HEAD~1", "HEAD", "--", SEALED) == raw  # the base64 as it is


def test_an_interpreter_path_with_spaces_and_quotes_is_quoted_for_the_shell(
    tmp_path: Path, bare_path: str
) -> None:
    odd = tmp_path / "a b'c $HOME" / "python"
    odd.parent.mkdir()
    odd.write_text('#!/bin/sh\necho "driver: $1 $2 $3 $4"\n')
    odd.chmod(0o755)
    fresh = tmp_path / "repo"
    fresh.mkdir()
    git(fresh, "init", "-q")
    (fresh / "x.yaml").write_text("a: 1\n")
    (fresh / ".gitattributes").write_text("*.yaml diff=sealer\n")
    git(fresh, "config", "diff.sealer.textconv", init.textconv_command(str(odd)))
    git(fresh, "add", "-A")
    git(fresh, "commit", "-qm", "x")
    assert "+driver: -I -m sealer diff-driver" in git(fresh, "show", "HEAD")


def test_a_sealer_package_inside_the_repository_is_never_run(
    rotated: Path, tmp_path: Path, bare_path: str
) -> None:
    """A pull request adds `sealer/__init__.py` at the top of the repository. git runs the
    textconv there, and `python -m sealer` would import the package of the working folder
    first: whoever looks at the branch with `git log -p` would run the author's code."""
    repo = copy_repo(rotated, tmp_path / "repo")
    marker = tmp_path / "ran"
    (repo / "sealer").mkdir()
    (repo / "sealer" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (repo / "sealer" / "__main__.py").write_text("")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a package of the author's")
    for args in (("log", "-p", "-3"), ("diff", "HEAD~2", "HEAD")):
        out = git(repo, *args, "--", SEALED)
        assert "<sealed 2048-bit, sha256:" in out
    assert not marker.exists()
