"""`sealer rotate` driving an external key store in two phases (rotate: register pending ->
files, commit -> accept new, nothing revoked; `--finish` after the merge: activate new, revoke
old or grace from then), end to end through the CLI, for postgres, dynamodb, vault and auth0:
the happy path, an exception or a SIGKILL at every fault point, the store going down between
the steps, and no key material in records, logs or messages."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from support.backend_repos import (
    ENV,
    FIXTURE,
    NAMES,
    Backend,
    assert_ledger_agrees,
    assert_one_active_per_name,
    configure,
    current_keys,
    finish,
    leaks,
    no_pending,
    ok,
    one_line_error,
    options_of,
    rotate,
    secrets_in_env,
    store_of,
    verify,
)
from support.cli import sealer
from support.git import commit_all, git, head
from support.repos import (
    FAULT_POINTS,
    all_plaintext_keys,
    assert_consistent,
    at_point,
    run_sealer,
    stray_temps,
)
from support.sql_stores import Outage

from sealer import apikey
from sealer.errors import BadInput
from sealer.faults import InjectedFault
from sealer.records import ACCEPTED, ACTIVE, GRACE, PENDING, REVOKED, KeyRecord, iso, utcnow

FILES = ("sealed/staging/staging.yaml", "deploy/staging/values.yaml", "ledger/staging.yaml")
BEFORE_COMMIT = FAULT_POINTS[:5]
BEFORE_JOURNAL = FAULT_POINTS[:3]  # a kill there leaves no journal: the next run starts afresh
PARTLY = ("before-accept", "after-accept-one", "before-outputs")  # past the commit, a step fails: exit 4
NOT_REACHED = ("before-index", "before-push")  # the index synced at once; no --push
# Points a rotation through an external store treats alike are sampled for the slow cases:
# the file steps (before-temps … before-commit) differ only in what is restored, which
# tests/test_rotate.py checks at every point; so do before-push and before-activate.
SAMPLE = ["after-register", "before-rename", "after-ref-move", "after-accept-one"]
# Exceptions: every point for every store, sampled for dynamodb (each boto3 client costs).
EXCEPTIONS = [
    *[(kind, point) for kind in ("vault", "auth0") for point in FAULT_POINTS],
    *[pytest.param("postgres", point, marks=pytest.mark.slow) for point in FAULT_POINTS],
    *[pytest.param("dynamodb", point, marks=pytest.mark.slow) for point in SAMPLE],
]
# Kills cost a subprocess each: auth0 at the points that differ, dynamodb once (vault and
# postgres rotations are killed at every point in tests/test_rotate.py).
KILLS = [
    *[
        ("auth0", point)
        for point in (
            "after-register",
            "before-journal",
            "before-commit",
            "after-ref-move",
            "after-accept-one",
        )
    ],
    pytest.param("dynamodb", "after-accept-one", marks=pytest.mark.slow),
]
# Where the store goes down, and the step that then fails: "before-run" (the registration),
# after the first registration (the second, and the compensation), before the renames (the
# commit is local: the activation fails), between the two activations. Sampled for dynamodb.
OUTAGE_POINTS = ["before-run", "after-register", "before-rename", "after-accept-one"]
OUTAGES = [
    *[(kind, point) for kind in ("vault", "auth0") for point in OUTAGE_POINTS],
    *[pytest.param("postgres", point, marks=pytest.mark.slow) for point in OUTAGE_POINTS],
    *[
        pytest.param("dynamodb", point, marks=pytest.mark.slow)
        for point in ("before-run", "after-accept-one")
    ],
]


@pytest.fixture
def generated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key this process generates from now on (to look for them where they must not be)."""
    keys: list[str] = []
    real = apikey.generate

    def recording(env: str) -> str:
        keys.append(real(env))
        return keys[-1]

    monkeypatch.setattr(apikey, "generate", recording)
    return keys


def backend_of(kind: str, request: pytest.FixtureRequest) -> Backend:
    return Backend(kind, options_of(kind, request.getfixturevalue(f"{FIXTURE[kind]}_store")))


def prepared(repo: Path, backend: Backend, keys: list[Any]) -> dict[str, str]:
    """staging moved to `backend` and rotated once through it: the keys it delivers."""
    configure(repo, backend)
    rotate(repo)
    finish(repo)
    first = current_keys(repo, keys)
    assert {r.key_id for r in assert_one_active_per_name(store_of(repo).list(ENV)).values()} == ids(first)
    return first


def ids(delivered: dict[str, str]) -> set[str]:
    return {apikey.key_id_of(key) for key in delivered.values()}


def snapshot(repo: Path) -> dict[str, bytes]:
    return {path: (repo / path).read_bytes() for path in FILES}


def journal_exists(repo: Path) -> bool:
    return (repo / ".git" / "sealer-rotation.json").exists()


def assert_safe_meanwhile(repo: Path, old: dict[str, str]) -> list[KeyRecord]:
    """After a failed step: the old keys stay the active ones and valid (nothing is revoked
    before `--finish`); a key accepted beside them is one the commit delivers; no pending key
    serves."""
    store = store_of(repo)
    records = store.list(ENV)
    serving = assert_one_active_per_name(records)
    committed = git(repo, "show", f"HEAD:ledger/{ENV}.yaml")
    for name, key in old.items():
        assert serving[name].key_id == apikey.key_id_of(key)
        assert store.verify(ENV, apikey.fingerprint(key)) == "valid"
        if name == "apiKey":
            assert verify(repo, key) == (0, "valid")
    assert all(r.key_id in committed for r in records if r.status == ACCEPTED)
    return records


