"""Pull requests that would have sealer take something for what it is not once merged: a commit
saying it is one of sealer's rotation branches (`Sealer-Branch:`), and a kustomization moving or
renaming the Secrets and key registries sealer manages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.cli import sealer as cli
from support.git import git, head
from support.isolation import isolated
from support.repos import copy_repo, keypairs, pinned_repo

from sealer import branches

SEALED = "sealed/staging/staging.yaml"
REGISTRY = "registry/staging/staging.yaml"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: staging and production rotated once."""
    controllers = keypairs(tmp_path_factory, "staging", "production")
    with isolated(tmp_path_factory.mktemp("home")):
        root = pinned_repo(tmp_path_factory, controllers)
        for env in ("staging", "production"):
            assert cli(root, "rotate", env, "--no-branch").exit_code == 0
    return root


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    root = copy_repo(template, tmp_path / "repo")
    git(root, "checkout", "-q", "-b", "pr")
    return root


def run_review(repo: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = cli(repo, "review", *args, "--output", "json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)["findings"]


def rules(findings: list[dict[str, Any]]) -> set[str]:
    return {f["rule"] for f in findings}


# -- a forged `Sealer-Branch:` trailer -----------------------------------------------------------


def rotation_claiming(repo: Path, name: str) -> str:
    """A clean rotation committed on the checked-out branch, its message ending with a trailer
    that says it is on branch `name`, as `rotate --branch NAME` writes it."""
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    message = git(repo, "log", "-1", "--format=%B").rstrip("\n") + "\n" + branches.trailer(name)
    git(repo, "commit", "-q", "--amend", "-m", message)
    return head(repo)


@pytest.mark.parametrize(
    ("claimed", "why"),
    [("main", "main is the branch it is to be merged into"), ("release", "the branch under review is pr")],
    ids=["main", "release"],
)
def test_a_trailer_naming_another_branch_fails(repo: Path, claimed: str, why: str) -> None:
    git(repo, "branch", "release", "main")
    rotation_claiming(repo, claimed)
    code, findings = run_review(repo, "main", "HEAD")
    assert code == 1 and rules(findings) == {"branch-trailer"}, findings
    assert f"`Sealer-Branch: {claimed}` but {why}:" in findings[0]["message"]
    assert findings[0]["path"] == "ledger/"


def test_a_trailer_naming_main_would_make_main_a_rotation_branch(repo: Path) -> None:
    """What the finding prevents: rebased onto main, main reads as a rotation branch."""
    rotation_claiming(repo, "main")
    assert rules(run_review(repo)[1]) == {"branch-trailer"}
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "pr")
    assert branches.is_own(repo, "main")


def test_in_ci_the_source_branch_is_the_one_under_review(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate reviews commit ids in a detached checkout: CI's variables name the branches."""
    base = git(repo, "rev-parse", "main").strip()
    commit = rotation_claiming(repo, "keys")
    git(repo, "checkout", "-q", "--detach")
    monkeypatch.setenv("GITHUB_HEAD_REF", "pr")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    assert rules(run_review(repo, base, commit)[1]) == {"branch-trailer"}
    monkeypatch.setenv("GITHUB_HEAD_REF", "keys")
    assert run_review(repo, base, commit) == (0, [])


def test_a_fork_branch_named_like_the_target_fails(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pull request from a fork's `main` into `main`: the trailer names the branch under review,
    which is the branch it is to be merged into."""
    base = git(repo, "rev-parse", "main").strip()
    commit = rotation_claiming(repo, "main")
    monkeypatch.setenv("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "main")
    monkeypatch.setenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
    code, findings = run_review(repo, base, commit)
    assert code == 1 and rules(findings) == {"branch-trailer"}
    assert "the branch it is to be merged into" in findings[0]["message"]


def test_with_no_branch_name_known_the_trailer_must_name_a_branch_holding_it(repo: Path) -> None:
    base = git(repo, "rev-parse", "main").strip()
    commit = rotation_claiming(repo, "keys")
    code, findings = run_review(repo, base, commit)
    assert code == 1 and rules(findings) == {"branch-trailer"}
    assert "no branch keys holds it" in findings[0]["message"]
    git(repo, "branch", "keys", commit)
    assert run_review(repo, base, commit) == (0, [])


def test_a_rotation_on_its_own_branch_passes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`rotate --branch NAME` writes `Sealer-Branch: NAME`: reviewed on NAME, however named."""
    git(repo, "checkout", "-q", "main")
    assert cli(repo, "rotate", "staging", "--branch", "keys/staging").exit_code == 0
    commit = git(repo, "rev-parse", "keys/staging").strip()
    assert branches.claims(repo, "-1", commit)[0].branches == ["keys/staging"]
    assert run_review(repo, "main", "keys/staging") == (0, [])
    assert run_review(repo, "main", commit) == (0, [])  # the branch holding it
    git(repo, "checkout", "-q", "keys/staging")
    assert run_review(repo) == (0, [])
    git(repo, "checkout", "-q", "--detach")
    monkeypatch.setenv("GITHUB_HEAD_REF", "keys/staging")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    assert run_review(repo, git(repo, "rev-parse", "main").strip(), commit) == (0, [])
