"""The rotation engine's transaction in a real repository: what lands when something gets in
the way past the commit (another git holding the index, an unwritable `.sealer/out`, a push
that fails), a journal an attacker edited, a concurrent `git commit`, `keys revoke` racing a
rotation, a thrown-away `--no-commit`, and SIGINT / SIGKILL spread over every line of a
rotation, each followed by a plain re-run that must leave everything consistent."""

from __future__ import annotations

import concurrent.futures
import copy
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reference import decrypt, scope_label
from support.cli import sealer as cli
from support.git import branch, git, head
from support.repos import (
    JOURNAL,
    active,
    assert_consistent,
    at_point,
    copy_repo,
    keypairs,
    ledger_records,
    private_keys,
    rotated_template,
    sealed_doc,
    stray_temps,
    values_subtree,
)

from sealer import apikey, faults
from sealer.rotation import plan as planning

ENV = "staging"
FILES = {"sealed/staging/staging.yaml", "deploy/staging/values.yaml", "ledger/staging.yaml"}


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keypairs(tmp_path_factory, ENV)[ENV]


@pytest.fixture(scope="module")
def keys(controller: Path) -> list[Any]:
    return private_keys(controller)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, controller: Path) -> Path:
    """staging pinned and rotated once, committed on main."""
    return rotated_template(tmp_path_factory, {ENV: controller}, [ENV])


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return copy_repo(template, tmp_path / "repo")


def git_dir(repo: Path) -> Path:
    return Path(git(repo, "rev-parse", "--absolute-git-dir").strip())


def journal_of(repo: Path) -> dict[str, Any] | None:
    path = git_dir(repo) / JOURNAL
    return json.loads(path.read_text()) if path.exists() else None


def exit_4(result: Any, says: str) -> str:
    assert result.exit_code == 4, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], lines
    return str(lines[0])


def opens_to_the_ledger_key(repo: Path, keys: list[Any]) -> None:
    """The independent decrypt (tests/reference.py) of every value in the values file gives the
    key whose fingerprint the ledger holds as active: one current key per entry."""
    sub, doc = values_subtree(repo, ENV), sealed_doc(repo, ENV)
    label = scope_label("strict", doc["metadata"]["namespace"], doc["metadata"]["name"])
    records = ledger_records(repo, ENV)
    for name, text in sub["encryptedData"].items():
        opened = {decrypt(key, label, text) for key in keys if _opens(key, label, text)}
        assert len(opened) == 1
        assert apikey.fingerprint(opened.pop().decode()) == active(records, name).fingerprint
    names = [r.name for r in records if r.status == "active"]
    assert sorted(names) == sorted(set(names))


def _opens(key: Any, label: bytes, text: str) -> bool:
    try:
        decrypt(key, label, text)
    except ValueError:
        return False
    return True


def review_is_clean(repo: Path) -> None:
    """`sealer review` of the newest commit that changed the ledger (a rotation or revocation)."""
    last = git(repo, "log", "-1", "--format=%H", "--", f"ledger/{ENV}.yaml").strip()
    result = cli(repo, "review", f"{last}~1", last)
    assert result.exit_code == 0, result.output


def assert_clean(repo: Path, keys: list[Any], on: str | None = None) -> None:
    """Consistent, opening to the ledger's keys, reviewed clean: the checkout, or branch `on`."""
    if on:
        assert git(repo, "status", "--porcelain") == ""
        git(repo, "checkout", "-q", on)
    assert_consistent(repo, ENV, keys)
    opens_to_the_ledger_key(repo, keys)
    review_is_clean(repo)


# -- past the ref move: what lands, what is left, and the re-run that finishes it ----------------