def assert_accepted(repo: Path, old: dict[str, str], keys: list[Any]) -> None:
    """The rotate phase is complete: committed, clean, the new keys accepted (valid) beside the
    old ones (still active, valid): nothing revoked, nothing pending."""
    assert_consistent(repo, ENV, keys)
    new = current_keys(repo, keys)
    assert ids(new).isdisjoint(ids(old))
    assert verify(repo, new["apiKey"]) == (0, "valid") and verify(repo, old["apiKey"]) == (0, "valid")
    records = store_of(repo).list(ENV)
    assert {r.key_id for r in assert_one_active_per_name(records).values()} == ids(old)
    assert {r.key_id for r in records if r.status == ACCEPTED} == ids(new)
    no_pending(records)
    assert_ledger_agrees(repo, records)


def assert_finished(repo: Path, old: dict[str, str], keys: list[Any]) -> None:
    """The deployed phase is complete: the new keys active, the old ones revoked, one active key
    per name, nothing pending, the ledger agreeing with the store."""
    assert_consistent(repo, ENV, keys)
    new = current_keys(repo, keys)
    assert ids(new).isdisjoint(ids(old))
    assert verify(repo, new["apiKey"]) == (0, "valid") and verify(repo, old["apiKey"]) == (1, "revoked")
    store = store_of(repo)
    assert {store.verify(ENV, apikey.fingerprint(k)) for k in new.values()} == {"valid"}
    assert {store.verify(ENV, apikey.fingerprint(k)) for k in old.values()} == {"revoked"}
    records = store.list(ENV)
    assert {r.key_id for r in assert_one_active_per_name(records).values()} == ids(new)
    no_pending(records)
    assert_ledger_agrees(repo, records)


def rerun(repo: Path, old: dict[str, str], keys: list[Any]) -> None:
    """A plain re-run finishes (or redoes) the rotation; the deployed phase then activates."""
    ok(sealer(repo, "rotate", ENV, "--no-branch"))
    assert_accepted(repo, old, keys)
    finish(repo)
    assert_finished(repo, old, keys)


# -- the transaction -----------------------------------------------------------------------------


def test_rotate_accepts_the_new_keys_and_finish_activates_them(
    backend_repo: Path, backend: Backend, keys: list[Any]
) -> None:
    old = prepared(backend_repo, backend, keys)
    summary = rotate(backend_repo)
    assert_accepted(backend_repo, old, keys)
    assert finish(backend_repo)["activated"] and finish(backend_repo)["activated"] == []  # idempotent
    assert_finished(backend_repo, old, keys)
    new = current_keys(backend_repo, keys)
    rotated = {k["name"]: k for k in summary["keys"]}
    assert {name: k["key_id"] for name, k in rotated.items()} == {
        name: apikey.key_id_of(key) for name, key in new.items()
    }
    assert {name: k["previous_key_id"] for name, k in rotated.items()} == {
        name: apikey.key_id_of(key) for name, key in old.items()
    }
    assert len(store_of(backend_repo).list(ENV)) == 2 * len(NAMES)


def test_grace_counts_from_the_deployment_not_the_commit(
    backend_repo: Path, backend: Backend, keys: list[Any]
) -> None:
    from sealer import config
    from sealer.rotation import phases

    old = prepared(backend_repo, backend, keys)
    rotate(backend_repo, "--grace", "24h")
    new = current_keys(backend_repo, keys)
    for key in [*old.values(), *new.values()]:
        assert verify(backend_repo, key) == (0, "valid")
    assert_accepted(backend_repo, old, keys)
    records = store_of(backend_repo).list(ENV)
    rotated_at = next(r.created for r in records if r.key_id in ids(new))
    deployed = rotated_at + dt.timedelta(days=3)  # merged and synced three days later
    done = phases.finish(config.load(backend_repo), (ENV,), now=deployed)
    assert {a.key_id for a in done.activated} == ids(new) and done.left == []
    records = store_of(backend_repo).list(ENV)
    assert {r.key_id for r in assert_one_active_per_name(records).values()} == ids(new)
    in_grace = {r.key_id: r for r in records if r.status == GRACE}
    assert set(in_grace) == ids(old)
    store = store_of(backend_repo)
    for record in in_grace.values():
        assert record.revoke_at == deployed + dt.timedelta(hours=24)  # not rotated_at + 24h
        assert store.verify(ENV, record.fingerprint, record.revoke_at - dt.timedelta(seconds=1)) == "valid"
        assert store.verify(ENV, record.fingerprint, record.revoke_at) == "revoked"
    assert_ledger_agrees(backend_repo, records)
    rotate(backend_repo)  # the next rotation: accepted; nothing revoked until its own --finish
    for key in [*old.values(), *new.values()]:
        assert verify(backend_repo, key) == (0, "valid")
    finish(backend_repo)
    for key in new.values():
        assert verify(backend_repo, key) == (1, "revoked")
    for key in old.values():  # a grace given earlier runs its course
        assert verify(backend_repo, key) == (0, "valid")


def test_review_shows_the_grace_finish_grants_also_for_a_backdated_key(
    backend_repo: Path, backend: Backend, keys: list[Any]
) -> None:
    """A pull request that moves its new keys' `created` back lengthens the grace `--finish`
    grants (the window is the old key's end minus the new key's start): review shows that
    window, computed as `--finish` computes it, so the reviewer approves what is granted."""
    from sealer import config, ledger
    from sealer.rotation import phases

    old = prepared(backend_repo, backend, keys)
    rotate(backend_repo, "--grace", "24h")
    base = head(backend_repo)
    code, data = review_range(backend_repo, f"{base}~1", base)
    assert code == 0 and {(c["old_key_grace_seconds"], c["grace_counted_from"]) for c in data["changes"]} == {
        (86400, "rotate --finish")
    }
    backdated = [
        dataclasses.replace(
            r, created=r.created - dt.timedelta(days=2), expires=r.expires - dt.timedelta(days=2)
        )
        if r.key_id not in ids(old) and r.status == ACTIVE
        else r
        for r in ledger.load(backend_repo, ENV)
    ]
    ledger.save(backend_repo, ENV, backdated)
    commit_all(backend_repo, "created two days earlier")
    code, data = review_range(backend_repo, f"{base}~1", "HEAD")
    granted = {(c["old_key_grace_seconds"], c["grace_counted_from"]) for c in data["changes"]}
    assert granted == {(3 * 86400, "rotate --finish")}, data
    text = sealer(backend_repo, "review", f"{base}~1", "HEAD")
    assert "old key's grace 3d from rotate --finish" in text.stdout
    deployed = max(r.created for r in backdated) + dt.timedelta(days=5)
    done = phases.finish(config.load(backend_repo), (ENV,), now=deployed)
    assert {a.revoke_previous_at for a in done.activated} == {iso(deployed + dt.timedelta(days=3))}


