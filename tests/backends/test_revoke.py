"""`sealer keys revoke`: the pull-request description says when verifiers refuse the key (README,
the key registry: "A revocation takes effect when that commit is merged and synced, not before;
the pull request says so")."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support.backend_repos import (
    ENV,
    Backend,
    configure,
    finish,
    one_line_error,
    options_of,
    rotate,
    store_of,
)
from support.cli import sealer
from support.git import commit_all, git, head
from support.repos import ledger_records, set_env_option

from sealer import layout, ledger
from sealer.records import ACTIVE, GRACE, REVOKED, iso


def revoked(repo: Path, *extra: str) -> tuple[dict[str, str], str]:
    """apiKey's active key revoked: the command's JSON and its pull-request description."""
    kid = {r.name: r for r in ledger_records(repo, ENV)}["apiKey"].key_id
    result = sealer(repo, "keys", "revoke", ENV, kid, "-o", "json", *extra)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return data, Path(data["pr_body_file"]).read_text()


def test_a_gitops_revocation_says_it_takes_effect_once_merged(backend_repo: Path) -> None:
    rotate(backend_repo)
    data, body = revoked(backend_repo)
    assert body.startswith(f"## Revoke `{data['key_id']}` ({ENV} / `apiKey`)")
    assert "verifiers accept it until this change is merged and synced" in body


def test_a_revocation_with_grace_names_its_end(backend_repo: Path) -> None:
    rotate(backend_repo)
    data, body = revoked(backend_repo, "--grace", "2h")
    assert f"valid until {data['revoke_at']} (its grace window), then revoked" in body


def test_an_external_store_revocation_says_verifiers_refuse_it_after_the_commit(
    backend_repo: Path, request: pytest.FixtureRequest
) -> None:
    configure(backend_repo, Backend("vault", options_of("vault", request.getfixturevalue("vault_store"))))
    rotate(backend_repo)
    finish(backend_repo)
    _, body = revoked(backend_repo, "--no-branch")
    assert "in the key store right after its commit: verifiers refuse it from then on" in body


# -- a rerun: its own branch leaves the checkout's ledger holding the key valid ---------------------


def revoke_branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/sealer/revoke-*").split()


def test_a_rerun_commits_no_second_revocation(backend_repo: Path) -> None:
    rotate(backend_repo)
    first, _ = revoked(backend_repo)
    start = head(backend_repo)
    again, _ = revoked(backend_repo)
    assert again["already_handled"] and not first["already_handled"]
    assert (again["branch"], again["commit"], again["status"]) == (
        first["branch"],
        first["commit"],
        "revoked",
    )
    assert again["pr_body_file"] == first["pr_body_file"]
    assert revoke_branches(backend_repo) == [first["branch"]] and head(backend_repo) == start
    # A grace window asked for now: the key revoked already there is at least that.
    text = sealer(backend_repo, "keys", "revoke", ENV, first["key_id"], "--grace", "1h", "--no-branch")
    assert text.exit_code == 0, text.output
    assert "already revoked there by an earlier run: nothing new committed" in text.stdout
    assert revoke_branches(backend_repo) == [first["branch"]] and head(backend_repo) == start


def test_a_rerun_takes_no_description_git_holds(backend_repo: Path) -> None:
    """A rerun hands on the first run's description, sealer's own output that Git ignores: a file
    of that name a commit brought (`git add -f`) is anyone's text, never the pull request's. The
    description is rebuilt from the commit beside it, where Git holds nothing; the held file is
    left as the commit has it."""
    rotate(backend_repo)
    first, body = revoked(backend_repo)
    described = Path(first["pr_body_file"])
    described.write_text("## Routine clean-up, nothing to check\n")
    git(backend_repo, "add", "-f", str(described.relative_to(backend_repo)))
    commit_all(backend_repo, "docs")
    result = sealer(backend_repo, "keys", "revoke", ENV, first["key_id"], "-o", "json")
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert again["already_handled"] and again["branch"] == first["branch"] and again["left"] == []
    rebuilt = Path(again["pr_body_file"])
    assert rebuilt == described.with_suffix(".rebuilt.md") and rebuilt.read_text() == body
    assert described.read_text() == "## Routine clean-up, nothing to check\n"
    assert git(backend_repo, "status", "--porcelain") == ""  # Git ignores the rebuilt one


def test_a_rerun_takes_no_description_through_a_symlinked_output_folder(backend_repo: Path) -> None:
    """A commit that makes `.sealer/out` a symlink to a folder of its own (Git holds the link, not
    the file below it) brought the file the rerun handed on as its description: anyone's text."""
    rotate(backend_repo)
    first, _ = revoked(backend_repo)
    described = Path(first["pr_body_file"])
    planted = backend_repo / "docs" / described.name
    planted.parent.mkdir()
    planted.write_text("## Routine clean-up, nothing to check\n")
    out = layout.out_path(backend_repo)
    shutil.rmtree(out)
    out.symlink_to("../docs")
    git(backend_repo, "add", "-f", "docs", str(out.relative_to(backend_repo)))
    commit_all(backend_repo, "docs")
    result = sealer(backend_repo, "keys", "revoke", ENV, first["key_id"], "-o", "json")
    assert result.exit_code == 4, result.output  # partly done: the description is left
    again = json.loads(result.stdout)
    assert again["already_handled"] and again["pr_body_file"] is None, again
    assert [line.split(":")[0] for line in again["left"]] == ["writing the pull-request description failed"]
    assert planted.read_text() == "## Routine clean-up, nothing to check\n"


