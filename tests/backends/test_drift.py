"""Drift (#17): a record changed behind sealer's back in each store is found by `sealer check
--drift` (and `sealer status`), with the command that reconciles it; a store that cannot be read
is reported, never "clean"."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from support.backend_repos import (
    ENV,
    Backend,
    assert_one_active_per_name,
    configure,
    current_keys,
    finish,
    ok,
    options_of,
    rotate,
    statuses,
    store_of,
)
from support.cli import sealer
from support.fake_kube import FakeKube
from support.repos import ledger_records
from support.tamper import tamper

from sealer import drift, ledger
from sealer.records import ACCEPTED, ACTIVE, GRACE, PENDING, REVOKED, KeyRecord, iso

FAR = "2099-01-01T00:00:00Z"


def drift_check(repo: Path) -> tuple[int, list[dict[str, Any]]]:
    """`sealer check staging --drift -o json`: (exit code, the store-drift problems)."""
    result = sealer(repo, "check", ENV, "--drift", "-o", "json")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    problems = json.loads(result.stdout)["problems"]
    return result.exit_code, [p for p in problems if p["rule"] == "store-drift"]


def rotated_twice(repo: Path, backend: Backend) -> tuple[dict[str, KeyRecord], dict[str, KeyRecord]]:
    """Two rotations, each deployed: (the first keys, revoked now; the keys in use)."""
    configure(repo, backend)
    rotate(repo)
    finish(repo)
    first = assert_one_active_per_name(store_of(repo).list(ENV))
    rotate(repo)
    finish(repo)
    return first, assert_one_active_per_name(store_of(repo).list(ENV))


def test_drift_behind_sealers_back_in_each_store(
    backend: Backend, backend_repo: Path, request: pytest.FixtureRequest
) -> None:
    repo = backend_repo
    first, now = rotated_twice(repo, backend)
    code, found = drift_check(repo)
    assert found == [] and code == 0, found
    # A DBA brings a revoked key back; the dashboard revokes the key in use; an expiry is pushed out.
    tamper(request, backend, first["apiKey"].key_id, status=GRACE, revoke_at=FAR)
    tamper(
        request,
        backend,
        now["adminKey"].key_id,
        status=REVOKED,
        revoke_at=iso(dt.datetime.now(dt.timezone.utc)),
    )
    tamper(request, backend, now["apiKey"].key_id, expires=FAR)
    code, found = drift_check(repo)
    assert code == 1
    assert [(p["message"].split(":")[0], p["fix"]) for p in found] == [
        ("valid-in-store", f"sealer keys revoke {ENV} {first['apiKey'].key_id}"),
        ("metadata-mismatch", f"sealer keys compromised {ENV} {now['apiKey'].key_id}"),
        ("not-valid-in-store", f"sealer rotate {ENV} --key adminKey"),
    ]
    assert "expires" in found[1]["message"]
    # The dangerous one first: its fix makes the store follow the ledger, and only that drift goes.
    ok(sealer(repo, "keys", "revoke", ENV, first["apiKey"].key_id))
    assert statuses(store_of(repo).list(ENV))[first["apiKey"].key_id] == REVOKED
    assert [p["message"].split(":")[0] for p in drift_check(repo)[1]] == [
        "metadata-mismatch",
        "not-valid-in-store",
    ]


def test_an_unreadable_store_is_drift_not_clean(outage_backend: Backend, backend_repo: Path) -> None:
    configure(backend_repo, outage_backend)
    rotate(backend_repo)
    assert drift_check(backend_repo) == (0, [])
    assert outage_backend.outage is not None
    outage_backend.outage.down()
    try:
        code, found = drift_check(backend_repo)
    finally:
        outage_backend.outage.up()
    assert code == 1
    assert len(found) == 1 and found[0]["message"].startswith("store-unreadable: ")
    assert found[0]["fix"] == f"sealer backend check {ENV}, then run this again"


def test_drift_in_the_git_ledger_store(backend_repo: Path) -> None:
    """k8s-secrets: its records are the ledger files; a hand edit not committed is drift from
    what review approved (a revoked key made valid again is the dangerous kind)."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}
    rotate(backend_repo)
    assert drift_check(backend_repo) == (0, [])
    kid = old["apiKey"].key_id
    edited = [
        r.with_status(GRACE, dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc)) if r.key_id == kid else r
        for r in ledger_records(backend_repo, ENV)
    ]
    (backend_repo / "ledger" / f"{ENV}.yaml").write_text(ledger.dump(ENV, edited))
    code, found = drift_check(backend_repo)
    assert code == 1 and [p["message"].split(":")[0] for p in found] == ["valid-in-store"], found
    assert found[0]["fix"] == f"sealer keys revoke {ENV} {kid}"