def test_finish_of_stacked_rotations_gives_each_old_key_its_own_reviewed_grace(
    backend_repo: Path, backend: Backend, keys: list[Any]
) -> None:
    """A rotation with `--grace 30d` merged but never finished, then one with `--grace 1h` on top:
    `--finish` ends the key the first delivered an hour from now, as the second's review showed,
    and the key before it thirty days from now, as the first's did; drift calls both a phase."""
    from sealer import config, drift
    from sealer.rotation import phases

    first = prepared(backend_repo, backend, keys)
    rotate(backend_repo, "--grace", "30d")
    delivered = current_keys(backend_repo, keys)
    rotate(backend_repo, "--grace", "1h")
    code, data = review_range(backend_repo, "HEAD~1", "HEAD")
    assert {
        (c["old_key_id"], c["old_key_grace_seconds"], c["grace_counted_from"]) for c in data["changes"]
    } == {(key_id, 3600, "rotate --finish") for key_id in ids(delivered)}
    deployed = utcnow() + dt.timedelta(hours=12)
    done = phases.finish(config.load(backend_repo), (ENV,), now=deployed)
    ends = {key_id: end for a in done.activated for key_id, end in a.replaced.items()}
    assert ends == {  # what the operator reads: the delivered keys' hour, not only the first's days
        **{k: iso(deployed + dt.timedelta(hours=1)) for k in ids(delivered)},
        **{k: iso(deployed + dt.timedelta(days=30)) for k in ids(first)},
    }
    held = {r.key_id: r for r in store_of(backend_repo).list(ENV)}
    assert {(held[k].status, held[k].revoke_at) for k in ids(delivered)} == {
        (GRACE, deployed + dt.timedelta(hours=1))
    }
    assert {(held[k].status, held[k].revoke_at) for k in ids(first)} == {
        (GRACE, deployed + dt.timedelta(days=30))
    }
    assert {held[k].status for k in ids(current_keys(backend_repo, keys))} == {ACTIVE}
    later = deployed + dt.timedelta(hours=2)  # the delivered keys' hour is over, the first's days are not
    assert drift.compare(config.load(backend_repo), ENV, later) == []


def test_two_rotations_in_one_merge_end_the_first_ones_keys_at_finish(
    backend_repo: Path, backend: Backend, keys: list[Any]
) -> None:
    """A pull request that rotates twice (`--grace 1h`, then `--grace 300d`) shows its old keys an
    hour of grace and notes the 300 days the first rotation's keys could keep; merged as one,
    they were never served, so `--finish` revokes them (and gives the old keys their hour)."""
    from sealer import config
    from sealer.rotation import phases

    prepared(backend_repo, backend, keys)
    main = git(backend_repo, "branch", "--show-current").strip()
    base = head(backend_repo)
    git(backend_repo, "switch", "-q", "-c", "twice")
    rotate(backend_repo, "--grace", "1h")
    middle = ids(current_keys(backend_repo, keys))
    rotate(backend_repo, "--grace", "300d")
    code, data = review_range(backend_repo, base, "HEAD")
    assert code == 0 and all(0 < c["old_key_grace_seconds"] <= 3600 for c in data["changes"]), data
    shown = [n for n in data["notes"] if "revoked by rotate --finish, or valid up to 300d from it" in n]
    assert {key_id for key_id in middle if any(key_id in n for n in shown)} == middle, data["notes"]
    git(backend_repo, "switch", "-q", main)
    git(backend_repo, "merge", "-q", "--no-ff", "-m", "merge twice", "twice")
    deployed = utcnow() + dt.timedelta(hours=12)
    phases.finish(config.load(backend_repo), (ENV,), now=deployed)
    held = {r.key_id: r for r in store_of(backend_repo).list(ENV)}
    assert {held[k].status for k in middle} == {REVOKED}
    assert {held[k].status for k in ids(current_keys(backend_repo, keys))} == {ACTIVE}
    old_ends = {r.revoke_at for r in held.values() if r.status == GRACE}
    assert old_ends == {deployed + dt.timedelta(hours=1)}


def test_a_never_active_key_in_the_ledger_does_not_stretch_the_old_keys_grace(
    backend_repo: Path, backend: Backend, keys: list[Any]
) -> None:
    """A pull request copies another open rotation's key (accepted in the store) into its ledger
    as pending, created long ago, just before its own new key: that key never replaced anything,
    so `--finish` still ends the old key by the grace the review showed (an hour), not by the
    copied key's age, and revokes the copied key as a rotation that lost the race."""
    from sealer import config, ledger
    from sealer.rotation import phases

    old = prepared(backend_repo, backend, keys)
    main = git(backend_repo, "branch", "--show-current").strip()
    git(backend_repo, "switch", "-q", "-c", "other")
    rotate(backend_repo)  # the other pull request: its keys accepted in the store
    racing = [r for r in ledger.load(backend_repo, ENV) if r.status == ACTIVE]
    git(backend_repo, "switch", "-q", main)
    rotate(backend_repo, "--grace", "1h", "--replace")  # the race: both pull requests stay open
    ago = dt.timedelta(days=30)
    copied = [
        dataclasses.replace(r, status=PENDING, created=r.created - ago, expires=r.expires - ago)
        for r in racing
    ]
    records = ledger.load(backend_repo, ENV)
    ledger.save(
        backend_repo,
        ENV,
        [r for r in records if r.status != ACTIVE] + copied + [r for r in records if r.status == ACTIVE],
    )
    commit_all(backend_repo, "the racing keys copied in")
    deployed = utcnow()
    done = phases.finish(config.load(backend_repo), (ENV,), now=deployed)
    assert not done.left, done.left
    held = {r.key_id: r for r in store_of(backend_repo).list(ENV)}
    assert {held[k].status for k in ids(old)} == {GRACE}
    assert all(held[k].revoke_at <= deployed + dt.timedelta(hours=1) for k in ids(old)), held
    assert {held[r.key_id].status for r in racing} == {REVOKED}


