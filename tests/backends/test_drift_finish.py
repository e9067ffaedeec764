"""Drift while a rotation waits for `sealer rotate --finish`: only the keys `--finish` will revoke
are excused (the key the rotation replaced, and while that one was never activated, the key
before it), never any older key of the entry that someone made valid in the store again."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from support.backend_repos import (
    ENV,
    NAMES,
    Backend,
    assert_one_active_per_name,
    configure,
    finish,
    ok,
    options_of,
    rotate,
    statuses,
    store_of,
)
from support.cli import sealer
from support.tamper import tamper

from sealer import config, drift
from sealer.records import ACCEPTED, ACTIVE, GRACE, PENDING, REVOKED, KeyRecord, utcnow

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
NOW = T0 + dt.timedelta(days=10)
FAR = "2099-01-01T00:00:00Z"


def rec(key_id: str, status: str, name: str = "apiKey", day: int = 0, **extra: Any) -> KeyRecord:
    """A record created `day` days after T0 (rotations made within one second share a time)."""
    return KeyRecord(
        ENV,
        name,
        key_id,
        key_id.ljust(64, "0"),
        T0 + dt.timedelta(days=day),
        T0 + dt.timedelta(days=90),
        status,
        "t",
        extra.get("revoke_at"),
    )


def kinds(committed: list[KeyRecord], stored: list[KeyRecord], **extra: Any) -> list[tuple[str, str | None]]:
    return [(d.kind, d.key_id) for d in drift.differences(ENV, committed, stored, NOW, **extra)]


def held(committed: list[KeyRecord], *statuses: str) -> list[KeyRecord]:
    """The store's copies of the ledger's records, with these statuses."""
    return [r.with_status(status) for r, status in zip(committed, statuses, strict=True)]


# Ledger a -> b -> c, c the rotation waiting for --finish (accepted in the store).
LEDGER = [rec("a", REVOKED), rec("b", REVOKED, day=1), rec("c", ACTIVE, day=2)]
REVALIDATED = rec("a", GRACE, revoke_at=T0 + dt.timedelta(days=900))  # someone's write to the store


def test_the_key_the_rotation_replaced_is_excused_until_finish() -> None:
    assert kinds(LEDGER, [rec("a", REVOKED), rec("b", ACTIVE, day=1), rec("c", ACCEPTED, day=2)]) == []
    # Its successor still pending (the accept failed: --resume) leaves it valid too.
    assert kinds(LEDGER, [rec("a", REVOKED), rec("b", ACTIVE, day=1), rec("c", PENDING, day=2)]) == [
        (drift.NOT_ACCEPTED, "c")
    ]


def test_a_finish_overdue_by_more_than_a_day_after_the_merge_is_drift() -> None:
    """The rotation landed on the main line two days ago and its keys are still only accepted (the
    pipeline's `--finish` failed, or a store writer set finished keys back): the replaced key is
    drift, with `--finish` as the fix; within a day of the merge, or when the merge cannot be
    dated (shallow clone), it is still the phase."""
    stored = [rec("a", REVOKED), rec("b", ACTIVE, day=1), rec("c", ACCEPTED, day=2)]

    def found(landed: dt.datetime | None) -> list[tuple[str, str | None, str]]:
        return [
            (d.kind, d.key_id, d.fix)
            for d in drift.differences(ENV, LEDGER, stored, NOW, landed=lambda key_id: landed)
        ]

    assert found(NOW - dt.timedelta(days=2)) == [(drift.VALID_IN_STORE, "b", "sealer rotate --finish")]
    assert found(NOW - dt.timedelta(hours=12)) == [] and found(None) == []


def test_an_older_key_made_valid_again_during_the_rotation_is_drift() -> None:
    for older in (REVALIDATED, rec("a", ACTIVE), rec("a", ACCEPTED)):
        stored = [older, rec("b", ACTIVE, day=1), rec("c", ACCEPTED, day=2)]
        assert kinds(LEDGER, stored) == [(drift.VALID_IN_STORE, "a")], older


def test_a_predecessor_rotation_never_finished_leaves_both_old_keys_valid() -> None:
    """b's rotation was committed but never finished, then c's: the store still holds a active and
    b accepted, and --finish (activating c) revokes both."""
    for committed in (
        LEDGER,
        # Ledger order, not creation times, says which key replaced which (two rotations within
        # one second, or a clock set back).
        [rec("a", REVOKED), rec("b", REVOKED), rec("c", ACTIVE)],
        [rec("a", REVOKED, day=2), rec("b", REVOKED, day=1), rec("c", ACTIVE)],
    ):
        assert kinds(committed, held(committed, ACTIVE, ACCEPTED, ACCEPTED)) == [], committed


def test_the_chain_ends_at_the_key_the_store_activated() -> None:
    """a0 -> a -> b -> c: b's rotation was finished (b active), so a0 and a were revoked then."""
    committed = [rec("a0", REVOKED), *LEDGER]
    stored = [rec("a0", ACTIVE), rec("a", REVOKED), rec("b", ACTIVE, day=1), rec("c", ACCEPTED, day=2)]
    assert kinds(committed, stored) == [(drift.VALID_IN_STORE, "a0")]


def test_a_key_revoked_at_once_ends_the_chain() -> None:
    """b was revoked by `keys revoke` (at once): neither b nor the key it replaced waits for --finish."""
    stored = [rec("a", ACTIVE), rec("b", ACTIVE, day=1), rec("c", ACCEPTED, day=2)]
    assert kinds(LEDGER, stored, at_once=frozenset({"b"})) == [
        (drift.VALID_IN_STORE, "a"),
        (drift.VALID_IN_STORE, "b"),
    ]


def test_several_entries_each_excuse_only_their_own_replaced_key() -> None:
    committed = [
        rec("a1", REVOKED, "apiKey"),
        rec("a2", REVOKED, "adminKey"),
        rec("b1", REVOKED, "apiKey", day=1),
        rec("b2", REVOKED, "adminKey", day=1),
        rec("c1", ACTIVE, "apiKey", day=2),
        rec("c2", ACTIVE, "adminKey", day=2),
    ]
    stored = [
        rec("a1", REVOKED, "apiKey"),
        rec("a2", ACTIVE, "adminKey"),  # revoked two rotations ago, made valid again
        rec("b1", ACTIVE, "apiKey", day=1),
        rec("b2", ACTIVE, "adminKey", day=1),
        rec("c1", ACCEPTED, "apiKey", day=2),
        rec("c2", ACCEPTED, "adminKey", day=2),
    ]
    assert kinds(committed, stored) == [(drift.VALID_IN_STORE, "a2")]
    # An entry whose rotation is finished excuses nothing, although another entry's waits.
    stored = [r.with_status(ACTIVE) if r.key_id == "c2" else r for r in stored]
    stored = [r.with_status(REVOKED, NOW) if r.key_id == "b2" else r for r in stored]
    assert kinds(committed, stored) == [(drift.VALID_IN_STORE, "a2")]
    stored = [r.with_status(ACTIVE) if r.key_id == "b2" else r for r in stored]
    assert kinds(committed, stored) == [(drift.VALID_IN_STORE, "a2"), (drift.VALID_IN_STORE, "b2")]


def test_a_grace_window_that_lapsed_before_finish() -> None:
    """`rotate --grace`: b's window ended in the ledger, but the store counts it from --finish."""
    lapsed = T0 + dt.timedelta(days=3)
    committed = [
        rec("a", REVOKED, revoke_at=T0 + dt.timedelta(days=1)),
        rec("b", GRACE, day=1, revoke_at=lapsed),
        rec("c", ACTIVE, day=2),
    ]
    stored = [rec("a", REVOKED), rec("b", ACTIVE, day=1), rec("c", ACCEPTED, day=2)]
    assert kinds(committed, stored) == []
    assert kinds(committed, [REVALIDATED, *stored[1:]]) == [(drift.VALID_IN_STORE, "a")]


def test_a_grace_window_begun_by_finish_is_a_phase_within_its_bound() -> None:
    """`rotate --grace 1d` at day 2, merged at day 3, finished within a day of the merge: the
    store's window (from the finish) outlasts the ledger's (from the rotation) and is no drift;
    one that ends later than a finish within FINISH_WITHIN of the merge allows is."""
    merged = T0 + dt.timedelta(days=3)
    committed = [
        rec("a", REVOKED, revoke_at=T0 + dt.timedelta(days=1)),
        rec("b", GRACE, day=1, revoke_at=T0 + dt.timedelta(days=3)),  # window: 1 day from c
        rec("c", ACTIVE, day=2),
    ]
    now = merged + dt.timedelta(days=1, hours=6)  # the ledger's window lapsed a day ago

    def store(ends: dt.datetime) -> list[KeyRecord]:
        return [rec("a", REVOKED), rec("b", GRACE, day=1, revoke_at=ends), rec("c", ACTIVE, day=2)]

    def found(ends: dt.datetime, landed: dt.datetime | None = merged) -> list[tuple[str, str | None]]:
        differences = drift.differences(ENV, committed, store(ends), now, landed=lambda key_id: landed)
        return [(d.kind, d.key_id) for d in differences]

    finished_late = merged + drift.FINISH_WITHIN + dt.timedelta(hours=1)
    assert found(merged + dt.timedelta(hours=20, days=1)) == []  # finished 20 hours after the merge
    assert found(merged + drift.FINISH_WITHIN + dt.timedelta(days=1)) == []  # the bound itself
    assert found(finished_late + dt.timedelta(days=1)) == [(drift.VALID_IN_STORE, "b")]
    assert found(merged + dt.timedelta(hours=20, days=1), landed=None) == [(drift.VALID_IN_STORE, "b")]
    # Only a key the ledger gave a grace window, beside the key the store activated.
    ends, landed = NOW + dt.timedelta(days=1), lambda key_id: NOW
    stored = [rec("a", REVOKED), rec("b", GRACE, day=1, revoke_at=ends), rec("c", ACTIVE, day=2)]
    assert kinds(committed, stored, landed=landed) == []
    revoked_b = [*committed[:1], rec("b", REVOKED, day=1, revoke_at=T0 + dt.timedelta(days=2)), committed[2]]
    assert kinds(revoked_b, stored, landed=landed) == [(drift.VALID_IN_STORE, "b")]
    assert kinds(committed, [rec("a", GRACE, revoke_at=ends), *stored[1:]], landed=landed) == [
        (drift.VALID_IN_STORE, "a")
    ]
    accepted_c = [*stored[:2], rec("c", ACCEPTED, day=2)]  # not finished: left_until_finish's case
    assert kinds(committed, accepted_c, landed=landed) == [(drift.VALID_IN_STORE, "b")]


def test_stacked_rotations_finished_at_once_each_keep_their_own_window() -> None:
    """b replaced a with 30 days of grace, c replaced b four days later with one hour, and one
    `--finish` activated c: a's window is the one b's rotation chose, not the shorter a-to-c."""
    merged = T0 + dt.timedelta(days=6)
    finished = merged + dt.timedelta(hours=10)
    committed = [
        rec("a", GRACE, revoke_at=T0 + dt.timedelta(days=31)),
        rec("b", GRACE, day=1, revoke_at=T0 + dt.timedelta(days=5, hours=1)),
        rec("c", ACTIVE, day=5),
    ]
    stored = [
        rec("a", GRACE, revoke_at=finished + dt.timedelta(days=30)),
        rec("b", GRACE, day=1, revoke_at=finished + dt.timedelta(hours=1)),
        rec("c", ACTIVE, day=5),
    ]
    now = finished + dt.timedelta(days=26)  # past the ledger's ends, within the store's for a
    found = drift.differences(ENV, committed, stored, now, landed=lambda key_id: merged)
    assert [(d.kind, d.key_id) for d in found] == []
    renewed = [rec("a", GRACE, revoke_at=finished + dt.timedelta(days=40)), *stored[1:]]
    found = drift.differences(ENV, committed, renewed, now, landed=lambda key_id: merged)
    assert [(d.kind, d.key_id) for d in found] == [(drift.VALID_IN_STORE, "a")]


def test_a_pending_key_in_the_ledger_does_not_widen_the_window_drift_excuses() -> None:
    """A pending key copied into the ledger before c (created at T0, never active) replaced
    nothing: `--finish` ends a by the hour c's rotation chose, so a store that keeps a valid for
    days is drift, not the window counted from the copied key's creation."""
    merged = T0 + dt.timedelta(days=6)
    finished = merged + dt.timedelta(hours=10)
    committed = [
        rec("a", GRACE, revoke_at=T0 + dt.timedelta(days=5, hours=1)),
        rec("p", PENDING),
        rec("c", ACTIVE, day=5),
    ]
    stored = [rec("a", GRACE, revoke_at=finished + dt.timedelta(hours=1)), rec("p", REVOKED), committed[2]]
    landed = {"c": merged}.get
    assert kinds(committed, stored, landed=landed) == []
    stretched = [rec("a", GRACE, revoke_at=finished + dt.timedelta(days=5)), *stored[1:]]
    assert kinds(committed, stretched, landed=landed) == [(drift.VALID_IN_STORE, "a")]


# -- end to end: the rotation engine's own phases in a real store --------------------------------


@pytest.fixture
def vault_backend(request: pytest.FixtureRequest) -> Backend:
    return Backend("vault", options_of("vault", request.getfixturevalue("vault_store")))


def in_use(repo: Path) -> dict[str, KeyRecord]:
    return assert_one_active_per_name(store_of(repo).list(ENV))


def drift_now(repo: Path, now: dt.datetime | None = None) -> list[tuple[str, str | None]]:
    """Drift of the store against HEAD's ledger, as `check --drift` computes it, at `now`."""
    return [(d.kind, d.key_id) for d in drift.compare(config.load(repo), ENV, now)]


def test_an_older_key_brought_back_while_a_rotation_waits_for_finish(
    backend_repo: Path, vault_backend: Backend, request: pytest.FixtureRequest
) -> None:
    configure(backend_repo, vault_backend)
    rotate(backend_repo)
    finish(backend_repo)
    first = in_use(backend_repo)
    rotate(backend_repo)
    finish(backend_repo)
    second = in_use(backend_repo)
    rotate(backend_repo, "--grace", "1h")  # committed, not deployed: the second keys stay active
    assert {statuses(store_of(backend_repo).list(ENV))[second[n].key_id] for n in NAMES} == {ACTIVE}
    later = utcnow() + dt.timedelta(hours=3)  # the ledger's grace window lapsed, --finish not run yet
    assert drift_now(backend_repo) == [] and drift_now(backend_repo, later) == []
    # Landed on the main line (no branch) more than a day ago and still not finished: overdue.
    overdue = drift.compare(config.load(backend_repo), ENV, utcnow() + dt.timedelta(days=2))
    assert {(d.kind, d.key_id, d.fix) for d in overdue} == {
        (drift.VALID_IN_STORE, second[n].key_id, "sealer rotate --finish") for n in NAMES
    }
    assert all("`sealer rotate --finish` has not run since" in d.message for d in overdue)
    tamper(request, vault_backend, first["adminKey"].key_id, status=GRACE, revoke_at=FAR)
    found = [(drift.VALID_IN_STORE, first["adminKey"].key_id)]
    assert drift_now(backend_repo) == found and drift_now(backend_repo, later) == found
    finish(backend_repo)  # the second keys enter their grace window; the first one is still drift
    assert drift_now(backend_repo) == found


def test_two_rotations_without_finish_are_a_phase(backend_repo: Path, vault_backend: Backend) -> None:
    """A rotation committed on top of one never finished: --finish revokes both old keys."""
    configure(backend_repo, vault_backend)
    rotate(backend_repo)
    finish(backend_repo)
    first = in_use(backend_repo)
    second = {k["name"]: k["key_id"] for k in rotate(backend_repo)["keys"]}
    rotate(backend_repo)
    held = statuses(store_of(backend_repo).list(ENV))
    assert {held[first[n].key_id] for n in NAMES} == {ACTIVE} and {held[second[n]] for n in NAMES} == {
        ACCEPTED
    }
    assert drift_now(backend_repo) == []
    finish(backend_repo)
    held = statuses(store_of(backend_repo).list(ENV))
    assert {held[first[n].key_id] for n in NAMES} | {held[second[n]] for n in NAMES} == {REVOKED}
    assert drift_now(backend_repo) == []


def test_grace_from_finish_after_a_merge_is_no_drift_until_its_bound(
    backend_repo: Path,
    vault_backend: Backend,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rotation on its own branch, merged ten hours later, finished twenty hours after the
    merge with `--grace 1d`: once the ledger's window lapsed (a day after the rotation) the store's
    (a day after the finish) is still no drift; its bound is the merge's time on the main line, not
    the rotation's commit; a store edit that renews the window is drift."""
    from support.git import git

    from sealer.rotation import phases

    configure(backend_repo, vault_backend)
    rotate(backend_repo)
    finish(backend_repo)
    first = in_use(backend_repo)
    ok(sealer(backend_repo, "rotate", ENV, "--grace", "1d", "--branch", "graceful"))
    rotated = max(r.created for r in store_of(backend_repo).list(ENV))
    merged = rotated + dt.timedelta(hours=10)
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{int(merged.timestamp())} +0000")
    git(backend_repo, "merge", "-q", "--no-ff", "-m", "merge graceful", "graceful")
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    finished = merged + dt.timedelta(hours=20)
    phases.finish(config.load(backend_repo), (ENV,), now=finished)
    assert {statuses(store_of(backend_repo).list(ENV))[first[n].key_id] for n in NAMES} == {GRACE}
    lapsed = rotated + dt.timedelta(days=1, hours=12)  # the ledger's window ended 12 hours ago
    assert drift_now(backend_repo, lapsed) == []
    assert drift_now(backend_repo, finished + dt.timedelta(days=1)) == []  # both windows over
    renewed = (finished + dt.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tamper(request, vault_backend, first["apiKey"].key_id, revoke_at=renewed)
    assert drift_now(backend_repo, lapsed) == [(drift.VALID_IN_STORE, first["apiKey"].key_id)]


@pytest.mark.parametrize(
    ("named", "detached"), [((), False), (("--branch", "review/keys"), False), ((), True)]
)
def test_a_rotation_branch_under_review_for_days_is_not_overdue(
    backend_repo: Path, vault_backend: Backend, named: tuple[str, ...], detached: bool
) -> None:
    """`sealer status` on a rotation's own branch, its pull request open for two days: the rotation
    never landed on the main line, so its replaced keys are the phase, not a finish overdue (whose
    fix, `rotate --finish`, that branch refuses). A --branch of the user's choice is one too, and
    so is a checkout detached where only that branch is."""
    from support.git import git

    configure(backend_repo, vault_backend)
    rotate(backend_repo)
    finish(backend_repo)
    result = ok(sealer(backend_repo, "rotate", ENV, *named, "--output", "json"))
    branch = json.loads(result.stdout)["branch"]
    assert branch == (named[1] if named else branch) and branch.startswith(named[1:] or "sealer/rotate-")
    git(backend_repo, "checkout", "-q", *(["--detach"] if detached else []), branch)
    assert drift_now(backend_repo, utcnow() + dt.timedelta(days=2)) == []


def test_a_forged_trailer_in_the_merge_does_not_hide_a_finish_overdue_on_main(
    backend_repo: Path, vault_backend: Backend
) -> None:
    """The forge puts a pull request's title into the merge commit's body: titled
    `Sealer-Branch: main`, main read as a rotation branch of sealer's own and drift took its
    merged keys for never landed (no finish overdue, for good)."""
    from support.git import git

    configure(backend_repo, vault_backend)
    rotate(backend_repo)
    finish(backend_repo)
    replaced = in_use(backend_repo)
    branch = json.loads(ok(sealer(backend_repo, "rotate", ENV, "-o", "json")).stdout)["branch"]
    git(backend_repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #7\n\nSealer-Branch: main", branch)
    overdue = drift_now(backend_repo, utcnow() + dt.timedelta(days=2))
    assert sorted(overdue) == sorted((drift.VALID_IN_STORE, replaced[n].key_id) for n in NAMES)


@pytest.mark.parametrize("named", [(), ("--branch", "review/keys")])
def test_finish_on_a_rotation_branch_is_refused_and_changes_nothing(
    backend_repo: Path, vault_backend: Backend, named: tuple[str, ...]
) -> None:
    """`rotate --finish` on the branch of a rotation nobody merged yet would activate keys no
    reviewer approved and revoke the ones the cluster still presents: refused, also for a
    --branch of the user's choice (its commit says whose branch it is); after the merge it runs.
    A rebase merge puts that commit on the main line, under another name: not a rotation branch."""
    from support.git import git

    configure(backend_repo, vault_backend)
    rotate(backend_repo)
    finish(backend_repo)
    before = statuses(store_of(backend_repo).list(ENV))
    branch = json.loads(ok(sealer(backend_repo, "rotate", ENV, *named, "--output", "json")).stdout)["branch"]
    pending = statuses(store_of(backend_repo).list(ENV))
    git(backend_repo, "checkout", "-q", branch)
    refused = sealer(backend_repo, "rotate", "--finish")
    lines = refused.stderr.strip().splitlines()
    assert refused.exit_code == 2 and len(lines) == 1 and f"{branch} is a rotation branch" in lines[0], lines
    assert statuses(store_of(backend_repo).list(ENV)) == pending and pending.items() >= before.items()
    git(backend_repo, "checkout", "-q", "main")
    git(backend_repo, "rebase", "-q", branch)  # main now ends in the rotation's own commit
    finish(backend_repo)
    assert {statuses(store_of(backend_repo).list(ENV))[k] for k in before} == {REVOKED}


def test_a_grace_window_begun_by_finish_stays_a_phase_while_the_next_rotation_waits() -> None:
    """b's window began at c's finish (a day after the merge, as `--grace 1d` asks); the next
    rotation (d) is committed before b's window ends and waits for its own finish: b is still in
    the window c's finish began, not drift."""
    merged = T0 + dt.timedelta(days=3)
    committed = [
        rec("a", REVOKED, revoke_at=T0 + dt.timedelta(days=1)),
        rec("b", GRACE, day=1, revoke_at=T0 + dt.timedelta(days=3)),  # window: 1 day from c
        rec("c", REVOKED, day=2, revoke_at=T0 + dt.timedelta(days=4)),
        rec("d", ACTIVE, day=4),
    ]
    stored = [
        rec("a", REVOKED),
        rec("b", GRACE, day=1, revoke_at=merged + dt.timedelta(hours=20, days=1)),
        rec("c", ACTIVE, day=2),
        rec("d", ACCEPTED, day=4),
    ]
    landed = {"c": merged, "d": T0 + dt.timedelta(days=4)}
    now = merged + dt.timedelta(days=1, hours=6)  # b's ledger window lapsed, the store's has not

    def found(stored: list[KeyRecord]) -> list[tuple[str, str | None]]:
        return [(d.kind, d.key_id) for d in drift.differences(ENV, committed, stored, now, landed=landed.get)]

    assert found(stored) == []
    renewed = [*stored[:1], rec("b", GRACE, day=1, revoke_at=now + dt.timedelta(days=30)), *stored[2:]]
    assert found(renewed) == [(drift.VALID_IN_STORE, "b")]