# -- the comparison itself, case by case (no store needed) ------------------------------------

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
NOW = T0 + dt.timedelta(days=10)


def rec(key_id: str, status: str, name: str = "apiKey", **extra: Any) -> KeyRecord:
    fields: dict[str, Any] = {"expires": T0 + dt.timedelta(days=90), "revoke_at": None, **extra}
    return KeyRecord(
        ENV, name, key_id, key_id.ljust(64, "0"), T0, fields["expires"], status, "t", fields["revoke_at"]
    )


@pytest.mark.parametrize(
    ("ledger", "store", "kinds"),
    [
        ([rec("a", ACTIVE)], [rec("a", ACTIVE)], []),
        ([rec("a", ACTIVE)], [rec("a", ACCEPTED)], []),  # committed, not deployed yet
        (
            [rec("a", REVOKED), rec("b", ACTIVE)],
            [rec("a", ACTIVE), rec("b", ACCEPTED)],
            [],
        ),  # before --finish
        ([rec("a", REVOKED), rec("b", ACTIVE)], [rec("a", ACTIVE), rec("b", ACTIVE)], [drift.VALID_IN_STORE]),
        (
            [rec("a", REVOKED)],
            [rec("a", GRACE, revoke_at=NOW + dt.timedelta(days=1))],
            [drift.VALID_IN_STORE],
        ),
        ([rec("a", REVOKED)], [rec("a", GRACE, revoke_at=NOW - dt.timedelta(days=1))], []),  # lapsed
        ([rec("a", ACTIVE)], [rec("a", REVOKED)], [drift.NOT_VALID_IN_STORE]),
        ([rec("a", ACTIVE)], [rec("a", PENDING)], [drift.NOT_ACCEPTED]),
        ([rec("a", ACTIVE)], [], [drift.MISSING_IN_STORE]),
        ([rec("a", REVOKED)], [], []),  # the store was configured after it
        ([], [rec("x", ACTIVE)], [drift.UNKNOWN_IN_STORE]),
        ([], [rec("x", PENDING)], []),  # never valid
        ([], [rec("x", REVOKED)], []),
        ([rec("a", ACTIVE)], [rec("a", ACTIVE, name="adminKey")], [drift.METADATA]),
        ([rec("a", ACTIVE)], [rec("a", ACTIVE, expires=T0 + dt.timedelta(days=900))], [drift.METADATA]),
    ],
)
def test_differences(ledger: list[KeyRecord], store: list[KeyRecord], kinds: list[str]) -> None:
    assert [d.kind for d in drift.differences(ENV, ledger, store, NOW)] == kinds


def test_a_key_revoked_at_once_is_never_excused_until_finish() -> None:
    """A `keys revoke`/`keys compromised` key is revoked in the store right after its commit: a
    successor still accepted (before --finish) does not excuse it being valid there."""
    ledger_side = [rec("a", REVOKED), rec("b", ACTIVE)]
    store = [rec("a", ACTIVE), rec("b", ACCEPTED)]
    assert drift.differences(ENV, ledger_side, store, NOW) == []  # an ordinary rotation's phase
    found = drift.differences(ENV, ledger_side, store, NOW, at_once=frozenset({"a"}))
    assert [(d.kind, d.key_id) for d in found] == [(drift.VALID_IN_STORE, "a")]


def test_a_compromised_key_brought_back_in_the_store_is_drift(
    backend_repo: Path, request: pytest.FixtureRequest
) -> None:
    """After `keys compromised` (its successor accepted, not finished yet) someone makes the
    compromised key valid in the store again: drift says so, it is not "a rotation's phase"."""
    backend = Backend("vault", options_of("vault", request.getfixturevalue("vault_store")))
    configure(backend_repo, backend)
    rotate(backend_repo)
    finish(backend_repo)
    kid = assert_one_active_per_name(store_of(backend_repo).list(ENV))["apiKey"].key_id
    ok(sealer(backend_repo, "keys", "compromised", ENV, kid, "--no-branch"))
    assert drift_check(backend_repo) == (0, [])
    tamper(request, backend, kid, status=ACTIVE, revoke_at=None)
    code, found = drift_check(backend_repo)
    assert code == 1 and [p["message"].split(":")[0] for p in found] == ["valid-in-store"], found
    assert found[0]["fix"] == f"sealer keys revoke {ENV} {kid}"