def review_range(repo: Path, base: str, tip: str) -> tuple[int, dict[str, Any]]:
    result = sealer(repo, "review", base, tip, "--output", "json")
    return result.exit_code, json.loads(result.stdout)


def test_an_abandoned_rotation_has_its_key_revoked(
    backend_repo: Path, backend: Backend, keys: list[Any]
) -> None:
    """The pull request is closed unmerged: explicitly (`--abandon BRANCH`), or noticed by the
    next run once no branch holds the key any more."""
    old = prepared(backend_repo, backend, keys)
    first = ok(sealer(backend_repo, "rotate", ENV, "--branch", "sealer/first", "-o", "json"))
    first_ids = {k["key_id"] for k in json.loads(first.stdout)["keys"]}
    assert git(backend_repo, "symbolic-ref", "--short", "HEAD").strip() == "main"  # you stay on main
    statuses = {r.key_id: r.status for r in store_of(backend_repo).list(ENV)}
    assert {statuses[i] for i in first_ids} == {ACCEPTED}
    finish(backend_repo)  # the branch still exists: an open pull request, left alone
    assert {r.key_id: r.status for r in store_of(backend_repo).list(ENV)} == statuses
    done = ok(sealer(backend_repo, "rotate", "--abandon", "sealer/first", "-o", "json"))
    assert {a["key_id"] for a in json.loads(done.stdout)["abandoned"]} == first_ids
    assert {r.key_id: r.status for r in store_of(backend_repo).list(ENV) if r.key_id in first_ids} == {
        i: REVOKED for i in first_ids
    }
    git(backend_repo, "branch", "-q", "-D", "sealer/first")  # its pull request closed
    second = ok(sealer(backend_repo, "rotate", ENV, "--branch", "sealer/second", "-o", "json"))
    second_ids = {k["key_id"] for k in json.loads(second.stdout)["keys"]}
    git(backend_repo, "branch", "-q", "-D", "sealer/second")  # closed unmerged, branch deleted
    noticed = finish(backend_repo)
    assert {a["key_id"] for a in noticed["abandoned"]} == second_ids and noticed["activated"] == []
    records = store_of(backend_repo).list(ENV)
    assert {r.key_id for r in assert_one_active_per_name(records).values()} == ids(old)
    assert {r.status for r in records if r.key_id in second_ids} == {REVOKED}
    for key in old.values():
        assert verify(backend_repo, key) == (0, "valid")


