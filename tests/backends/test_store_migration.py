"""`sealer backend set` moves an environment's key records between every pair of store kinds
(the contract suite's stores: real PostgreSQL, moto, the fake Vault and Auth0, the ledger), with
a failure injected at each step: the old store stays in charge, the repository is unchanged,
and running it again finishes the move.

Each ordered pair meets one failure, chosen so that every target and every source kind meets
every failure once (20 pairs, 4 failures): a write into the new store failing midway, a
read-back that differs, a commit git refuses, and a run killed between the copy and the commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.backend_repos import (
    ENV,
    FIXTURE,
    NAMES,
    Backend,
    assert_ledger_agrees,
    configure,
    current_keys,
    finish,
    ok,
    one_line_error,
    options_of,
    rotate,
    statuses,
    store_of,
    verify,
)
from support.cli import in_dir, run_main, sealer
from support.fake_http import Response
from support.git import git, head
from support.records import pending_key
from support.repos import ledger_records, run_sealer

from sealer import config, faults
from sealer.backends import KeyStore, open_store
from sealer.faults import InjectedFault
from sealer.records import ACTIVE, GRACE, KeyRecord

KINDS = ["k8s-secrets", "postgres", "dynamodb", "vault", "auth0"]
SLOW = {"postgres", "dynamodb"}
STEPS = ["write-fails", "verify-differs", "commit-fails", "killed-before-commit"]


def pair(source: str, target: str, step: str) -> Any:
    marks = [pytest.mark.slow] if {source, target} & SLOW else []
    return pytest.param(source, target, step, marks=marks, id=f"{source}-to-{target}-{step}")


# Every ordered pair of store kinds meets a failure at every step.
PAIRS = [
    pair(source, target, step) for source in KINDS for target in KINDS if source != target for step in STEPS
]


def store_backend(kind: str, request: pytest.FixtureRequest) -> Backend:
    """A fresh, empty store of `kind` from the contract suite's fixtures (the ledger for k8s-secrets)."""
    if kind == "k8s-secrets":
        return Backend(kind, {})
    return Backend(kind, options_of(kind, request.getfixturevalue(f"{FIXTURE[kind]}_store")))


def records_of(repo: Path, backend: Backend) -> list[KeyRecord]:
    return open_store(backend.kind, backend.options, repo).list(ENV)


def deployed_twice(repo: Path, source: Backend) -> None:
    """staging in `source`, two rotations deployed, the second with a grace window: active,
    grace and (for keys sealer made) every state a settled store holds."""
    if source.kind != "k8s-secrets":
        configure(repo, source)
    rotate(repo)
    finish(repo)
    rotate(repo, "--grace", "2h")
    finish(repo)
    kinds = {r.status for r in store_of(repo).list(ENV)}
    assert kinds == {ACTIVE, GRACE}, kinds


def revoked_by_hand(store: KeyStore) -> KeyRecord:
    """A key the ledger never held, revoked in the store (by an operator, say)."""
    record = pending_key(env=ENV, name=NAMES[0])[1]
    store.register(record)
    store.revoke(ENV, record.key_id)
    return record


def by_id(record: KeyRecord) -> str:
    return record.key_id


def in_the_ledgers_window(ledger: KeyRecord, store: KeyRecord) -> bool:
    """The ledger's grace window (from the commit) ends no later than the store's (from `--finish`)."""
    assert ledger.revoke_at and store.revoke_at
    same_but_the_end = ledger.with_status(GRACE, store.revoke_at) == store
    return ledger.status == GRACE and same_but_the_end and ledger.revoke_at <= store.revoke_at


def snapshot(repo: Path) -> tuple[str, str]:
    return head(repo), git(repo, "status", "--porcelain", "--untracked-files=all")


def move(repo: Path, target: Backend, *args: str) -> Any:
    return sealer(repo, "backend", "set", ENV, target.kind, *target.option_args(), "--no-branch", *args)


def still_in_charge(repo: Path, source: Backend, records: list[KeyRecord]) -> None:
    env = config.load(repo).env(ENV)
    assert (env.backend_kind, env.backend_options) == (source.kind, source.options)
    assert records_of(repo, source) == records


