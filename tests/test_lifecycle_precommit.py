"""The README's lifecycle, followed literally with the real pre-commit hooks installed, in a
fresh repository where no `sealer` is on PATH: pre-commit builds its own environment from a
sealer hooks repository (a local clone of this checkout, pinned at a commit), and no commit
needs `--no-verify`.

Slow: pre-commit builds a virtualenv and pip-installs sealer into it (once per session)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.isolation import IDENTITY, isolated

from sealer import apikey

pytestmark = pytest.mark.slow


def checkout_root() -> Path:
    """This source tree (wherever the tests folder sits in it)."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "setup.cfg").is_file() and (folder / ".pre-commit-hooks.yaml").is_file():
            return folder
    raise AssertionError("the tests do not sit in a sealer checkout")


def bare_path() -> str:
    """Only the folders of git and sh: no sealer, no pre-commit on PATH."""
    folders = [str(Path(str(shutil.which(tool))).parent) for tool in ("git", "sh")]
    assert not any((Path(f) / "sealer").exists() for f in folders)
    return os.pathsep.join(dict.fromkeys(folders))


def run(cwd: Path, env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def said(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr  # git passes the hooks' output on stderr


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A Git repository holding this checkout's files as they are now, and its commit."""
    source, target = checkout_root(), tmp_path_factory.mktemp("hooks") / "sealer"
    listed = subprocess.run(
        ["git", "-C", str(source), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        if (source / rel).is_file() and not (source / rel).is_symlink():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, target / rel)
    env = {**os.environ, **IDENTITY}
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "--no-verify", "-m", "sealer hooks")):
        subprocess.run(["git", "-C", str(target), *args], check=True, env=env, capture_output=True)
    rev = subprocess.run(["git", "-C", str(target), "rev-parse", "HEAD"], capture_output=True, text=True)
    return target, rev.stdout.strip()


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def user(tmp_path: Path, pre_commit_home: Path) -> Iterator[dict[str, str]]:
    """The newcomer's environment: own HOME, own identity, no sealer on PATH."""
    home = tmp_path / "home"
    home.mkdir()
    with isolated(home):
        yield {**os.environ, "PATH": bare_path(), "PRE_COMMIT_HOME": str(pre_commit_home)}


def test_the_readme_lifecycle_with_the_hooks_installed(
    tmp_path: Path, user: dict[str, str], hooks_repo: tuple[Path, str]
) -> None:
    sealer = (sys.executable, "-m", "sealer")
    pre_commit = (sys.executable, "-m", "pre_commit")
    repo, keys = tmp_path / "gitops", Path(user["HOME"]) / "sealer-keys" / "staging"
    repo.mkdir()

    # 2. set up a repo
    run(repo, user, "git", "init", "-q", "-b", "main")
    run(repo, user, *sealer, "init", "--hooks-repo", str(hooks_repo[0]), "--hooks-rev", hooks_repo[1])
    assert "pip install sealer" not in (repo / ".pre-commit-config.yaml").read_text()
    run(repo, user, *pre_commit, "install")
    run(repo, user, "git", "add", "-A")
    first = run(repo, user, "git", "commit", "-m", "sealer init")
    assert re.search(r"sealer scan \(no plaintext secrets\)\.+Passed", said(first))
    assert re.search(r"sealer check \(key policy\)\.+Passed", said(first))
    run(repo, user, *sealer, "keypair", "--bits", "2048", "--out", str(keys))
    run(repo, user, *sealer, "cert", "add", "staging", "--file", str(keys / "tls.crt"))
    run(repo, user, "git", "add", "-A")
    run(repo, user, "git", "commit", "-m", "pin the staging certificate")

    # 3. generate and deploy: the rotation's branch, merged as its pull request would be
    rotated = run(repo, user, *sealer, "rotate", "staging", "-o", "json")
    branch = json.loads(rotated.stdout)["branch"]
    assert run(repo, user, "git", "symbolic-ref", "--short", "HEAD").stdout.strip() == "main"
    refused = run(repo, user, *sealer, "rotate", "staging", check=False)
    assert refused.returncode == 2 and f"rotation on branch {branch}" in refused.stderr
    run(repo, user, "git", "merge", "-q", "--ff-only", branch)

    # 4. rotate, with a grace window; merged again
    again = run(repo, user, *sealer, "rotate", "staging", "--grace", "24h", "-o", "json")
    run(repo, user, "git", "merge", "-q", "--no-edit", json.loads(again.stdout)["branch"])
    assert run(repo, user, *sealer, "check").returncode == 0
    log = run(repo, user, "git", "log", "-p", "-3").stdout  # the diff driver, with no sealer on PATH
    assert "<sealed 2048-bit, sha256:" in log

    # the hooks still guard every commit: a plaintext key is refused
    (repo / "notes.txt").write_text(f"key = {apikey.generate('staging')}\n")
    run(repo, user, "git", "add", "notes.txt")
    blocked = run(repo, user, "git", "commit", "-m", "oops", check=False)
    assert blocked.returncode == 1 and "sealer-api-key" in said(blocked)
    assert "no plaintext secrets in" not in said(blocked)


def test_a_private_key_in_the_repo_is_ignored_and_blocked(
    tmp_path: Path, user: dict[str, str], hooks_repo: tuple[Path, str]
) -> None:
    sealer = (sys.executable, "-m", "sealer")
    repo = tmp_path / "gitops"
    repo.mkdir()
    run(repo, user, "git", "init", "-q", "-b", "main")
    run(repo, user, *sealer, "init", "--hooks-repo", str(hooks_repo[0]), "--hooks-rev", hooks_repo[1])
    run(repo, user, sys.executable, "-m", "pre_commit", "install")
    refused = run(repo, user, *sealer, "keypair", "--bits", "2048", "--out", "keys/staging", check=False)
    assert refused.returncode == 2
    assert "refusing to write a private key inside the Git work tree" in said(refused)
    assert not (repo / "keys").exists()
    # the old README's way, done by hand: a keypair written elsewhere, copied in
    run(tmp_path, user, *sealer, "keypair", "--bits", "2048", "--out", "outside")
    shutil.copytree(tmp_path / "outside", repo / "keys" / "staging")
    status = run(repo, user, "git", "status", "--porcelain", "--untracked-files=all").stdout
    assert "keys/staging/tls.crt" in status
    assert "tls.key" not in status and "sealed-secrets-key.yaml" not in status
    run(repo, user, "git", "add", "-f", "keys/staging/tls.key")  # forced past .gitignore
    blocked = run(repo, user, "git", "commit", "-m", "oops", check=False)
    assert blocked.returncode == 1 and "private-key" in said(blocked)
    assert "does not belong in the repository, sealed or not" in said(blocked)