def test_an_accepted_key_under_review_is_not_drift() -> None:
    """A rotation's pull request: its branch holds the key the store accepts already."""
    store = [rec("a", ACTIVE), rec("x", ACCEPTED)]
    branch = "sealer/rotate-x"
    assert (
        drift.differences(ENV, [rec("a", ACTIVE)], store, NOW, lambda r: branch if r.key_id == "x" else None)
        == []
    )
    assert [d.kind for d in drift.differences(ENV, [rec("a", ACTIVE)], store, NOW)] == [
        drift.UNKNOWN_IN_STORE
    ]


@pytest.mark.parametrize(
    ("waited", "fix"),
    [
        (drift.REVIEW_WITHIN, None),
        (
            drift.REVIEW_WITHIN + dt.timedelta(seconds=1),
            "merge sealer/rotate-x, or sealer rotate --abandon sealer/rotate-x",
        ),
        (-dt.timedelta(minutes=30), None),  # clocks a little apart
        (-dt.timedelta(days=2), f"sealer keys revoke {ENV} x"),  # created in the future: forged
    ],
)
def test_a_rotation_under_review_for_longer_than_its_bound_is_drift(
    waited: dt.timedelta, fix: str | None
) -> None:
    """The excuse lasts REVIEW_WITHIN from the key's creation: a branch kept open (or pushed) for
    longer no longer hides the accepted key, and the fix is to merge it or abandon it."""
    store = [rec("a", ACTIVE), rec("x", ACCEPTED)]
    now = T0 + waited
    found = drift.differences(ENV, [rec("a", ACTIVE)], store, now, lambda r: "sealer/rotate-x")
    assert [(d.kind, d.key_id, d.fix) for d in found] == (
        [] if fix is None else [(drift.UNKNOWN_IN_STORE, "x", fix)]
    )


def test_a_store_time_without_an_offset_is_utc_not_a_crash() -> None:
    """A store (or anyone who writes it) may give `created` without an offset: it is read as
    UTC, as sealer writes it, so the bound on a rotation under review still holds (comparing it
    with an aware time was a TypeError: drift was never reported)."""
    data = {
        **rec("x", ACCEPTED).as_dict(),
        "created": "2025-12-01T00:00:00",
        "expires": "2026-04-01T00:00:00",
    }
    late = KeyRecord.from_dict(data)
    assert late.created == dt.datetime(2025, 12, 1, tzinfo=dt.timezone.utc)
    found = drift.differences(
        ENV, [rec("a", ACTIVE)], [rec("a", ACTIVE), late], NOW, lambda r: "sealer/rotate-x"
    )
    assert [(d.kind, d.key_id) for d in found] == [(drift.UNKNOWN_IN_STORE, "x")]


def test_status_reports_drift_with_its_fix(
    backend_repo: Path,
    keys: list[Any],
    vault_store: Any,
    kube_server: FakeKube,
    kubeconfig: Path,
    request: pytest.FixtureRequest,
) -> None:
    """`sealer status`: the cluster serves the ledger's keys, yet the store refuses one."""
    backend = Backend("vault", options_of("vault", vault_store))
    configure(backend_repo, backend)
    rotate(backend_repo)
    finish(backend_repo)
    kube_server.add_secret(
        ENV, "engine-api-key", {n: k.encode() for n, k in current_keys(backend_repo, keys).items()}
    )
    status = ["status", ENV, "--kubeconfig", str(kubeconfig)]
    assert json.loads(ok(sealer(backend_repo, *status, "-o", "json")).stdout)["drift"] == []
    admin = assert_one_active_per_name(store_of(backend_repo).list(ENV))["adminKey"]
    tamper(request, backend, admin.key_id, status=REVOKED)
    result = sealer(backend_repo, *status, "-o", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["in_sync"] is False
    assert [(d["kind"], d["key_id"], d["fix"]) for d in report["drift"]] == [
        (drift.NOT_VALID_IN_STORE, admin.key_id, f"sealer rotate {ENV} --key adminKey")
    ]
    text = sealer(backend_repo, *status).stdout
    assert f"drift not-valid-in-store {admin.key_id}: " in text