# -- the failures ------------------------------------------------------------------------------


def at_point(monkeypatch: pytest.MonkeyPatch, name: str, action: Callable[[], None]) -> Callable[[], None]:
    """Run `action` when the migration reaches fault point `name` (in this process); returns
    what puts the fault points back."""
    original = faults.point

    def point(reached: str) -> None:
        if reached == name:
            action()
        original(reached)

    monkeypatch.setattr(faults, "point", point)
    return lambda: monkeypatch.setattr(faults, "point", original)


def fail(step: str, repo: Path, target: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the move with `step` failing; check how it failed."""
    if step == "write-fails":  # the first record is in; the next write fails
        monkeypatch.setenv("SEALER_FAULT", "migrate-after-copy-one")
        failed = move(repo, target)
        monkeypatch.delenv("SEALER_FAULT")
        assert isinstance(failed.exception, InjectedFault), (failed.exit_code, failed.stderr)
    elif step == "verify-differs":  # another writer drops a copy before the read-back
        new = open_store(target.kind, target.options, repo)
        restore = at_point(monkeypatch, "migrate-before-verify", lambda: new.drop_copy(new.list(ENV)[-1]))
        line = one_line_error(move(repo, target), 2)
        restore()
        assert "read back from the new store" in line and "missing" in line, line
    elif step == "commit-fails":  # git cannot move the branch (another git holds its lock)
        lock = repo / ".git" / "refs" / "heads" / "main.lock"
        lock.write_text("")
        try:
            line = one_line_error(move(repo, target), 2)
        finally:
            lock.unlink()
        assert "main.lock" in line or "lock" in line, line
    else:  # SIGKILL between the verified copy and the commit: nothing removes the copies
        args = ["backend", "set", ENV, target.kind, *target.option_args(), "--no-branch"]
        done = run_sealer(repo, *args, env={"SEALER_TEST": "1", "SEALER_FAULT": "migrate-before-commit:kill"})
        assert done.returncode == -9, (done.returncode, done.stderr)


@pytest.mark.parametrize(("source_kind", "target_kind", "step"), PAIRS)
def test_move_between_stores_with_a_failure_then_again(
    backend_repo: Path,
    keys: list[Any],
    source_kind: str,
    target_kind: str,
    step: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    source, target = store_backend(source_kind, request), store_backend(target_kind, request)
    deployed_twice(backend_repo, source)
    if target.kind == "k8s-secrets":  # the ledger holds the rest already: give the copy something to do
        revoked_by_hand(open_store(source.kind, source.options, backend_repo))
    records, before = records_of(backend_repo, source), snapshot(backend_repo)
    in_target = records_of(backend_repo, target)
    delivered = current_keys(backend_repo, keys)

    fail(step, backend_repo, target, monkeypatch)
    still_in_charge(backend_repo, source, records)
    if step == "killed-before-commit":  # exact copies stay (never in charge); HEAD and sealer.yaml do too
        assert head(backend_repo) == before[0] and not git(backend_repo, "diff", "HEAD", "--", "sealer.yaml")
    else:  # the copies removed, every file as it was
        assert snapshot(backend_repo) == before
        assert records_of(backend_repo, target) == in_target
    for key in delivered.values():
        assert verify(backend_repo, key) == (0, "valid")  # asked of the old store

    result = ok(move(backend_repo, target, "--output", "json"))
    data = json.loads(result.stdout)
    assert data["commit"] == head(backend_repo) and git(backend_repo, "status", "--porcelain") == ""
    assert sorted(data["copied"] + data["present"]) == sorted(r.key_id for r in records)
    env = config.load(backend_repo).env(ENV)
    assert (env.backend_kind, env.backend_options) == (target.kind, target.options)
    moved = store_of(backend_repo).list(ENV)
    assert {r.key_id for r in moved} == {r.key_id for r in records}
    for was, now in zip(sorted(records, key=by_id), sorted(moved, key=by_id), strict=True):
        assert was == now or (target.kind == "k8s-secrets" and in_the_ledgers_window(now, was)), (was, now)
    assert_ledger_agrees(backend_repo, moved)
    for key in delivered.values():
        assert verify(backend_repo, key) == (0, "valid")  # now asked of the new store
    changed = git(backend_repo, "diff", "--name-only", "HEAD~1", "HEAD").split()
    # The ledger held every record already; the ledger store delivers its key registry through Git.
    ledger = ["ledger/staging.yaml", "registry/staging/staging.yaml"] if target.kind == "k8s-secrets" else []
    # Leaving it, that registry goes: nothing would update it again, its keys listed valid for good.
    dropped = ["registry/staging/staging.yaml"] if "k8s-secrets" == source.kind != target.kind else []
    assert changed == [*ledger, *dropped, "sealer.yaml"], changed
    assert not dropped or git(backend_repo, "ls-tree", "-r", "HEAD", "--", "registry/").strip() == ""
    assert git(backend_repo, "rev-parse", "HEAD~1").strip() == before[0]


# -- refusals: nothing written ------------------------------------------------------------------


def test_a_different_version_of_a_key_in_the_target_is_refused_by_name(
    backend_repo: Path, vault_store: Any, request: pytest.FixtureRequest
) -> None:
    deployed_twice(backend_repo, Backend("k8s-secrets", {}))
    target = store_backend("vault", request)
    first = ledger_records(backend_repo, ENV)[0]
    changed = first.with_status(ACTIVE) if first.status != ACTIVE else first.with_status(GRACE, first.created)
    vault_store.copy_in(changed)
    before, held = snapshot(backend_repo), vault_store.list(ENV)
    line = one_line_error(move(backend_repo, target), 2)
    assert first.key_id in line and "already" in line, line
    assert snapshot(backend_repo) == before and vault_store.list(ENV) == held


def test_a_valid_key_only_the_target_knows_is_refused(
    backend_repo: Path, auth0_store: Any, request: pytest.FixtureRequest
) -> None:
    """Switching would make it valid: a store already used by someone else for this environment."""
    deployed_twice(backend_repo, Backend("k8s-secrets", {}))
    stranger = pending_key(env=ENV, name=NAMES[0])[1].with_status(ACTIVE)
    target = store_backend("auth0", request)
    auth0_store.copy_in(stranger)
    line = one_line_error(move(backend_repo, target), 2)
    assert stranger.key_id in line and "old store does not" in line, line
    assert config.load(backend_repo).env(ENV).backend_kind == "k8s-secrets"


def test_a_rotation_not_yet_deployed_keeps_the_ledger_store_from_taking_over(
    backend_repo: Path, vault_store: Any, request: pytest.FixtureRequest
) -> None:
    """In vault the new keys are accepted (not active) until `--finish`; the ledger says active."""
    source = store_backend("vault", request)
    configure(backend_repo, source)
    rotate(backend_repo)
    before = snapshot(backend_repo)
    line = one_line_error(move(backend_repo, Backend("k8s-secrets", {})), 2)
    assert "accepted" in line and "rotate --finish" in line, line
    assert snapshot(backend_repo) == before
    finish(backend_repo)
    ok(move(backend_repo, Backend("k8s-secrets", {})))
    assert config.load(backend_repo).env(ENV).backend_kind == "k8s-secrets"


def test_uncommitted_sealer_yaml_is_refused(backend_repo: Path, vault_store: Any) -> None:
    (backend_repo / "sealer.yaml").write_text((backend_repo / "sealer.yaml").read_text() + "# mine\n")
    target = Backend("vault", options_of("vault", vault_store))
    assert "uncommitted changes in sealer.yaml" in one_line_error(move(backend_repo, target), 2)


@pytest.mark.parametrize("rel", ["sealer.yaml", "ledger/staging.yaml"])
def test_a_file_git_does_not_look_at_is_refused(backend_repo: Path, vault_store: Any, rel: str) -> None:
    """skip-worktree hides a local edit from `git status`: it passed as clean and was read."""
    deployed_twice(backend_repo, Backend("k8s-secrets", {}))
    (backend_repo / rel).write_text((backend_repo / rel).read_text() + "# mine\n")
    git(backend_repo, "update-index", "--skip-worktree", rel)
    target = Backend("vault", options_of("vault", vault_store))
    assert f"git is told not to look at {rel} " in one_line_error(move(backend_repo, target), 2)
    assert vault_store.list(ENV) == []


# -- what lands ----------------------------------------------------------------------------------


def test_by_default_the_switch_is_a_commit_on_its_own_branch(
    backend_repo: Path, dynamo_store: Any, keys: list[Any], request: pytest.FixtureRequest
) -> None:
    """The user's checkout stays on the old store; the branch is the reviewable change."""
    deployed_twice(backend_repo, Backend("k8s-secrets", {}))
    target = store_backend("dynamodb", request)
    before = snapshot(backend_repo)
    args = ["backend", "set", ENV, "dynamodb", *target.option_args(), "-o", "json"]
    data = json.loads(ok(sealer(backend_repo, *args)).stdout)
    assert data["branch"].startswith(f"sealer/backend-{ENV}-dynamodb-") and snapshot(backend_repo) == before
    assert config.load(backend_repo).env(ENV).backend_kind == "k8s-secrets"
    message = git(backend_repo, "log", "-1", "--format=%B", data["branch"])
    assert f"Sealer-Env: {ENV}" in message and "Sealer-Backend: dynamodb" in message
    assert not any(key in message for key in current_keys(backend_repo, keys).values())
    assert statuses(dynamo_store.list(ENV)) == statuses(ledger_records(backend_repo, ENV))
    assert "registry/staging/staging.yaml" in data["files"]  # dropped: no longer delivered through Git
    assert (backend_repo / "registry" / "staging" / "staging.yaml").is_file()  # until the merge
    git(backend_repo, "merge", "-q", "--ff-only", data["branch"])
    assert config.load(backend_repo).env(ENV).backend_kind == "dynamodb"
    assert not (backend_repo / "registry" / "staging").exists()
    for key in current_keys(backend_repo, keys).values():
        assert verify(backend_repo, key) == (0, "valid")


def test_the_ledger_store_moves_to_direct_delivery_and_a_second_run_commits_nothing(
    backend_repo: Path,
) -> None:
    """`--option delivery=direct` (README: "or to its delivery: direct"): sealer.yaml gives a
    direct registry its namespace, name and environment, so the switch needs none of them; once
    switched, the same command is the same store and commits nothing."""
    deployed_twice(backend_repo, Backend("k8s-secrets", {}))
    before = ledger_records(backend_repo, ENV)
    direct = Backend("k8s-secrets", {"delivery": "direct"})
    data = json.loads(ok(move(backend_repo, direct, "-o", "json")).stdout)
    assert data["copied"] == [] and data["files"] == ["registry/staging/staging.yaml", "sealer.yaml"]
    settings = config.load(backend_repo).env(ENV).registry
    assert settings is not None and settings.delivery == "direct"
    assert ledger_records(backend_repo, ENV) == before
    start = snapshot(backend_repo)
    again = json.loads(ok(move(backend_repo, direct, "-o", "json")).stdout)
    assert again["commit"] is None and snapshot(backend_repo) == start


def test_moving_from_an_external_store_back_to_the_ledger_commits_what_only_the_store_held(
    backend_repo: Path, postgres_store: Any, request: pytest.FixtureRequest
) -> None:
    """A key revoked in the store the ledger never held (revoked there by hand, say) comes along."""
    source = store_backend("postgres", request)
    deployed_twice(backend_repo, source)
    revoked_by_hand(postgres_store)
    ok(move(backend_repo, Backend("k8s-secrets", {})))
    assert git(backend_repo, "diff", "--name-only", "HEAD~1", "HEAD").split() == [
        "ledger/staging.yaml",
        "registry/staging/staging.yaml",
        "sealer.yaml",
    ]
    assert {r.key_id for r in ledger_records(backend_repo, ENV)} == {
        r.key_id for r in postgres_store.list(ENV)
    }


def test_ctrl_c_midway_removes_the_copies(
    backend_repo: Path, vault_store: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed_twice(backend_repo, Backend("k8s-secrets", {}))
    target = Backend("vault", options_of("vault", vault_store))
    before = snapshot(backend_repo)

    def interrupt() -> None:
        raise KeyboardInterrupt

    restore = at_point(monkeypatch, "migrate-after-copy-one", interrupt)
    with in_dir(backend_repo):
        done = run_main(["backend", "set", ENV, "vault", *target.option_args(), "--no-branch"], capsys)
    restore()
    assert (done.code, done.stderr.strip()) == (130, "sealer: interrupted")
    assert snapshot(backend_repo) == before and vault_store.list(ENV) == []
    ok(move(backend_repo, target))
    assert statuses(vault_store.list(ENV)) == statuses(ledger_records(backend_repo, ENV))


def test_ctrl_c_midway_with_copies_the_new_store_cannot_remove_is_partly_done(
    backend_repo: Path,
    vault_store: Any,
    vault_env: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C once a copy is in, with the new store down for its removal: the copy stays, so the
    run is partly done (exit 4) naming it, not "interrupted" (130, nothing changed)."""
    deployed_twice(backend_repo, Backend("k8s-secrets", {}))
    target = Backend("vault", options_of("vault", vault_store))
    records, before = records_of(backend_repo, Backend("k8s-secrets", {})), snapshot(backend_repo)

    def store_down_then_interrupt() -> None:
        vault_env.fail_next(503, count=1000)
        raise KeyboardInterrupt

    restore = at_point(monkeypatch, "migrate-after-copy-one", store_down_then_interrupt)
    try:
        with in_dir(backend_repo):
            done = run_main(["backend", "set", ENV, "vault", *target.option_args(), "--no-branch"], capsys)
    finally:
        restore()
        vault_env.clear_faults()
    assert done.code == 4, done.stderr
    line = done.stderr.strip()
    assert line.startswith("sealer: interrupted; the old store stays in charge"), line
    assert any(r.key_id in line for r in records), line
    assert snapshot(backend_repo) == before and vault_store.list(ENV) != []
    ok(move(backend_repo, target))
    assert statuses(vault_store.list(ENV)) == statuses(ledger_records(backend_repo, ENV))


def test_ctrl_c_leaving_a_copy_under_way_is_partly_done(
    backend_repo: Path, vault_store: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C pressed again while a copy's write is on its way (InterruptedInFlight): it may land
    after any removal, so the run is partly done (exit 4, never 130) naming that copy; the old
    store stays in charge and the next run finishes the move."""
    from sealer.backends.vault import VaultStore
    from sealer.errors import InterruptedInFlight

    deployed_twice(backend_repo, Backend("k8s-secrets", {}))
    target = Backend("vault", options_of("vault", vault_store))
    records, before = records_of(backend_repo, Backend("k8s-secrets", {})), snapshot(backend_repo)
    copy_in = VaultStore.copy_in

    def landing_after_ctrl_c(store: VaultStore, record: KeyRecord) -> None:
        copy_in(store, record)
        raise InterruptedInFlight("interrupted with a write to vault still under way: it may still land")

    with monkeypatch.context() as patch:
        patch.setattr(VaultStore, "copy_in", landing_after_ctrl_c)
        with in_dir(backend_repo):
            done = run_main(["backend", "set", ENV, "vault", *target.option_args(), "--no-branch"], capsys)
    assert done.code == 4, done.stderr
    line = done.stderr.strip()
    assert line.startswith("sealer: interrupted with a write to vault still under way: it may still land; ")
    first = next(r.key_id for r in records if r.key_id in line)
    assert f"copies of {first} (its write still under way)" in line
    assert snapshot(backend_repo) == before
    still_in_charge(backend_repo, Backend("k8s-secrets", {}), records)
    ok(move(backend_repo, target))
    assert statuses(vault_store.list(ENV)) == statuses(ledger_records(backend_repo, ENV))


def test_a_copy_kept_but_not_read_back_is_removed_with_the_others(
    backend_repo: Path, vault_store: Any, vault_env: Any
) -> None:
    """README: a failure before the commit (a read-back) removes the copies this run made, exit
    2. The first copy's write is kept and its read-back refused: it is removed too."""
    deployed_twice(backend_repo, Backend("k8s-secrets", {}))
    target = Backend("vault", options_of("vault", vault_store))
    before = snapshot(backend_repo)
    refused = Response.json(503, {"errors": ["Vault is sealed"]})
    vault_env.on_next_write(
        vault_store.mount,
        f"{vault_store.prefix}/{ENV}",
        lambda: vault_env.answer_next(refused, match="/data/", method="GET"),
    )
    assert "sealed or down" in one_line_error(move(backend_repo, target), 2)
    assert snapshot(backend_repo) == before and vault_store.list(ENV) == []


def test_copies_the_new_store_cannot_remove_are_named_with_exit_4(
    backend_repo: Path, vault_store: Any, vault_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new store goes down after the copy: the read-back fails, and so does removing the
    copies. The old store stays in charge, the copies are named (exit 4), and the next run,
    with the store back, finds them there already and finishes the move."""
    deployed_twice(backend_repo, Backend("k8s-secrets", {}))
    target = Backend("vault", options_of("vault", vault_store))
    records, before = records_of(backend_repo, Backend("k8s-secrets", {})), snapshot(backend_repo)
    restore = at_point(monkeypatch, "migrate-before-verify", lambda: vault_env.fail_next(503, count=1000))
    try:
        line = one_line_error(move(backend_repo, target), 4)
    finally:
        restore()
        vault_env.clear_faults()
    assert "the old store stays in charge and sealer.yaml is unchanged" in line
    assert all(r.key_id in line for r in records), line
    assert snapshot(backend_repo) == before
    still_in_charge(backend_repo, Backend("k8s-secrets", {}), records)
    assert {r.key_id for r in vault_store.list(ENV)} == {r.key_id for r in records}  # exact copies, left
    data = json.loads(ok(move(backend_repo, target, "--output", "json")).stdout)
    assert sorted(data["present"]) == sorted(r.key_id for r in records) and data["copied"] == []
    assert config.load(backend_repo).env(ENV).backend_kind == "vault"


def test_a_switch_committed_but_a_checkout_that_cannot_follow_is_exit_4(
    backend_repo: Path, vault_store: Any, keys: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the commit nothing is undone: the line names the commit and the `git checkout`
    that brings the checkout along, and rotations refuse to start until it has (#17)."""
    from sealer import git as sealer_git

    deployed_twice(backend_repo, Backend("k8s-secrets", {}))
    target = Backend("vault", options_of("vault", vault_store))
    before = head(backend_repo)

    def cannot(root: Path, paths: Any) -> None:
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as patched:
        patched.setattr(sealer_git, "restore_from_head", cannot)
        line = one_line_error(move(backend_repo, target), 4)
    made = head(backend_repo)
    assert made != before and f"the switch is committed on the current branch ({made[:12]})" in line
    told = "git checkout HEAD -- "
    assert "your checkout could not follow" in line and told in line, line
    assert line.endswith("` and remove registry/staging/staging.yaml"), line  # no longer in Git
    assert "vault" in git(backend_repo, "show", "HEAD:sealer.yaml")
    assert config.load(backend_repo).env(ENV).backend_kind == "k8s-secrets"  # the checkout lags
    assert "uncommitted changes in sealer.yaml" in one_line_error(
        sealer(backend_repo, "rotate", ENV, "--no-branch"), 2
    )
    git(backend_repo, *told.split()[1:], *line.rsplit(told, 1)[1].split("`")[0].split())
    (backend_repo / "registry" / "staging" / "staging.yaml").unlink()
    assert config.load(backend_repo).env(ENV).backend_kind == "vault"
    assert git(backend_repo, "status", "--porcelain") == ""  # the dropped registry gone too
    for key in current_keys(backend_repo, keys).values():
        assert verify(backend_repo, key) == (0, "valid")  # asked of the new store