def test_a_rerun_rebuilds_a_description_that_was_deleted(backend_repo: Path) -> None:
    rotate(backend_repo)
    first, body = revoked(backend_repo)
    Path(first["pr_body_file"]).unlink()
    again, rebuilt = revoked(backend_repo)
    assert again["already_handled"] and again["pr_body_file"] == first["pr_body_file"] and rebuilt == body


def test_revoking_now_a_key_an_earlier_run_gave_grace_is_a_new_revocation(backend_repo: Path) -> None:
    rotate(backend_repo)
    first, _ = revoked(backend_repo, "--grace", "2h")
    now, _ = revoked(backend_repo)
    assert not now["already_handled"] and now["commit"] != first["commit"] and now["status"] == "revoked"


def test_a_rerun_with_push_pushes_the_branch_the_first_run_made(backend_repo: Path, tmp_path: Path) -> None:
    rotate(backend_repo)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(backend_repo, "remote", "add", "origin", str(remote))
    first, _ = revoked(backend_repo)
    again, _ = revoked(backend_repo, "--push", "origin")
    assert again["already_handled"] and again["left"] == []
    assert git(remote, "rev-parse", f"refs/heads/{first['branch']}").strip() == first["commit"]
    remote.rename(tmp_path / "gone.git")
    failed = sealer(backend_repo, "keys", "revoke", ENV, first["key_id"], "--push", "origin")
    line = one_line_error(failed, 4)
    assert f"run `sealer keys revoke {ENV} {first['key_id']}` again" in line


def test_a_shorter_grace_window_than_an_earlier_run_gave_is_a_new_revocation(backend_repo: Path) -> None:
    rotate(backend_repo)
    first, _ = revoked(backend_repo, "--grace", "30d")
    shorter, _ = revoked(backend_repo, "--grace", "1h")
    assert not shorter["already_handled"] and shorter["commit"] != first["commit"]
    assert shorter["revoke_at"] < first["revoke_at"]


def vault_rotated(repo: Path, request: pytest.FixtureRequest) -> Callable[[str], None]:
    """`repo` on a Vault store, its first rotation finished; returns what sets the store back
    behind sealer's back (a key active again, valid for ever)."""
    vault, store = request.getfixturevalue("vault_env"), request.getfixturevalue("vault_store")
    configure(repo, Backend("vault", options_of("vault", store)))
    rotate(repo)
    finish(repo)
    path = f"{options_of('vault', store)['path']}/{ENV}"

    def set_back(key_id: str) -> None:
        data = vault.read_direct("secret", path)
        for record in data["records"]:
            record.update({"status": ACTIVE, "revoke_at": None} if record["key_id"] == key_id else {})
        vault.write_direct("secret", path, data)

    return set_back