@pytest.mark.parametrize("branch_args", [(), ("--no-branch",)])
def test_index_lock_held_during_the_commit(repo: Path, keys: list[Any], branch_args: tuple[str, ...]) -> None:
    start, lock = head(repo), git_dir(repo) / "index.lock"
    if not branch_args:  # a branch of its own never touches the checkout or the index: it finishes
        before = {p: (repo / p).read_bytes() for p in FILES}
        with at_point("before-commit", lambda: lock.write_text("")):
            done = cli(repo, "rotate", ENV, "-o", "json")
        assert done.exit_code == 0, done.output
        data = json.loads(done.stdout)
        assert git(repo, "rev-parse", f"{data['commit']}~1").strip() == start and head(repo) == start
        assert journal_of(repo) is None and {p: (repo / p).read_bytes() for p in FILES} == before
        lock.unlink()
        assert_clean(repo, keys, on=data["branch"])
        return
    with at_point("before-commit", lambda: lock.write_text("")):  # another git holds the index
        line = exit_4(cli(repo, "rotate", ENV, *branch_args), "syncing your checkout failed")
    assert "is committed on" in line and "--resume" in line
    entry = journal_of(repo)
    assert (
        entry
        and entry["phase"] == "committed"
        and git(repo, "rev-parse", f"{entry['commit']}~1").strip() == start
    )
    again = cli(repo, "rotate", ENV, *branch_args)  # the lock is still held: still exit 4, nothing lost
    assert again.exit_code == 4 and journal_of(repo) == {**entry, "result": journal_of(repo)["result"]}  # type: ignore[index]
    lock.unlink()
    done = cli(repo, "rotate", ENV, *branch_args, "-o", "json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["resumed"] is True and git(repo, "rev-parse", f"{data['commit']}~1").strip() == start
    assert head(repo) == (start if data["branch"] else data["commit"])  # a branch of its own: you stay
    assert_clean(repo, keys, on=data["branch"])


def test_an_unwritable_out_folder_after_the_commit(repo: Path, keys: list[Any]) -> None:
    out = repo / ".sealer" / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(exist_ok=True)
    out.write_text("a file where the folder should be\n")
    start = head(repo)
    exit_4(cli(repo, "rotate", ENV, "--no-branch"), "writing the pull-request description failed")
    committed = head(repo)
    assert committed != start and journal_of(repo)
    out.unlink()
    done = cli(repo, "rotate", ENV, "--no-branch", "-o", "json")  # finishes; does not rotate again
    assert done.exit_code == 0, done.output
    assert head(repo) == committed and Path(json.loads(done.stdout)["pr_body_file"]).is_file()
    assert_clean(repo, keys)


def test_a_failed_push_is_finished_by_resume(repo: Path, keys: list[Any], tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(repo, "remote", "add", "origin", str(remote))  # not created yet: the push fails
    exit_4(cli(repo, "rotate", ENV, "--push", "origin"), "the push to origin failed")
    rotation_branch = journal_of(repo)["branch"]  # type: ignore[index]
    assert rotation_branch.startswith("sealer/rotate-staging-") and journal_of(repo)
    git(tmp_path, "init", "-q", "--bare", str(remote))
    done = cli(repo, "rotate", "--resume")
    assert done.exit_code == 0, done.output
    tip = git(repo, "rev-parse", rotation_branch).strip()
    assert git(remote, "rev-parse", rotation_branch).strip() == tip and journal_of(repo) is None
    assert cli(repo, "rotate", "--resume").stdout == "nothing to resume\n"
    assert_clean(repo, keys, on=rotation_branch)


def test_sigint_after_the_ref_moved_is_partly_done_and_rolled_forward(repo: Path, keys: list[Any]) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    start = head(repo)
    with at_point("before-accept", interrupt):
        exit_4(
            cli(repo, "rotate", ENV, "--no-branch"), "accepting the new keys in the key store was interrupted"
        )
    assert head(repo) != start and journal_of(repo)
    assert cli(repo, "rotate", ENV, "--no-branch").exit_code == 0
    assert git(repo, "rev-parse", "HEAD~1").strip() == start
    assert_clean(repo, keys)


def test_sigint_leaving_a_store_write_under_way_after_the_ref_moved_says_it_may_land(
    repo: Path, keys: list[Any]
) -> None:
    """Ctrl-C pressed again while the acceptance's write is on its way (InterruptedInFlight): the
    partly-done message says that write may still land, and the re-run finishes the rotation."""
    from sealer.errors import InterruptedInFlight

    def interrupt() -> None:
        raise InterruptedInFlight(
            "interrupted with a write to vault: x (writing y) still under way: it may still land"
        )

    start = head(repo)
    with at_point("before-accept", interrupt):
        exit_4(
            cli(repo, "rotate", ENV, "--no-branch"),
            "accepting the new keys in the key store was interrupted with a write to vault: x (writing y) "
            "still under way: it may still land",
        )
    assert head(repo) != start and journal_of(repo)
    assert cli(repo, "rotate", ENV, "--no-branch").exit_code == 0
    assert_clean(repo, keys)


def test_sigint_before_the_ref_moves_rolls_back(repo: Path, keys: list[Any]) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    start, before = head(repo), {p: (repo / p).read_bytes() for p in FILES}
    with at_point("before-commit", interrupt):
        result = cli(repo, "rotate", ENV)
    assert result.exit_code != 0  # 130 from `sealer` (CliRunner reports click's Abort as 1)
    assert head(repo) == start and branch(repo) == "main" and journal_of(repo) is None
    assert {p: (repo / p).read_bytes() for p in FILES} == before and stray_temps(repo) == []


# -- what else gets in the way ------------------------------------------------------------------


def test_a_concurrent_git_commit_before_the_ref_moves(repo: Path, keys: list[Any]) -> None:
    """The branch moved under the rotation: the checked ref move refuses, everything is rolled
    back, the user's commit stays; the re-run rotates on top of it."""
    start = head(repo)

    def user_commits() -> None:
        git(repo, "commit", "-q", "--allow-empty", "-m", "someone else's commit")

    with at_point("before-commit", user_commits):
        result = cli(repo, "rotate", ENV, "--no-branch")
    assert result.exit_code == 2 and result.stderr.startswith("sealer: git update-ref"), result.output
    theirs = head(repo)
    assert git(repo, "rev-parse", "HEAD~1").strip() == start and journal_of(repo) is None
    assert git(repo, "status", "--porcelain") == "" and stray_temps(repo) == []
    assert cli(repo, "rotate", ENV, "--no-branch").exit_code == 0
    assert git(repo, "rev-parse", "HEAD~1").strip() == theirs
    assert_clean(repo, keys)


def test_no_commit_discarded_then_rerun_rotates_afresh(repo: Path, keys: list[Any]) -> None:
    start = head(repo)
    first = json.loads(cli(repo, "rotate", ENV, "--no-commit", "-o", "json").stdout)
    git(repo, "reset", "-q", "--hard")  # the user throws the files away
    git(repo, "clean", "-fdq", "-e", ".sealer")
    done = cli(repo, "rotate", ENV, "--no-branch", "-o", "json")
    assert done.exit_code == 0, done.output
    second = json.loads(done.stdout)
    assert second["commit"] and second["commit"] != start and head(repo) == second["commit"]
    assert second["keys"][0]["key_id"] != first["keys"][0]["key_id"]
    assert active(ledger_records(repo, ENV)).key_id == second["keys"][0]["key_id"]
    assert_clean(repo, keys)


def test_revoke_racing_a_rotation(repo: Path, keys: list[Any]) -> None:
    """`keys revoke` while a rotation runs is refused (one lock), nothing lost; once the rotation
    ends it lands as a commit of its own."""
    old = active(ledger_records(repo, ENV))
    env = {**os.environ, "SEALER_TEST": "1", "SEALER_FAULT": "before-commit:stop"}
    rotation = subprocess.Popen(
        [sys.executable, "-m", "sealer", "rotate", ENV, "--no-branch"],
        cwd=repo,
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        _, status = os.waitpid(rotation.pid, os.WUNTRACED)  # stopped between the renames and the commit
        assert os.WIFSTOPPED(status)
        raced = cli(repo, "keys", "revoke", ENV, old.key_id, "--no-branch")
        assert raced.exit_code == 2 and "another sealer rotation is running in this repo" in raced.stderr
    finally:
        os.kill(rotation.pid, signal.SIGCONT)
    _, stderr = rotation.communicate(timeout=60)  # closes the pipe too
    assert rotation.returncode == 0, stderr
    assert_consistent(repo, ENV, keys)
    new = active(ledger_records(repo, ENV))
    assert new.key_id != old.key_id
    done = cli(repo, "keys", "revoke", ENV, new.key_id, "--no-branch")
    assert done.exit_code == 0, done.output
    assert {r.key_id: r.status for r in ledger_records(repo, ENV)}[new.key_id] == "revoked"
    assert git(repo, "log", "-1", "--format=%s").strip() == f"sealer: revoke {ENV} key {new.key_id}"
    assert git(repo, "status", "--porcelain") == ""


REVOKE_POINTS = [
    "before-temps",
    "before-journal",
    "before-rename",
    "before-commit",
    "after-ref-move",
    "before-accept",
    "before-outputs",
]


@pytest.mark.parametrize("point", REVOKE_POINTS)
def test_revoke_fault_at_each_step_then_resume(
    repo: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`keys revoke` is the same transaction: undone before the ref moves, rolled forward after."""
    old, start = active(ledger_records(repo, ENV)), head(repo)
    monkeypatch.setenv("SEALER_FAULT", point)
    result = cli(repo, "keys", "revoke", ENV, old.key_id, "--no-branch")
    monkeypatch.delenv("SEALER_FAULT")
    if point in REVOKE_POINTS[:4]:
        assert isinstance(result.exception, faults.InjectedFault), result.output
        assert head(repo) == start and journal_of(repo) is None and stray_temps(repo) == []
        assert git(repo, "status", "--porcelain") == "" and active(ledger_records(repo, ENV)) == old
        result = cli(repo, "keys", "revoke", ENV, old.key_id, "--no-branch")
    elif point == "after-ref-move":
        assert result.exit_code == 0, result.output  # rolled forward by the same run
    else:
        exit_4(result, "the revocation of staging is committed on the current branch")
        assert cli(repo, "rotate", "--resume").exit_code == 0
    assert result.exit_code in (0, 4), result.output
    assert journal_of(repo) is None and git(repo, "status", "--porcelain") == ""
    assert {r.key_id: r.status for r in ledger_records(repo, ENV)}[old.key_id] == "revoked"
    assert git(repo, "log", "-1", "--format=%s").strip() == f"sealer: revoke {ENV} key {old.key_id}"


# -- a journal is untrusted input --------------------------------------------------------------


def _killed_before_rename(repo: Path) -> dict[str, Any]:
    env = {**os.environ, "SEALER_TEST": "1", "SEALER_FAULT": "before-rename:kill"}
    done = subprocess.run(
        [sys.executable, "-m", "sealer", "rotate", ENV], cwd=repo, env=env, capture_output=True
    )
    assert done.returncode == -signal.SIGKILL
    entry = journal_of(repo)
    assert entry is not None and entry["phase"] == "prepared"
    return entry


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda e: e["files"][0].update(path=".git/hooks/post-checkout"), "which it may not write"),
        (lambda e: e["files"][0].update(tmp="../../elsewhere"), "which it may not write"),
        (lambda e: e.update(envs=["nowhere"]), "nowhere"),
        (lambda e: e.update(phase="done"), "unreadable"),
        (lambda e: e.update(files="all"), "unreadable"),
        (lambda e: e.update(result={}), "unreadable (its report"),
        (lambda e: e["result"].update(envs=[{"keys": 3}]), "unreadable (its report"),
        (lambda e: e["result"]["envs"][0]["keys"][0].pop("key_id"), "unreadable (its report"),
    ],
)
def test_an_edited_journal_is_refused_and_nothing_is_written(
    repo: Path, edit: Callable[[dict[str, Any]], None], says: str
) -> None:
    entry = _killed_before_rename(repo)
    edit(entry)
    (git_dir(repo) / JOURNAL).write_text(json.dumps(entry))
    before = {p: (repo / p).read_bytes() for p in FILES}
    result = cli(repo, "rotate", ENV)
    assert result.exit_code == 2 and says in result.stderr, result.output
    assert {p: (repo / p).read_bytes() for p in FILES} == before
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()


def test_the_temps_marker_removes_temps_in_the_repository_only(repo: Path, tmp_path: Path) -> None:
    """The marker of a run killed before its journal names temps to sweep: one naming a file
    outside the work tree (an absolute path) is not a temp of sealer's, and stays."""
    outside = tmp_path / "elsewhere" / ".kept.yaml.sealer-tmp"
    outside.parent.mkdir()
    outside.write_text("not sealer's\n")
    inside = repo / "deploy" / "staging" / ".values.yaml.sealer-tmp"
    inside.write_text("a killed run's temp\n")
    marker = [str(outside), str(inside.relative_to(repo))]
    (git_dir(repo) / "sealer-temps.json").write_text(json.dumps(marker))
    assert cli(repo, "rotate", ENV, "--no-branch").exit_code == 0
    assert outside.read_text() == "not sealer's\n"
    assert not inside.exists()


def test_a_commit_on_its_own_branch_is_rolled_forward_from_the_bundle(repo: Path, keys: list[Any]) -> None:
    """A rotation on its own branch never writes the checkout: killed before its commit, its
    files wait beside the journal, and the re-run commits exactly those; a bundle that is
    missing or cut short refuses the journal instead."""
    start, before = head(repo), {p: (repo / p).read_bytes() for p in FILES}
    entry = _killed_before_rename(repo)
    bundle = git_dir(repo) / "sealer-rotation-files"
    assert entry["in_place"] is False and bundle.is_file() and stray_temps(repo) == []
    assert {p: (repo / p).read_bytes() for p in FILES} == before
    saved = bundle.read_bytes()
    bundle.write_bytes(saved[:-10])
    refused = cli(repo, "rotate", ENV)
    assert refused.exit_code == 2 and "missing or broken" in refused.stderr, refused.output
    bundle.write_bytes(saved)
    done = cli(repo, "rotate", ENV, "-o", "json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["resumed"] is True and data["branch"] == entry["branch"] and head(repo) == start
    assert git(repo, "rev-parse", f"{data['commit']}~1").strip() == start
    assert not bundle.exists() and journal_of(repo) is None
    assert_clean(repo, keys, on=data["branch"])


def test_a_bundle_rolled_forward_after_the_checkout_moved_on_lands_where_it_began(
    repo: Path, keys: list[Any]
) -> None:
    """The bundle holds whole files written against the commit the rotation began on: committed
    on top of a HEAD that moved since (a pull, a `keys revoke`), they would silently undo what
    came in between. Its branch starts where the rotation began, as an uninterrupted run's."""
    start = head(repo)
    entry = _killed_before_rename(repo)
    values = repo / "deploy/staging/values.yaml"
    values.write_text(values.read_text() + "replicaCount: 3\n")
    git(repo, "commit", "-qam", "meanwhile on main")
    moved = head(repo)
    done = cli(repo, "rotate", ENV, "-o", "json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["resumed"] is True and data["branch"] == entry["branch"] and head(repo) == moved
    assert git(repo, "rev-parse", f"{data['commit']}~1").strip() == start
    assert journal_of(repo) is None
    assert_clean(repo, keys, on=data["branch"])


def test_a_rotation_whose_bundle_cannot_be_written_leaves_nothing(
    repo: Path, keys: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while the files of a rotation on its own branch are bundled beside the
    journal: one line, exit 2, no branch, no bundle, no journal; the next run rotates."""
    start, before = head(repo), {p: (repo / p).read_bytes() for p in FILES}
    monkeypatch.setenv("SEALER_TEST", "1")
    monkeypatch.setenv("SEALER_IO_FAULT", "write:ENOSPC:sealer-rotation-files")
    failed = cli(repo, "rotate", ENV)
    monkeypatch.delenv("SEALER_IO_FAULT")
    lines = failed.stderr.strip().splitlines()
    assert failed.exit_code == 2 and len(lines) == 1 and "sealer-rotation-files" in lines[0], lines
    leftovers = [p.name for p in git_dir(repo).iterdir() if p.name.startswith(("sealer-", ".sealer-"))]
    assert leftovers == [] and journal_of(repo) is None and stray_temps(repo) == []
    assert head(repo) == start and git(repo, "branch", "--list", "sealer/*").strip() == ""
    assert {p: (repo / p).read_bytes() for p in FILES} == before
    done = cli(repo, "rotate", ENV, "-o", "json")
    assert done.exit_code == 0, done.output
    assert_clean(repo, keys, on=json.loads(done.stdout)["branch"])


def test_a_journal_naming_another_commit_is_refused(repo: Path, keys: list[Any]) -> None:
    """Past the ref move the journal's commit decides what is accepted in a store and pushed:
    it must be where the change landed (recomputed from git), or the journal is refused."""
    lock = git_dir(repo) / "index.lock"
    with at_point("before-commit", lambda: lock.write_text("")):
        exit_4(cli(repo, "rotate", ENV, "--no-branch"), "syncing your checkout failed")
    lock.unlink()
    entry = journal_of(repo)
    assert entry is not None
    (git_dir(repo) / JOURNAL).write_text(json.dumps({**entry, "commit": entry["parent"]}))
    refused = cli(repo, "rotate", ENV, "--no-branch")
    assert refused.exit_code == 2 and "is not where its change landed" in refused.stderr
    (git_dir(repo) / JOURNAL).write_text(json.dumps(entry))
    assert cli(repo, "rotate", "--resume").exit_code == 0
    assert_clean(repo, keys)


def test_the_commit_record_beside_the_journal_is_checked_like_the_journal(
    repo: Path, keys: list[Any]
) -> None:
    """Past the ref move a small record says the journal is committed (the journal itself is
    not written again): it is untrusted input too. One naming another commit, or broken, is
    refused; one left by another journal is ignored (the commit is recomputed from git)."""
    start = head(repo)
    killed = _sealer(repo, "rotate", ENV, extra={"SEALER_FAULT": "before-accept:kill"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    entry, mark_path = journal_of(repo), git_dir(repo) / "sealer-rotation-committed"
    assert entry is not None and entry["phase"] == "prepared" and entry["parent"] == start
    mark = json.loads(mark_path.read_text())
    tip = git(repo, "rev-parse", entry["branch"]).strip()
    assert mark == {"commit": tip, "branch": entry["branch"], "parent": start}
    for edited, says in [
        ({**mark, "commit": start}, "is not where its change landed"),
        ({**mark, "commit": "HEAD"}, "unreadable"),
        ({**mark, "pushed": True}, "unreadable"),
    ]:
        mark_path.write_text(json.dumps(edited))
        refused = cli(repo, "rotate", ENV)
        assert refused.exit_code == 2 and says in refused.stderr, refused.output
        assert journal_of(repo) == entry
    mark_path.write_text(json.dumps({**mark, "commit": start, "parent": "0" * 40}))  # another journal's
    done = cli(repo, "rotate", ENV, "-o", "json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["resumed"] is True and data["commit"] == mark["commit"] and head(repo) == start
    assert journal_of(repo) is None and not mark_path.exists()
    assert_clean(repo, keys, on=data["branch"])


@pytest.mark.parametrize(
    ("asked", "not_applied"),
    [
        ((ENV, "--branch", "mine"), ["--branch"]),
        ((ENV, "--no-branch"), ["--no-branch"]),
        ((ENV, "production", "--grace", "1h"), ["production", "--grace"]),
        (("--due",), ["--due"]),  # the scheduled run: what is due now was never looked at
        ((ENV, "--due"), []),
        ((ENV,), []),
    ],
)
def test_options_an_earlier_run_finished_first_did_not_take_are_named(
    repo: Path, keys: list[Any], asked: tuple[str, ...], not_applied: list[str]
) -> None:
    """A rerun finishes the interrupted rotation as it began (its own branch) and starts nothing
    new: what it was asked this time and did not do is said, on stderr and in the JSON."""
    start = head(repo)
    killed = _sealer(repo, "rotate", ENV, extra={"SEALER_FAULT": "before-accept:kill"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    entry = journal_of(repo)
    assert entry is not None and entry["branch"]
    done = cli(repo, "rotate", *asked, "-o", "json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["resumed"] is True and data["branch"] == entry["branch"] and head(repo) == start
    assert data["not_applied"] == not_applied
    if not not_applied:
        assert done.stderr == ""
        return
    assert done.stderr == (
        f"sealer: an earlier interrupted run was finished first, on its own branch {entry['branch']} "
        f"({data['commit'][:12]}), and nothing new was started: {', '.join(not_applied)} not applied; "
        "run the command again for them\n"
    )
    assert "mine" not in git(repo, "branch", "--list")
    assert_clean(repo, keys, on=data["branch"])


def test_finish_refuses_to_run_on_a_rotation_branch(repo: Path) -> None:
    data = json.loads(cli(repo, "rotate", ENV, "-o", "json").stdout)
    git(repo, "checkout", "-q", data["branch"])
    refused = cli(repo, "rotate", "--finish")
    assert refused.exit_code == 2 and "run `sealer rotate --finish` on the main branch" in refused.stderr


# -- SIGINT and SIGKILL at spread times ----------------------------------------------------------

RUNS_PER_KIND = 50


def _sealer(repo: Path, *args: str, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SEALER_TEST": "1", **extra}
    return subprocess.run(
        [sys.executable, "-m", "sealer", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _lines(template: Path, tmp: Path, start: str = "") -> int:
    """How many lines of sealer's code a rotation runs (from fault point `start`)."""
    repo = copy_repo(template, tmp / f"count{start}")
    done = _sealer(
        repo,
        "rotate",
        ENV,
        "--no-branch",
        extra={"SEALER_SIGNAL_AT": f"count:INT:{start}" if start else "count"},
    )
    assert done.returncode == 0, done.stderr
    return int(done.stderr.rsplit("sealer-lines: ", 1)[1].split()[0])


def _spread(total: int, count: int) -> list[int]:
    return sorted({1 + (total - 1) * i // max(count - 1, 1) for i in range(count)})


def _interrupt_then_rerun(template: Path, where: Path, spec: str) -> tuple[str, int, str, int]:
    repo = copy_repo(template, where)
    first = _sealer(repo, "rotate", ENV, "--no-branch", extra={"SEALER_SIGNAL_AT": spec})
    rerun = _sealer(repo, "rotate", ENV, "--no-branch", extra={})
    return spec, first.returncode, first.stderr, rerun.returncode


def test_sigint_and_sigkill_at_spread_lines_then_a_plain_rerun(
    template: Path, keys: list[Any], tmp_path: Path
) -> None:
    """Half the signals are spread over every line a rotation runs, half over the lines after
    its ref moves (where nothing may be undone); after each, a plain `sealer rotate` leaves a
    clean tree, one current key per entry, values that open to the ledger's key, a clean review."""
    whole, tail = _lines(template, tmp_path), _lines(template, tmp_path, "after-ref-move")
    assert whole > tail > 0
    specs = [
        f"{n}:{kind}{suffix}"
        for kind in ("INT", "KILL")
        for total, suffix in ((whole, ""), (tail, ":after-ref-move"))
        for n in _spread(total, RUNS_PER_KIND // 2)
    ]
    assert len(specs) >= 2 * RUNS_PER_KIND - 4  # a short tail may repeat a line
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(
            pool.map(lambda s: _interrupt_then_rerun(template, tmp_path / str(s[0]), s[1]), enumerate(specs))
        )
    # SIGINT: rolled back (130), committed but not finished (4), or it came after the work (0/130).
    expected = {"INT": {0, 4, 130}, "KILL": {0, -signal.SIGKILL}}
    for index, (spec, first, stderr, rerun) in enumerate(runs):
        assert first in expected[spec.split(":")[1]], (spec, first)
        assert "Traceback" not in stderr, (spec, stderr)
        assert rerun == 0, (spec, first, rerun)
        try:
            assert_clean(tmp_path / str(index), keys)
        except AssertionError as err:
            raise AssertionError(f"after {spec} (exit {first}): {err}") from err
    codes = [first for _, first, _, _ in runs]
    assert 130 in codes and 4 in codes and -signal.SIGKILL in codes  # the spread reaches every outcome


def _interrupt_branch_then_resume(template: Path, where: Path, spec: str) -> tuple[str, int, str, int]:
    repo = copy_repo(template, where)
    first = _sealer(repo, "rotate", ENV, extra={"SEALER_SIGNAL_AT": spec})
    rerun = _sealer(repo, "rotate", "--resume", extra={})
    return spec, first.returncode, first.stderr, rerun.returncode


def test_sigint_and_sigkill_in_a_rotation_on_its_own_branch_then_resume(
    template: Path, keys: list[Any], tmp_path: Path
) -> None:
    """A rotation on its own branch (its files bundled beside the journal, never renamed into the
    checkout): signals spread over its lines leave the checkout as it was and the branch, when
    there is one, complete once resumed."""
    runs_per_kind = 10
    repo = copy_repo(template, tmp_path / "count")
    counted = _sealer(repo, "rotate", ENV, extra={"SEALER_SIGNAL_AT": "count"})
    assert counted.returncode == 0, counted.stderr
    whole = int(counted.stderr.rsplit("sealer-lines: ", 1)[1].split()[0])
    specs = [f"{n}:{kind}" for kind in ("INT", "KILL") for n in _spread(whole, runs_per_kind)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(
            pool.map(
                lambda s: _interrupt_branch_then_resume(template, tmp_path / str(s[0]), s[1]),
                enumerate(specs),
            )
        )
    branches = []
    for index, (spec, first, stderr, rerun) in enumerate(runs):
        repo = tmp_path / str(index)
        assert first in {0, 4, 130, -signal.SIGKILL}, (spec, first)
        assert "Traceback" not in stderr, (spec, stderr)
        assert rerun == 0, (spec, first, rerun)
        made = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/sealer/").split()
        try:
            assert git(repo, "status", "--porcelain") == "" and len(made) <= 1
            assert_clean(repo, keys)  # the checkout as it was
            if made:
                assert_clean(repo, keys, on=made[0])
        except AssertionError as err:
            raise AssertionError(f"after {spec} (exit {first}): {err}") from err
        branches.append(bool(made))
    codes = {first for _, first, _, _ in runs}
    assert (
        {130, -signal.SIGKILL} <= codes and True in branches and False in branches
    )  # the spread reaches both


def _committed_by_mark(git: Path) -> Any:
    from sealer import journal

    entry = journal.Journal(journal.ROTATE, journal.PREPARED, [ENV], [], None, "a" * 40, "rotate")
    journal.save(git, entry)
    entry.phase, entry.commit = journal.COMMITTED, "b" * 40
    journal.mark_committed(git, entry)
    assert journal.load(git) == entry
    return entry


def test_a_journal_takes_its_environments_encoded_once(tmp_path: Path) -> None:
    """A --due run's environments (a megabyte) are encoded once, for the journal and the outputs:
    the journal splices the text it is given, and reads back as the journal it was."""
    from sealer import journal

    entry = journal.Journal(journal.ROTATE, journal.PREPARED, [ENV], [], None, "a" * 40, "rotate")
    entry.result = {"branch": None, "envs": [{"env": ENV, "keys": []}]}
    given = journal.envs_text(entry.result)
    journal.save(tmp_path, entry, given)
    assert journal.load(tmp_path) == entry
    assert f'"envs": {given}}}}}' in journal.path(tmp_path).read_text()
    entry.result = {"envs": []}  # a report of its environments alone
    journal.save(tmp_path, entry, "[]")
    assert journal.load(tmp_path) == entry


class _Killed(BaseException):
    pass


def test_a_kill_while_a_committed_journal_is_saved_again_keeps_it_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the ref move the journal on disk is PREPARED and a record says COMMITTED: the steps a
    roll-forward leaves are saved in the whole journal, and a kill before it is written must not
    take the record away first (a PREPARED journal whose HEAD moved on would be committed again)."""
    from sealer import journal

    entry = _committed_by_mark(tmp_path)
    before = copy.deepcopy(entry)
    entry.result["left"] = ["the push"]

    def killed(*_args: Any, **_kw: Any) -> None:
        raise _Killed

    monkeypatch.setattr(journal.repofiles, "write", killed)
    with pytest.raises(_Killed):
        journal.save(tmp_path, entry)
    monkeypatch.undo()
    assert journal.load(tmp_path) == before
    journal.save(tmp_path, entry)  # written: the record is gone, the journal says it all
    assert journal.load(tmp_path) == entry and not journal.committed_path(tmp_path).exists()


def test_a_kill_while_a_journal_is_cleared_never_leaves_it_prepared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sealer import journal

    _committed_by_mark(tmp_path)
    unlink, calls = Path.unlink, []

    def killed_after_the_first(self: Path, missing_ok: bool = False) -> None:
        if calls:
            raise _Killed
        calls.append(self)
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", killed_after_the_first)
    with pytest.raises(_Killed):
        journal.clear(tmp_path)
    monkeypatch.undo()
    assert journal.load(tmp_path) is None
    # The record left alone is never read, and a new journal removes it before it is written.
    fresh = journal.Journal(journal.ROTATE, journal.PREPARED, [ENV], [], None, "a" * 40, "rotate")
    journal.save(tmp_path, fresh)
    assert journal.load(tmp_path) == fresh and not journal.committed_path(tmp_path).exists()


def test_a_rotation_plans_without_the_cyclic_collector(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its passes over the records and texts a rotation keeps to its end free next to nothing
    (forkpool.collector_paused); it runs again once the rotation is done."""
    plan_env, collecting = planning.plan_env, []

    def recorded(*args: Any) -> Any:
        collecting.append(gc.isenabled())
        return plan_env(*args)

    monkeypatch.setattr(planning, "plan_env", recorded)
    done = cli(repo, "rotate", ENV)
    assert done.exit_code == 0, done.output
    assert collecting == [False] and gc.isenabled()
