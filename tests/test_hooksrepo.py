"""Where the generated .pre-commit-config.yaml takes sealer's hooks from (sealer/hooksrepo.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.env_repos import invoke
from support.git import init_repo as make_repo
from support.repos import load_yaml

from sealer import hooksrepo
from sealer.errors import BadInput


def test_given_url_and_rev_are_written_as_given(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    url = "https://git.example.internal/platform/sealer.git"
    result = invoke(repo, "init", "--hooks-repo", url, "--hooks-rev", "v1.2.3")
    assert result.exit_code == 0, result.stderr
    (entry,) = load_yaml(repo / ".pre-commit-config.yaml")["repos"]
    assert (entry["repo"], entry["rev"]) == (url, "v1.2.3")
    assert [hook["id"] for hook in entry["hooks"]] == ["sealer-scan", "sealer-scan-message", "sealer-check"]


def test_a_url_without_a_rev_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    result = invoke(repo, "init", "--hooks-repo", "https://git.example.internal/sealer.git")
    assert result.exit_code == 2 and "--hooks-repo needs --hooks-rev too" in result.stderr
    assert not (repo / "sealer.yaml").exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://ci-token:glpat-s3cr3tT0k3n@git.example.internal/sealer.git",
        "https://s3cr3tT0k3n@git.example.internal/x",
    ],
)
def test_a_given_url_with_a_token_is_refused_unechoed(tmp_path: Path, url: str) -> None:
    """It would be committed in .pre-commit-config.yaml (the origin-derived URL is stripped)."""
    repo = make_repo(tmp_path / "repo")
    result = invoke(repo, "init", "--hooks-repo", url, "--hooks-rev", "v1")
    assert result.exit_code == 2 and "s3cr3t" not in result.output, result.output
    assert result.stderr.startswith("sealer: --hooks-repo holds a user name or password")
    assert not (repo / "sealer.yaml").exists()


@pytest.mark.parametrize(
    ("option", "url", "rev"),
    [
        ("--hooks-rev", "https://git.example.internal/sealer.git", "v1.2.3\n"),
        ("--hooks-rev", "https://git.example.internal/sealer.git", "v1.2.3 "),
        ("--hooks-rev", "https://git.example.internal/sealer.git", "v1\n    hooks: [{id: mine}]"),
        ("--hooks-repo", "https://git.example.internal/sealer.git\n  - repo: local", "v1"),
        ("--hooks-repo", " https://git.example.internal/sealer.git", "v1"),
    ],
)
def test_a_url_or_rev_with_a_space_or_line_break_is_refused(
    tmp_path: Path, option: str, url: str, rev: str
) -> None:
    """Pasted with a line break or a space, neither names anything pre-commit could install:
    one line, exit 2, nothing written (it wrote a config every later commit failed on)."""
    repo = make_repo(tmp_path / "repo")
    result = invoke(repo, "init", "--hooks-repo", url, "--hooks-rev", rev)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"sealer: {option} holds a space or a line break: give the URL or tag alone\n"
    assert not (repo / "sealer.yaml").exists()


@pytest.mark.parametrize(
    ("option", "url", "rev"),
    [
        ("--hooks-rev", "https://git.example.internal/sealer.git", "--upload-pack=touch"),
        ("--hooks-repo", "--upload-pack=touch", "v1"),
    ],
)
def test_a_url_or_rev_git_would_take_for_an_option_is_refused(
    tmp_path: Path, option: str, url: str, rev: str
) -> None:
    """pre-commit runs `git fetch origin REV` (and clones the URL): a value starting with `-`
    would be an option of git's. One line, exit 2, nothing written."""
    repo = make_repo(tmp_path / "repo")
    result = invoke(repo, "init", "--hooks-repo", url, "--hooks-rev", rev)
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"sealer: {option} starts with '-', which git would take for an option: give the URL or tag\n"
    )
    assert not (repo / "sealer.yaml").exists()


def test_the_default_is_this_checkout_pinned_at_its_commit() -> None:
    checkout = hooksrepo.own_checkout()
    assert checkout is not None and (checkout / ".pre-commit-hooks.yaml").is_file()
    found = hooksrepo.locate()
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True)
    tags = subprocess.run(
        ["git", "-C", str(checkout), "tag", "--points-at", "HEAD"], capture_output=True, text=True
    ).stdout.split()
    assert found.rev in (head.stdout.strip(), *tags)
    assert hooksrepo.locate(rev="v9").rev == "v9"


def test_without_a_checkout_init_asks_for_the_hooks_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooksrepo, "own_checkout", lambda: None)
    with pytest.raises(
        BadInput, match="not installed from a Git repository.*give --hooks-repo URL --hooks-rev REV"
    ):
        hooksrepo.locate()


def test_a_pip_install_from_git_pins_what_pip_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = {
        "url": "https://git.example.internal/platform/sealer.git",
        "vcs_info": {"vcs": "git", "commit_id": "a" * 40, "requested_revision": "v1.0"},
    }
    monkeypatch.setattr(hooksrepo, "own_checkout", lambda: None)
    monkeypatch.setattr(hooksrepo, "_installed_from", lambda: recorded)
    assert hooksrepo.locate() == hooksrepo.HooksRepo(recorded["url"], "a" * 40)
    assert hooksrepo.locate(rev="v1.0").rev == "v1.0"


def test_a_pip_install_of_a_checkout_folder_uses_that_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed (not editable) from a clone: the running code is in site-packages, and pip's
    record names the clone."""
    checkout = hooksrepo.own_checkout()
    assert checkout is not None
    real, asked = hooksrepo._checkout_at, []

    def site_packages_first(folder: Path) -> Path | None:
        asked.append(folder)
        return None if len(asked) == 1 else real(folder)  # the running copy is no checkout

    monkeypatch.setattr(hooksrepo, "_checkout_at", site_packages_first)
    monkeypatch.setattr(hooksrepo, "_installed_from", lambda: {"url": checkout.as_uri(), "dir_info": {}})
    assert hooksrepo.own_checkout() == checkout and asked[1] == checkout


@pytest.mark.parametrize(
    ("origin", "written"),
    [
        (
            "https://gitlab-ci-token:glcbt-SECRET123@gitlab.example.internal/platform/sealer.git",
            "https://gitlab.example.internal/platform/sealer.git",
        ),
        (
            "https://ghp_SECRET123@github.example/platform/sealer.git",
            "https://github.example/platform/sealer.git",
        ),
        ("ssh://git:SECRET123@git.example.internal/sealer.git", "ssh://git@git.example.internal/sealer.git"),
        ("git@git.example.internal:platform/sealer.git", "git@git.example.internal:platform/sealer.git"),
    ],
)
def test_credentials_in_the_checkouts_origin_never_reach_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, origin: str, written: str
) -> None:
    """A CI clone's origin carries its job token (GitLab CI clones https://gitlab-ci-token:TOKEN@…):
    `sealer init` there must not commit that token in .pre-commit-config.yaml."""
    checkout = make_repo(tmp_path / "sealer")
    (checkout / ".pre-commit-hooks.yaml").write_text("[]\n")
    subprocess.run(["git", "-C", str(checkout), "remote", "add", "origin", origin], check=True)
    monkeypatch.setattr(hooksrepo, "own_checkout", lambda: checkout)
    assert hooksrepo.locate(rev="v1").url == written
    recorded = {"url": origin, "vcs_info": {"vcs": "git", "commit_id": "a" * 40}}
    monkeypatch.setattr(hooksrepo, "own_checkout", lambda: None)
    monkeypatch.setattr(hooksrepo, "_installed_from", lambda: recorded)
    assert hooksrepo.locate().url == written