def test_a_rerun_gives_a_store_set_back_the_grace_window_the_commit_holds(
    backend_repo: Path, request: pytest.FixtureRequest
) -> None:
    """An earlier `--grace 2h` revocation, then the store set back (the key active, valid for
    ever): the rerun commits nothing and gives the store that commit's grace end again."""
    set_back = vault_rotated(backend_repo, request)
    first, _ = revoked(backend_repo, "--grace", "2h")
    set_back(first["key_id"])
    again, _ = revoked(backend_repo, "--grace", "3h")
    assert again["already_handled"] and again["commit"] == first["commit"], again
    held = {r.key_id: r for r in store_of(backend_repo).list(ENV)}[first["key_id"]]
    assert (held.status, iso(held.revoke_at)) == (GRACE, first["revoke_at"])


def test_a_rerun_gives_a_set_back_store_the_revocation_its_branch_holds_now(
    backend_repo: Path, request: pytest.FixtureRequest
) -> None:
    """The earlier `--grace 2h` revocation's branch revoked the key outright since (a later
    commit there); the store set back: the rerun must revoke it, not give it the commit's two
    hours again (the store would accept a key the branch no longer does)."""
    set_back = vault_rotated(backend_repo, request)
    start = git(backend_repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    first, _ = revoked(backend_repo, "--grace", "2h")
    git(backend_repo, "checkout", "-q", first["branch"])
    records = [
        r.with_status(REVOKED, r.revoke_at) if r.key_id == first["key_id"] else r
        for r in ledger.load(backend_repo, ENV)
    ]
    ledger.save(backend_repo, ENV, records)
    commit_all(backend_repo, "revoke it at once: it leaked")
    git(backend_repo, "checkout", "-q", start)
    set_back(first["key_id"])
    again, _ = revoked(backend_repo, "--grace", "3h")
    assert again["already_handled"] and again["commit"] == first["commit"], again
    held = {r.key_id: r for r in store_of(backend_repo).list(ENV)}[first["key_id"]]
    assert held.status == REVOKED, held


# -- the last active key: allowed (an incident may need it), said on stderr and in the JSON -----------


def test_revoking_an_entrys_only_active_key_warns_that_none_is_left(backend_repo: Path) -> None:
    rotate(backend_repo)
    kid = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"].key_id
    result = sealer(backend_repo, "keys", "revoke", ENV, kid, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["no_active_key"] is True
    rotate_it = f"sealer rotate {ENV} --key apiKey"
    assert result.stderr == f"sealer: warning: {ENV}/apiKey has no active key left: run `{rotate_it}`\n"


def test_revoking_a_key_beside_an_active_one_warns_of_nothing(backend_repo: Path) -> None:
    rotate(backend_repo)
    older = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"].key_id
    rotate(backend_repo)
    records = ledger_records(backend_repo, ENV)
    assert [r.status for r in records if r.name == "apiKey" and r.key_id != older] == [ACTIVE]
    result = sealer(backend_repo, "keys", "revoke", ENV, older, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["no_active_key"] is False and result.stderr == ""


def test_revoking_the_last_key_of_an_entry_no_longer_managed_warns_of_nothing(backend_repo: Path) -> None:
    """An entry taken out of sealer.yaml's keys: `rotate --key` of it is refused, so a warning
    naming that command would send the operator to an error; none is left to want one."""
    rotate(backend_repo)
    kid = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"].key_id
    set_env_option(backend_repo, ENV, "keys", ["webhookKey"])
    commit_all(backend_repo, "apiKey is no longer used")
    result = sealer(backend_repo, "keys", "revoke", ENV, kid, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["no_active_key"] is False and result.stderr == ""


def _revoke_with_a_rotation_waiting(repo: Path, *rotate_args: str) -> tuple[str, str, str]:
    """apiKey's active key revoked while `sealer rotate` (on its own branch) waits unmerged:
    (stderr, the branch, apiKey's key id on it)."""
    rotate(repo)
    kid = {r.name: r for r in ledger_records(repo, ENV)}["apiKey"].key_id
    waiting = sealer(repo, "rotate", ENV, "--output", "json", *rotate_args)
    assert waiting.exit_code == 0, waiting.output
    branch = json.loads(waiting.stdout)["branch"]
    on_branch = ledger.parse(ENV, git(repo, "show", f"{branch}:{layout.ledger_file(ENV)}"), "b")
    new = next((r.key_id for r in on_branch if r.name == "apiKey" and r.key_id != kid), "")
    result = sealer(repo, "keys", "revoke", ENV, kid, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["no_active_key"] is True
    return result.stderr, branch, new


def test_with_a_rotation_waiting_unmerged_the_warning_names_its_branch_not_rotate(backend_repo: Path) -> None:
    """`sealer rotate` is refused while a rotation waits unmerged: the line sends the operator
    to the branch holding the entry's next key, which no cluster holds until it is merged."""
    stderr, branch, new = _revoke_with_a_rotation_waiting(backend_repo)
    assert stderr == (
        f"sealer: warning: {ENV}/apiKey has no active key left deployed: its next key {new} "
        f"waits unmerged on branch {branch}: merge it\n"
    )


def test_with_an_external_store_the_warning_says_it_accepts_the_waiting_key(
    backend_repo: Path, request: pytest.FixtureRequest
) -> None:
    """The rotation registered its new key in the store (accepted) before any merge."""
    configure(backend_repo, Backend("vault", options_of("vault", request.getfixturevalue("vault_store"))))
    stderr, branch, new = _revoke_with_a_rotation_waiting(backend_repo)
    assert stderr == (
        f"sealer: warning: {ENV}/apiKey has no active key left deployed: its next key {new}, accepted "
        f"by the vault store already, waits unmerged on branch {branch}: merge it\n"
    )


def test_a_waiting_rotation_of_another_entry_is_merged_before_rotating(backend_repo: Path) -> None:
    stderr, branch, new = _revoke_with_a_rotation_waiting(backend_repo, "--key", "adminKey")
    assert new == ""
    assert stderr == (
        f"sealer: warning: {ENV}/apiKey has no active key left: merge branch {branch}, whose rotation "
        f"of {ENV} waits unmerged, then `sealer rotate {ENV} --key apiKey`\n"
    )


def test_a_rotation_waiting_on_origin_alone_is_named_as_the_remote_holds_it(
    backend_repo: Path, tmp_path: Path
) -> None:
    """A CI job pushed the rotation: this checkout holds it only as origin's branch, which
    `sealer rotate` refuses to stack on as it does a local one."""
    rotate(backend_repo)
    kid = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"].key_id
    waiting = sealer(backend_repo, "rotate", ENV, "--output", "json")
    assert waiting.exit_code == 0, waiting.output
    branch = json.loads(waiting.stdout)["branch"]
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(backend_repo, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(backend_repo, "push", "-q", "origin", branch)
    git(backend_repo, "branch", "-q", "-D", branch)
    result = sealer(backend_repo, "keys", "revoke", ENV, kid, "-o", "json")
    assert result.exit_code == 0, result.output
    assert f"waits unmerged on branch origin/{branch}: merge it\n" in result.stderr


def test_a_waiting_ledger_too_large_to_read_names_no_key(backend_repo: Path) -> None:
    """Anyone may push a branch's ledger of any size: the warning's look at the waiting one is
    bounded like every file sealer reads, and one too large to read names no next key."""
    from sealer import repofiles

    rotate(backend_repo)
    kid = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"].key_id
    waiting = sealer(backend_repo, "rotate", ENV, "--output", "json")
    assert waiting.exit_code == 0, waiting.output
    branch = json.loads(waiting.stdout)["branch"]
    git(backend_repo, "checkout", "-q", branch)
    path = backend_repo / layout.ledger_file(ENV)
    path.write_text(path.read_text() + "#" * repofiles.MAX_BYTES + "\n")
    commit_all(backend_repo, "a large ledger")
    git(backend_repo, "checkout", "-q", "-")
    result = sealer(backend_repo, "keys", "revoke", ENV, kid, "-o", "json")
    assert result.exit_code == 0, result.output
    assert f"merge branch {branch}, whose rotation of {ENV} waits unmerged" in result.stderr, result.stderr