# -- an exception at every step ---------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "point"), EXCEPTIONS)
def test_exception_at_each_step_then_rerun(
    backend_repo: Path,
    kind: str,
    point: str,
    keys: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    old = prepared(backend_repo, backend_of(kind, request), keys)
    files, start, records = snapshot(backend_repo), head(backend_repo), store_of(backend_repo).list(ENV)
    monkeypatch.setenv("SEALER_FAULT", point)
    failed = sealer(backend_repo, "rotate", ENV, "--no-branch")
    monkeypatch.delenv("SEALER_FAULT")
    assert stray_temps(backend_repo) == []
    if point in BEFORE_COMMIT:  # every file restored, the pending keys removed: as if never run
        assert isinstance(failed.exception, InjectedFault)
        assert snapshot(backend_repo) == files and head(backend_repo) == start
        assert not journal_exists(backend_repo) and git(backend_repo, "status", "--porcelain") == ""
        assert store_of(backend_repo).list(ENV) == records
    elif point in PARTLY:  # committed; a step waits in the journal: exit 4 "partly done"
        line = one_line_error(failed, 4)
        assert line.startswith(f"sealer: the rotation of {ENV} is committed on the current branch (")
        assert "failed: injected fault at" in line and "--resume" in line
        assert head(backend_repo) != start and journal_exists(backend_repo)
    else:  # rolled forward by the same run (or never reached)
        ok(failed)
        assert not journal_exists(backend_repo)
        assert_accepted(backend_repo, old, keys)
        finish(backend_repo)
        assert_finished(backend_repo, old, keys)
        return
    assert_safe_meanwhile(backend_repo, old)
    rerun(backend_repo, old, keys)


def test_a_failure_between_registration_and_the_temps_removes_the_pending_keys(
    backend_repo: Path, keys: list[Any], monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The keys are registered, then git cannot even start the commit: as if never run."""
    from sealer.errors import GitError
    from sealer.rotation import transaction as rotate_module

    old = prepared(backend_repo, backend_of("vault", request), keys)
    files, start, records = snapshot(backend_repo), head(backend_repo), store_of(backend_repo).list(ENV)

    def no_git(root: Path) -> None:
        assert PENDING in [r.status for r in store_of(backend_repo).list(ENV)]  # registered by now
        raise GitError("git fast-import: cannot start")

    with monkeypatch.context() as patch:
        patch.setattr(rotate_module.git, "Commit", no_git)
        line = one_line_error(sealer(backend_repo, "rotate", ENV, "--no-branch"), 2)
    assert line == "sealer: git fast-import: cannot start"
    assert (
        snapshot(backend_repo) == files and head(backend_repo) == start and not journal_exists(backend_repo)
    )
    assert store_of(backend_repo).list(ENV) == records  # the pending key removed
    rerun(backend_repo, old, keys)


# -- a SIGKILL at every step --------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "point"), KILLS)
def test_kill_at_each_step_then_rerun(
    backend_repo: Path, kind: str, point: str, keys: list[Any], request: pytest.FixtureRequest
) -> None:
    old = prepared(backend_repo, backend_of(kind, request), keys)
    start = head(backend_repo)
    done = run_sealer(backend_repo, "rotate", ENV, "--no-branch", env={"SEALER_FAULT": f"{point}:kill"})
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr)
    assert journal_exists(backend_repo) == (point not in BEFORE_JOURNAL)  # a kill leaves a journal
    if point in BEFORE_JOURNAL:
        assert head(backend_repo) == start
    records = assert_safe_meanwhile(backend_repo, old)
    if point == "after-register":  # registered, never delivered: pending until the next run
        assert [r.status for r in records if r.key_id not in ids(old)] == [PENDING]
    if not journal_exists(backend_repo) and head(backend_repo) != start:  # killed after the work
        assert_accepted(backend_repo, old, keys)
        return
    rerun(backend_repo, old, keys)  # rolls the journal forward, or starts afresh without one


# -- the store goes down between the steps ------------------------------------------------------


@pytest.mark.parametrize(("kind", "point"), OUTAGES)
def test_store_down_at_each_step_then_rerun(
    backend_repo: Path,
    kind: str,
    point: str,
    keys: list[Any],
    generated: list[str],
    request: pytest.FixtureRequest,
) -> None:
    outage: Outage = request.getfixturevalue(f"{FIXTURE[kind]}_outage")
    outage_backend = Backend(kind, options_of(kind, outage.store), outage=outage)
    old = prepared(backend_repo, outage_backend, keys)
    files, start = snapshot(backend_repo), head(backend_repo)
    if point == "before-run":
        outage.down()
    landed = point not in ("before-run", "after-register")  # committed before the store went down
    # after-register: a registered key the compensation cannot remove is no "nothing changed"
    code = 2 if point == "before-run" else 4
    with at_point(point, outage.down):
        line = one_line_error(sealer(backend_repo, "rotate", ENV, "--no-branch"), code)
    if landed:  # partly done: what landed, the store's one line, how to finish
        assert line.startswith(f"sealer: the rotation of {ENV} is committed on the current branch (")
        assert f"accepting the new keys in the key store failed: {outage_backend.kind}" in line
    else:
        assert line.startswith(f"sealer: {outage_backend.kind}")
    assert not leaks(line, [*generated, *secrets_in_env()])
    outage.up()
    assert stray_temps(backend_repo) == []
    if point in ("before-run", "after-register"):  # the registration failed: nothing written
        assert (
            snapshot(backend_repo) == files
            and head(backend_repo) == start
            and not journal_exists(backend_repo)
        )
    else:  # committed; the acceptance waits in the journal
        assert head(backend_repo) != start and journal_exists(backend_repo)
    records = assert_safe_meanwhile(backend_repo, old)
    if point == "after-register":  # the compensation could not reach the store either: named
        left = [r for r in records if r.key_id not in ids(old)]
        assert [r.status for r in left] == [PENDING]
        assert f"key {left[0].key_id} ({ENV}, {kind} store) may be left pending" in line, line
    rerun(backend_repo, old, keys)  # drops the leftover pending key, or activates from the journal


def test_finish_with_the_store_down_is_partly_done_and_says_so(
    backend_repo: Path, outage_backend: Backend, keys: list[Any]
) -> None:
    """An outage at `--finish` is the environment's own failure (exit 4, run it again), not a
    refusal (exit 2); the summary does not tell the operator there was nothing to finish."""
    assert outage_backend.outage
    old = prepared(backend_repo, outage_backend, keys)
    rotate(backend_repo)
    outage_backend.outage.down()
    result = sealer(backend_repo, "rotate", "--finish")
    outage_backend.outage.up()
    assert result.exit_code == 4, (result.stdout, result.stderr)
    assert f"{ENV}: {outage_backend.kind}" in result.stderr and "--finish` again" in result.stderr
    assert result.stdout == "nothing finished\n"
    assert_accepted(backend_repo, old, keys)  # nothing changed meanwhile
    assert finish(backend_repo)["activated"]
    assert_finished(backend_repo, old, keys)


@pytest.mark.parametrize(
    ("kind", "variable", "says"),
    [
        ("vault", "VAULT_ADDR", "vault: VAULT_ADDR is not set"),
        ("vault", "VAULT_TOKEN", "vault: VAULT_TOKEN is not set"),
        ("auth0", "AUTH0_DOMAIN", "auth0: AUTH0_DOMAIN is not set"),
        (
            "auth0",
            "AUTH0_CLIENT_SECRET",
            "auth0: set AUTH0_MANAGEMENT_TOKEN, or AUTH0_CLIENT_ID + AUTH0_CLIENT_SECRET",
        ),
        pytest.param(
            "dynamodb",
            "AWS_ACCESS_KEY_ID",  # no other credential: no profile, files, nor metadata endpoint
            "dynamodb: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a "
            "profile (AWS_PROFILE, or the environment's `--credential profile=NAME`)",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_finish_without_the_stores_global_variable_changes_nothing_and_exits_2(
    backend_repo: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    keys: list[Any],
    kind: str,
    variable: str,
    says: str,
) -> None:
    """What no run on this machine gets past stops `--finish` before it asks any store: exit 2
    ("nothing changed") in one line naming the variable, not exit 4 ("run it again")."""
    store = request.getfixturevalue(f"{FIXTURE[kind]}_store")
    old = prepared(backend_repo, Backend(kind, options_of(kind, store)), keys)
    rotate(backend_repo)
    start, value = head(backend_repo), os.environ[variable]
    monkeypatch.delenv(variable)
    line = one_line_error(sealer(backend_repo, "rotate", "--finish"), 2)
    assert line == f"sealer: {ENV}: {says}"
    monkeypatch.setenv(variable, value)
    assert head(backend_repo) == start
    assert_accepted(backend_repo, old, keys)  # nothing changed meanwhile
    assert finish(backend_repo)["activated"]


def test_store_down_when_a_step_fails_leaves_pending_keys_the_next_run_drops(
    backend_repo: Path, outage_backend: Backend, keys: list[Any]
) -> None:
    """The compensation cannot reach the store either: the pending keys stay, never valid."""
    point, outage = "before-rename", outage_backend.outage
    assert outage
    old = prepared(backend_repo, outage_backend, keys)
    files = snapshot(backend_repo)

    def down_and_fail() -> None:
        outage.down()
        raise InjectedFault(f"injected fault at {point}")

    with at_point(point, down_and_fail):
        assert isinstance(sealer(backend_repo, "rotate", ENV, "--no-branch").exception, InjectedFault)
    outage.up()
    assert (
        snapshot(backend_repo) == files
        and not journal_exists(backend_repo)
        and stray_temps(backend_repo) == []
    )
    records = assert_safe_meanwhile(backend_repo, old)
    assert [r.status for r in records if r.key_id not in ids(old)] == [PENDING] * len(NAMES)
    rerun(backend_repo, old, keys)


# -- no key material anywhere --------------------------------------------------------------------


def test_no_key_material_in_records_logs_or_messages(
    backend_repo: Path,
    backend: Backend,
    keys: list[Any],
    generated: list[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert backend.raw
    caplog.set_level(logging.DEBUG)
    said: list[str] = []
    old = prepared(backend_repo, backend, keys)
    monkeypatch.setenv("SEALER_FAULT", "before-commit")
    failed = sealer(backend_repo, "rotate", ENV, "--no-branch")
    monkeypatch.delenv("SEALER_FAULT")
    said += [failed.stdout, failed.stderr, str(failed.exception)]
    for args in (
        ["rotate", ENV, "--no-branch", "-o", "json"],
        ["keys", "list", ENV, "-o", "json"],
        ["rotate", ENV, "--no-branch", "--grace", "1h"],
        ["backend", "check", ENV],
    ):
        result = ok(sealer(backend_repo, *args))
        said += [result.stdout, result.stderr]
    revoked = sealer(backend_repo, "keys", "revoke", ENV, apikey.key_id_of(old["apiKey"]))
    said += [revoked.stdout, revoked.stderr]

    delivered = all_plaintext_keys(backend_repo, keys)
    assert set(old.values()) <= delivered and len(delivered) == 3 * len(NAMES)
    everything = set(generated) | delivered
    assert len(generated) == 4 * len(NAMES)  # the delivered keys and those of the failed run
    material = (
        everything
        | {k.split("_", 2)[2] for k in everything}
        | {base64.b64encode(k.encode()).decode() for k in everything}
    )
    stored = backend.raw()
    assert stored and all(apikey.fingerprint(k) in stored for k in delivered)
    assert leaks(stored, material) == []
    assert caplog.records and leaks(caplog.text, material) == []
    assert leaks("\n".join(said), material) == []


# -- --no-commit ------------------------------------------------------------------------------


def test_no_commit_activates_only_what_was_committed(
    backend_repo: Path, vault_store: Any, keys: list[Any]
) -> None:
    """A --no-commit rotation whose files the user threw away must not activate its keys:
    nothing delivers them, and the old keys would be revoked under the running cluster."""
    old = prepared(backend_repo, Backend("vault", options_of("vault", vault_store)), keys)
    files = snapshot(backend_repo)
    ok(sealer(backend_repo, "rotate", ENV, "--no-commit"))
    assert snapshot(backend_repo) != files and journal_exists(backend_repo)
    thrown_away = {r.key_id for r in store_of(backend_repo).list(ENV) if r.status == PENDING}
    git(backend_repo, "checkout", "--", *FILES)  # the user changes their mind
    assert snapshot(backend_repo) == files
    rerun(backend_repo, old, keys)  # the thrown-away rotation dropped, a new one done
    in_store = {r.key_id for r in store_of(backend_repo).list(ENV)}
    assert thrown_away and not thrown_away & in_store


@pytest.mark.parametrize(
    ("method", "status", "code", "says"),
    [
        ("GET", 403, 2, "permission denied"),  # its read refused: nothing done
        ("POST", 503, 4, f"stays done in part: one more in {ENV} was sent (not confirmed)"),
    ],
    ids=["read-refused", "removal-unconfirmed"],
)
def test_no_commit_thrown_away_whose_clean_up_fails_says_so(
    backend_repo: Path,
    vault_store: Any,
    vault_env: Any,
    keys: list[Any],
    method: str,
    status: int,
    code: int,
    says: str,
) -> None:
    """The store failing the clean-up of a thrown-away --no-commit rotation was ignored: its
    journal dropped and a new rotation done (exit 0), whatever that clean-up changed. As in a
    rotation's own clean-up: exit 2 when nothing was done, partly done once a removal was sent;
    the journal stays, and the next run finishes it."""
    from support.fake_http import Response

    old = prepared(backend_repo, Backend("vault", options_of("vault", vault_store)), keys)
    files = snapshot(backend_repo)
    ok(sealer(backend_repo, "rotate", ENV, "--no-commit"))
    thrown_away = {r.key_id for r in store_of(backend_repo).list(ENV) if r.status == PENDING}
    git(backend_repo, "checkout", "--", *FILES)  # the user changes their mind
    vault_env.answer_next(Response(status, b"{}"), match="/data/", method=method)
    line = one_line_error(sealer(backend_repo, "rotate", ENV, "--no-branch"), code)
    assert says in line
    assert journal_exists(backend_repo) and snapshot(backend_repo) == files
    rerun(backend_repo, old, keys)  # the thrown-away rotation dropped, a new one done
    assert thrown_away and not thrown_away & {r.key_id for r in store_of(backend_repo).list(ENV)}
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert (
        "so is the clean-up of a `--no-commit` rotation whose files were thrown away, its failure "
        "with nothing done yet being exit 2" in readme
    )


def test_no_commit_then_commit_activates(backend_repo: Path, vault_store: Any, keys: list[Any]) -> None:
    old = prepared(backend_repo, Backend("vault", options_of("vault", vault_store)), keys)
    new = rotate(backend_repo, "--no-commit")["keys"]
    assert {r.key_id: r.status for r in store_of(backend_repo).list(ENV)} == {
        **{i: ACTIVE for i in ids(old)},
        **{k["key_id"]: PENDING for k in new},
    }
    commit_all(backend_repo, "the rotation, committed by hand")
    rerun(backend_repo, old, keys)


def test_a_failure_right_after_the_commit_rolls_forward(
    backend_repo: Path, vault_store: Any, keys: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the ref moved, nothing is rolled back: a journal that cannot be saved any more does
    not stop the same run from finishing (the journal saved before the renames would)."""
    from sealer import journal

    old = prepared(backend_repo, Backend("vault", options_of("vault", vault_store)), keys)
    start, real, marks = head(backend_repo), journal.save, []

    def failing_save(git_dir: Path, entry: Any, envs_json: str | None = None) -> None:
        if entry.phase == journal.COMMITTED:
            raise OSError(28, "No space left on device")
        real(git_dir, entry, envs_json)

    def failing_mark(git_dir: Path, entry: Any) -> None:
        marks.append(entry.commit)
        raise BadInput("cannot write sealer-rotation-committed: No space left on device")

    monkeypatch.setattr(journal, "save", failing_save)
    monkeypatch.setattr(journal, "mark_committed", failing_mark)
    ok(sealer(backend_repo, "rotate", ENV, "--no-branch"))
    monkeypatch.setattr(journal, "save", real)
    assert marks == [head(backend_repo)]
    assert head(backend_repo) != start and git(backend_repo, "status", "--porcelain") == ""
    assert not journal_exists(backend_repo)
    assert_accepted(backend_repo, old, keys)


# -- the deployed phase: a store outage, an exception, a SIGKILL between activations --------------


def test_finish_with_the_store_down_is_partly_done_then_rerun(
    backend_repo: Path, outage_backend: Backend, keys: list[Any]
) -> None:
    outage = outage_backend.outage
    assert outage
    old = prepared(backend_repo, outage_backend, keys)
    rotate(backend_repo)
    outage.down()
    line = one_line_error(sealer(backend_repo, "rotate", "--finish"), 4)
    assert line.startswith(f"sealer: the deployed phase is not finished: {ENV}: {outage_backend.kind}")
    outage.up()
    assert_accepted(backend_repo, old, keys)  # nothing changed: the old keys still serve
    finish(backend_repo)
    assert_finished(backend_repo, old, keys)


def test_abandon_with_the_store_down_names_itself_to_rerun(
    backend_repo: Path, outage_backend: Backend, keys: list[Any]
) -> None:
    """The one line of exit 4 says how to finish: the same `--abandon BRANCH`, not `--finish`
    (which would leave the closed rotation's keys accepted while its branch still exists)."""
    outage = outage_backend.outage
    assert outage
    prepared(backend_repo, outage_backend, keys)
    opened = ok(sealer(backend_repo, "rotate", ENV, "--branch", "sealer/closed", "-o", "json"))
    outage.down()
    line = one_line_error(sealer(backend_repo, "rotate", "--abandon", "sealer/closed"), 4)
    assert line.startswith(f"sealer: the abandoned phase is not finished: {ENV}: {outage_backend.kind}")
    assert "run `sealer rotate --abandon sealer/closed` again" in line, line
    outage.up()
    done = ok(sealer(backend_repo, "rotate", "--abandon", "sealer/closed", "-o", "json"))
    assert {a["key_id"] for a in json.loads(done.stdout)["abandoned"]} == {
        k["key_id"] for k in json.loads(opened.stdout)["keys"]
    }


def test_a_revocation_left_by_a_store_outage_finishes_when_run_again(
    backend_repo: Path, outage_backend: Backend, keys: list[Any]
) -> None:
    """README, exit 4: "The one line says what landed and how to finish; running the same
    command again finishes it", for `keys revoke` as for `keys compromised`."""
    outage = outage_backend.outage
    assert outage
    old = prepared(backend_repo, outage_backend, keys)
    key_id = apikey.key_id_of(old["apiKey"])
    outage.down()
    line = one_line_error(sealer(backend_repo, "keys", "revoke", ENV, key_id), 4)
    assert "revoking the key in the key store failed" in line, line
    outage.up()
    again = ok(sealer(backend_repo, "keys", "revoke", ENV, key_id, "-o", "json"))
    data = json.loads(again.stdout)
    assert (data["key_id"], data["status"], data["left"]) == (key_id, REVOKED, [])
    assert not journal_exists(backend_repo)
    assert {r.key_id: r.status for r in store_of(backend_repo).list(ENV)}[key_id] == REVOKED


@pytest.mark.parametrize("merge", ["--no-ff", "--squash"])
def test_abandon_of_a_merged_rotation_from_another_branch_is_refused(
    backend_repo: Path, vault_store: Any, keys: list[Any], merge: str
) -> None:
    """`--abandon BRANCH` run from a branch that does not hold the rotation yet (an old feature
    branch) must not revoke keys main took in: they are on their way to the cluster."""
    prepared(backend_repo, Backend("vault", options_of("vault", vault_store)), keys)
    git(backend_repo, "branch", "-q", "old-feature")
    branch = json.loads(ok(sealer(backend_repo, "rotate", ENV, "-o", "json")).stdout)["branch"]
    git(backend_repo, "merge", "-q", merge, branch, *(["-m", "merge"] if merge == "--no-ff" else []))
    if merge == "--squash":
        commit_all(backend_repo, "the rotation, squashed")
    before = {r.key_id: r.status for r in store_of(backend_repo).list(ENV)}
    git(backend_repo, "checkout", "-q", "old-feature")
    line = one_line_error(sealer(backend_repo, "rotate", "--abandon", branch), 2)
    assert "is held by refs/heads/main too: that rotation was merged, not abandoned" in line, line
    assert {r.key_id: r.status for r in store_of(backend_repo).list(ENV)} == before


def test_abandon_from_an_older_branch_revokes_only_the_closed_rotations_keys(
    backend_repo: Path, vault_store: Any, keys: list[Any]
) -> None:
    """The refusal above is for keys abandon would revoke: a closed rotation made on top of an
    earlier one (finished, its keys active on main) is abandoned from a branch older than both."""
    configure(backend_repo, Backend("vault", options_of("vault", vault_store)))
    git(backend_repo, "branch", "-q", "old-feature")
    rotate(backend_repo)
    finish(backend_repo)
    served = {r.key_id for r in store_of(backend_repo).list(ENV) if r.status == ACTIVE}
    closed = json.loads(ok(sealer(backend_repo, "rotate", ENV, "-o", "json")).stdout)
    git(backend_repo, "checkout", "-q", "old-feature")
    done = json.loads(ok(sealer(backend_repo, "rotate", "--abandon", closed["branch"], "-o", "json")).stdout)
    assert {a["key_id"] for a in done["abandoned"]} == {k["key_id"] for k in closed["keys"]}
    assert {r.key_id for r in store_of(backend_repo).list(ENV) if r.status == ACTIVE} == served


@pytest.mark.parametrize("named", [(), ("--branch", "review/keys")])
def test_finish_detached_at_an_unmerged_rotation_is_refused(
    backend_repo: Path, vault_store: Any, keys: list[Any], named: tuple[str, ...]
) -> None:
    """A tired operator checks the rotation out to look at it (`git checkout --detach BRANCH`, as
    CI checks out a commit) and runs the deployed phase there: it would activate keys no reviewer
    approved and revoke the ones the cluster serves. Refused, nothing changed; once main holds
    the same commit (a fast-forward), a checkout detached there runs it."""
    prepared(backend_repo, Backend("vault", options_of("vault", vault_store)), keys)
    branch = json.loads(ok(sealer(backend_repo, "rotate", ENV, *named, "-o", "json")).stdout)["branch"]
    before = {r.key_id: r.status for r in store_of(backend_repo).list(ENV)}
    git(backend_repo, "checkout", "-q", "--detach", branch)
    line = one_line_error(sealer(backend_repo, "rotate", "--finish"), 2)
    assert f"HEAD is detached at rotation branch {branch}" in line, line
    assert {r.key_id: r.status for r in store_of(backend_repo).list(ENV)} == before
    git(backend_repo, "branch", "-q", "-f", "main", branch)  # main took the commit in as it is
    assert ok(sealer(backend_repo, "rotate", "--finish", "-o", "json"))
    assert ACCEPTED not in {r.status for r in store_of(backend_repo).list(ENV)}


@pytest.mark.parametrize("named", [(), ("--branch", "review/keys")])
def test_finish_detached_at_a_merged_rotation_runs_after_main_moved_on(
    backend_repo: Path, vault_store: Any, keys: list[Any], named: tuple[str, ...]
) -> None:
    """GitLab's finish job runs detached at the pipeline's commit, then fetches: a fast-forward
    merge of the rotation (its branch kept), and another push to main before the job fetched,
    leave only the rotation branch pointing at HEAD, yet main holds it: merged, the job runs (it
    was refused, the old keys left valid). Detached below an unmerged rotation's tip (a commit
    added on top) it is still refused."""
    prepared(backend_repo, Backend("vault", options_of("vault", vault_store)), keys)
    branch = json.loads(ok(sealer(backend_repo, "rotate", ENV, *named, "-o", "json")).stdout)["branch"]
    rotation = git(backend_repo, "rev-parse", branch).strip()
    git(backend_repo, "checkout", "-q", branch)
    git(backend_repo, "commit", "-q", "--allow-empty", "--no-verify", "-m", "on top")
    git(backend_repo, "checkout", "-q", "--detach", rotation)
    assert f"rotation branch {branch}" in one_line_error(sealer(backend_repo, "rotate", "--finish"), 2)
    git(backend_repo, "branch", "-q", "-f", "main", branch)  # a fast-forward merge
    git(backend_repo, "branch", "-q", "-f", branch, rotation)
    git(backend_repo, "checkout", "-q", "main")
    git(backend_repo, "commit", "-q", "--allow-empty", "--no-verify", "-m", "the next push")
    git(backend_repo, "checkout", "-q", "--detach", rotation)
    assert git(backend_repo, "for-each-ref", f"--points-at={rotation}", "--format=%(refname)").split() == [
        f"refs/heads/{branch}"
    ]
    assert ok(sealer(backend_repo, "rotate", "--finish", "-o", "json"))
    assert ACCEPTED not in {r.status for r in store_of(backend_repo).list(ENV)}


@pytest.mark.parametrize("mode", ["raise", "kill"])
def test_finish_interrupted_between_activations_then_rerun(
    backend_repo: Path, vault_store: Any, keys: list[Any], mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = prepared(backend_repo, Backend("vault", options_of("vault", vault_store)), keys)
    rotate(backend_repo)
    if mode == "kill":
        done = run_sealer(backend_repo, "rotate", "--finish", env={"SEALER_FAULT": "after-activate-one:kill"})
        assert done.returncode == -signal.SIGKILL
    else:
        monkeypatch.setenv("SEALER_FAULT", "after-activate-one")
        result = sealer(backend_repo, "rotate", "--finish", "-o", "json")
        line = one_line_error(result, 4)
        monkeypatch.delenv("SEALER_FAULT")
        assert "injected fault at after-activate-one" in line
        activated = [a["key_id"] for a in json.loads(result.stdout)["activated"]]
        assert len(activated) == 1  # the one made before the failure is reported, not "nothing"
    records = store_of(backend_repo).list(ENV)
    assert_one_active_per_name(records)  # one switched, the other not yet: never two, never none
    assert len([r for r in records if r.status == ACCEPTED]) == len(NAMES) - 1
    finish(backend_repo)
    assert_finished(backend_repo, old, keys)
