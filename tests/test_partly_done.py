"""Failures after something landed exit 4 ("partly done"), never 2 ("nothing changed"): one line
that says what landed and how to finish; running the same command again finishes the job."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.cli import sealer as cli
from support.fake_vault import FakeVault
from support.git import commit_all, git
from support.repos import copy_repo, keypairs, rotated_template, set_env_option

from sealer.cli import cli as group
from sealer.errors import EXIT_BAD_INPUT, EXIT_PARTLY_DONE, PartlyDone


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    controllers = keypairs(tmp_path_factory, "staging")
    return rotated_template(tmp_path_factory, controllers, ["staging"], folder="partly")


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return copy_repo(template, tmp_path / "repo")


def one_line(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.output, result.exception)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr


def rejecting_remote(repo: Path, tmp_path: Path) -> None:
    """A remote whose pre-receive hook declines every push (git's answer spans several lines)."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'policy: no pushes today' >&2\nexit 1\n")
    hook.chmod(0o755)
    git(repo, "remote", "add", "origin", str(remote))


def accepting_remote(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "remote.git" / "hooks" / "pre-receive").unlink()


def missing_remote(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "origin", str(tmp_path / "remote.git"))  # not made yet


def make_remote(repo: Path, tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", str(tmp_path / "remote.git"))


def add_remote(repo: Path, tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", str(tmp_path / "remote.git"))
    git(repo, "remote", "add", "origin", str(tmp_path / "remote.git"))


@dataclass(frozen=True)
class Case:
    id: str
    before: Callable[[Path, Path], None]  # set the failure up
    expected: tuple[str, ...]  # fragments of the one line
    fix: Callable[[Path, Path], None]  # what the user does before running it again


PUSH_CASES = [
    Case(
        "push-to-a-missing-remote",
        missing_remote,
        (
            "is committed on branch land",
            "but the push to origin failed",
            "run `sealer rotate --resume` (or plain `sealer rotate`)",
        ),
        make_remote,
    ),
    Case(
        "push-declined-by-the-remote",
        rejecting_remote,
        (
            "is committed on branch land",
            "pre-receive hook declined",
            "run `sealer rotate --resume` (or plain `sealer rotate`)",
        ),
        accepting_remote,
    ),
]


@pytest.mark.parametrize("case", PUSH_CASES, ids=lambda c: c.id)
def test_a_failed_push_after_the_commit(repo: Path, tmp_path: Path, case: Case) -> None:
    case.before(repo, tmp_path)
    line = one_line(cli(repo, "rotate", "staging", "--branch", "land", "--push", "origin"), EXIT_PARTLY_DONE)
    assert line.startswith("sealer: the rotation of staging is committed on branch land (")
    assert all(fragment in line for fragment in case.expected), line
    assert git(repo, "rev-parse", "-q", "--verify", "land")  # the commit landed
    case.fix(repo, tmp_path)
    again = cli(repo, "rotate")  # rolls the same rotation forward: push, accept
    assert again.exit_code == 0, again.output
    remote = tmp_path / "remote.git"
    assert git(remote, "rev-parse", "land") == git(repo, "rev-parse", "land")


def test_a_failed_activation_after_commit_and_push(repo: Path, tmp_path: Path, vault_env: FakeVault) -> None:
    set_env_option(
        repo, "staging", "backend", {"kind": "vault", "options": {"path": f"t/{uuid.uuid4().hex}"}}
    )
    commit_all(repo, "staging keys in vault")
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    add_remote(repo, tmp_path)
    landed = repo / ".git" / "refs" / "heads" / "land"
    vault_env.before_request = lambda request: setattr(vault_env, "sealed", landed.exists())
    result = cli(repo, "rotate", "staging", "--branch", "land", "--push", "origin")
    line = one_line(result, EXIT_PARTLY_DONE)
    assert "is committed on branch land" in line and "and pushed to origin" in line
    assert (
        "accepting the new keys in the key store failed" in line
        and "run `sealer rotate --resume` (or plain `sealer rotate`)" in line
    )
    vault_env.before_request = None
    vault_env.sealed = False
    assert cli(repo, "rotate").exit_code == 0


def test_a_failed_backup_after_the_keypair_was_written(tmp_path: Path, vault_env: FakeVault) -> None:
    out, target = tmp_path / "keys", f"vault:secret/escrow/t-{uuid.uuid4().hex[:12]}"
    vault_env.fail_next(503)
    args = ("keypair", "--bits", "2048", "--out", str(out), "--backup", target)
    line = one_line(cli(tmp_path, *args), EXIT_PARTLY_DONE)
    assert line.startswith(f"sealer: a new keypair is written to {out}, but its backup to {target} failed: ")
    assert f"fix that and run `sealer keypair --out {out} --backup {target}` again" in line
    written = (out / "tls.key").read_bytes()
    again = cli(tmp_path, *args)  # escrows the keypair already there; makes no new one
    assert again.exit_code == 0, again.output
    assert (out / "tls.key").read_bytes() == written


def test_a_backup_whose_write_ctrl_c_left_under_way_after_the_keypair_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vault_env: FakeVault
) -> None:
    """Ctrl-C pressed again while the backup's write is on its way (InterruptedInFlight): the
    keypair is written and its backup may still land, so exit 4 says both and how to finish."""
    from sealer.backends.vault_kv import VaultKV
    from sealer.errors import InterruptedInFlight

    def left_under_way(*args: object, **kwargs: object) -> int:
        raise InterruptedInFlight(
            "interrupted with a write to vault (writing x) still under way: it may still land"
        )

    monkeypatch.setattr(VaultKV, "write", left_under_way)
    out, target = tmp_path / "keys", f"vault:secret/escrow/t-{uuid.uuid4().hex[:12]}"
    args = ("keypair", "--bits", "2048", "--out", str(out), "--backup", target)
    line = one_line(cli(tmp_path, *args), EXIT_PARTLY_DONE)
    assert line.startswith(f"sealer: a new keypair is written to {out}, but its backup to {target} failed: ")
    assert "still under way: it may still land" in line and (out / "tls.key").exists()


def test_a_bad_target_fails_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    one_line(cli(tmp_path, "keypair", "--out", str(out), "--backup", "vault:secret"), EXIT_BAD_INPUT)
    assert not out.exists()


def test_the_exit_code_is_its_own() -> None:
    assert PartlyDone.exit_code == EXIT_PARTLY_DONE == 4


def test_help_and_readme_document_exit_4() -> None:
    text = " ".join(CliRunner().invoke(group, ["--help"]).stdout.split())
    assert "2 usage or bad input (nothing changed)" in text and "4 partly done" in text
    readme = next(p / "README.md" for p in Path(__file__).resolve().parents if (p / "setup.cfg").is_file())
    assert "| 4 | partly done:" in readme.read_text()


@pytest.mark.parametrize("rerun", [("--resume",), ()], ids=["resume", "plain-rerun"])
def test_a_mistyped_push_remote_is_corrected_on_the_rerun(
    repo: Path, tmp_path: Path, rerun: tuple[str, ...]
) -> None:
    """A remote name that is no remote is refused before anything changes; one that fails the
    push after the commit is replaced by the rerun's --push."""
    add_remote(repo, tmp_path)
    start = git(repo, "rev-parse", "HEAD")
    line = one_line(cli(repo, "rotate", "staging", "--branch", "land", "--push", "orign"), EXIT_BAD_INPUT)
    assert "no remote named 'orign' in this repository (it has: origin)" in line
    assert git(repo, "rev-parse", "HEAD") == start and not (repo / ".git" / "sealer-rotation.json").exists()
    assert git(repo, "branch", "--list", "land") == ""
    git(repo, "remote", "add", "gone", str(tmp_path / "gone.git"))
    line = one_line(cli(repo, "rotate", "staging", "--branch", "land", "--push", "gone"), EXIT_PARTLY_DONE)
    assert "the push to gone failed" in line and "with --push REMOTE to push elsewhere" in line
    journal = (repo / ".git" / "sealer-rotation.json").read_bytes()
    line = one_line(cli(repo, "rotate", *rerun, "--push", "orign"), EXIT_BAD_INPUT)  # mistyped again
    assert "no remote named 'orign'" in line
    assert (repo / ".git" / "sealer-rotation.json").read_bytes() == journal  # nothing rolled forward
    again = cli(repo, "rotate", *rerun, "--push", "origin")  # the journaled remote is replaced
    assert again.exit_code == 0, again.output
    assert git(tmp_path / "remote.git", "rev-parse", "land") == git(repo, "rev-parse", "land")
    assert not (repo / ".git" / "sealer-rotation.json").exists()
